"""Serializers: how API resources look on the wire (read shapes and validated inputs)."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from retrieval.models import Query, RetrieverVersion

from ..models import Campaign, Item, Job, Judgment
from ..selectors import campaign_progress


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    percent = serializers.IntegerField(read_only=True, help_text="Progress of the current stage, 0-100.")
    is_active = serializers.BooleanField(read_only=True, help_text="Queued or running.")

    class Meta:
        model = Job
        fields = [
            "id", "kind", "status", "stage", "done", "total", "percent", "is_active", "counts", "config", "result",
            "error", "log_tail", "cancel_requested", "attempts", "queue", "created_by", "created_at",
            "started_at", "finished_at", "heartbeat_at",
        ]
        read_only_fields = fields


class RetrieverVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    components = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True,
                                              help_text="Versions this one fuses or was trained against.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RetrieverVersion
        fields = [
            "id", "name", "dataset", "kind", "status", "base_model", "components", "manifest", "hyperparams",
            "seed", "metrics", "error", "build_job", "eval_job", "created_by", "created_at", "built_at",
        ]
        read_only_fields = fields


# ------------------------------------------------------------------------------------------- SBS campaigns


class CampaignSerializer(serializers.ModelSerializer):
    system_a = serializers.SlugRelatedField(slug_field="name", read_only=True, help_text="Baseline version.")
    system_b = serializers.SlugRelatedField(slug_field="name", read_only=True, help_text="Treatment version.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    generation_job = serializers.PrimaryKeyRelatedField(read_only=True, help_text="Job that froze the lists.")

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "status", "instructions", "system_a", "system_b", "segments", "query_types", "sample_size",
            "seed", "k", "judgments_per_item", "control_share", "identical_lists", "reservation_minutes",
            "generation_job", "created_by", "created_at", "closed_at",
        ]
        read_only_fields = fields


class CampaignDetailSerializer(CampaignSerializer):
    progress = serializers.SerializerMethodField(help_text="Judgments done out of those needed, items complete.")

    class Meta(CampaignSerializer.Meta):
        fields = CampaignSerializer.Meta.fields + ["progress"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_progress(self, campaign) -> dict:
        return campaign_progress(campaign=campaign)


class CampaignCreateSerializer(serializers.Serializer):
    """What an admin sends to create a campaign (and, by default, start freezing its result lists)."""

    name = serializers.CharField(max_length=200)
    system_a = serializers.SlugRelatedField(slug_field="name", queryset=RetrieverVersion.objects.all(),
                                            help_text="Name of the baseline retriever version.")
    system_b = serializers.SlugRelatedField(slug_field="name", queryset=RetrieverVersion.objects.all(),
                                            help_text="Name of the treatment retriever version.")
    instructions = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    segments = serializers.ListField(child=serializers.ChoiceField(choices=Query.Segment.choices), required=False,
                                     default=list, help_text="Segments to sample (empty: all).")
    query_types = serializers.ListField(child=serializers.ChoiceField(choices=Query.QueryType.choices),
                                        required=False, default=list, help_text="Query types to sample (empty: all).")
    sample_size = serializers.IntegerField(min_value=1, max_value=100000, default=100)
    seed = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1, default=13)
    k = serializers.IntegerField(min_value=1, max_value=100, default=10, help_text="Results per side.")
    judgments_per_item = serializers.IntegerField(min_value=1, max_value=50, default=3)
    control_share = serializers.FloatField(min_value=0.0, max_value=0.5, default=0.1)
    identical_lists = serializers.ChoiceField(choices=Campaign.IdenticalLists.choices,
                                              default=Campaign.IdenticalLists.CONTROL)
    reservation_minutes = serializers.IntegerField(min_value=1, max_value=1440, default=10)
    generate = serializers.BooleanField(default=True, help_text="Start freezing the result lists right away "
                                                                "(a background job); false leaves a draft.")


class ItemSerializer(serializers.ModelSerializer):
    """An item as an analyst sees it: unblinded (which side system B was shown on) with both frozen lists."""

    query_id = serializers.CharField(source="query.query_id", read_only=True, help_text="Catalogue query id.")

    class Meta:
        model = Item
        fields = [
            "id", "token", "campaign", "query_id", "query_text", "segment", "query_type", "kind", "is_active",
            "identical", "b_on_left", "aa_source", "expected_preference", "judgments_count", "results_a",
            "results_b", "created_at",
        ]
        read_only_fields = fields


class JudgmentSerializer(serializers.ModelSerializer):
    """A judgment as an analyst sees it: unblinded, with the preference toward system B."""

    campaign = serializers.PrimaryKeyRelatedField(read_only=True)
    annotator = serializers.SlugRelatedField(slug_field="username", read_only=True)
    query = serializers.CharField(source="item.query_text", read_only=True)
    query_id = serializers.CharField(source="item.query.query_id", read_only=True)
    segment = serializers.CharField(source="item.segment", read_only=True)
    query_type = serializers.CharField(source="item.query_type", read_only=True)
    item_kind = serializers.CharField(source="item.kind", read_only=True)
    left_system = serializers.SerializerMethodField(help_text="Version shown on the left.")
    right_system = serializers.SerializerMethodField(help_text="Version shown on the right.")

    class Meta:
        model = Judgment
        fields = [
            "id", "campaign", "item", "item_kind", "query_id", "query", "segment", "query_type", "annotator",
            "skipped", "choice", "preference", "b_on_left", "left_system", "right_system", "marks", "reasons",
            "comment", "time_on_item_ms", "created_at",
        ]
        read_only_fields = fields

    def get_left_system(self, judgment) -> str:
        campaign = judgment.campaign
        return (campaign.system_b if judgment.b_on_left else campaign.system_a).name

    def get_right_system(self, judgment) -> str:
        campaign = judgment.campaign
        return (campaign.system_a if judgment.b_on_left else campaign.system_b).name


class OwnJudgmentSerializer(serializers.ModelSerializer):
    """An annotator's own judgment, in screen terms only: nothing here tells which system was on which side."""

    campaign = serializers.CharField(source="campaign.name", read_only=True)
    query = serializers.CharField(source="item.query_text", read_only=True)

    class Meta:
        model = Judgment
        fields = ["id", "campaign", "query", "skipped", "choice", "reasons", "comment", "time_on_item_ms",
                  "created_at"]
        read_only_fields = fields


# ------------------------------------------------------------------------------------------------ search


class SearchQuerySerializer(serializers.Serializer):
    version = serializers.CharField(max_length=100, help_text="Retriever version name (or id).")
    q = serializers.CharField(max_length=500, trim_whitespace=True, help_text="Query text.")
    k = serializers.IntegerField(min_value=1, max_value=100, default=10, help_text="How many products (1-100).")

    def validate_version(self, value: str) -> RetrieverVersion:
        versions = RetrieverVersion.objects.select_related("dataset")
        found = versions.filter(name=value).first()
        if found is None and value.isdigit() and len(value) < 19:
            found = versions.filter(pk=int(value)).first()
        if found is None:
            raise serializers.ValidationError(f"No retriever version named {value!r}.")
        return found

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields) - {"format"})
        if unknown:
            raise serializers.ValidationError({name: ["Unknown query parameter. Allowed: k, q, version"]
                                               for name in unknown})
        return attrs


class SearchHitSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField()
    product_id = serializers.CharField(help_text="Catalogue product id.")
    title = serializers.CharField()
    brand = serializers.CharField()
    category = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)


class SearchResultSerializer(serializers.Serializer):
    version = serializers.CharField()
    query = serializers.CharField()
    k = serializers.IntegerField()
    hits = SearchHitSerializer(many=True)


# ------------------------------------------------------------------------------------------------ synthesis


class SynthesisJobSerializer(JobSerializer):
    """A synthesis job with its live counts (queries done, rewrites, kept and incremental pairs)."""

    synthesis = serializers.SerializerMethodField(help_text="Counts from the rows the job has written so far.")

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["synthesis"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_synthesis(self, job) -> dict:
        from synthesis.selectors import synthesis_counts

        return synthesis_counts(job=job)


class SyntheticPairSerializer(serializers.Serializer):
    """A curated (original query, product) pair and its provenance."""

    id = serializers.IntegerField()
    job = serializers.IntegerField(source="job_id")
    query_id = serializers.CharField(source="query.query_id", help_text="Catalogue query id.")
    query = serializers.CharField(source="query.text", help_text="The ORIGINAL query text.")
    product_id = serializers.CharField(source="product.product_id", help_text="Catalogue product id.")
    product_title = serializers.CharField(source="product.title")
    judge_score = serializers.FloatField(help_text="Relevance to the original query, 0..1.")
    incremental = serializers.BooleanField(help_text="Not in the baseline's top-K for the original query.")
    found_by_original = serializers.BooleanField()
    rewrites = serializers.ListField(child=serializers.CharField(), help_text="Rewrites whose retrieval found it.")
    created_at = serializers.DateTimeField()


class SynthesisStartSerializer(serializers.Serializer):
    """A synthesis job's config: what to mine, how to rewrite, retrieve and judge. Omitted options take the
    defaults of `synthesis.services.SynthesisConfig`; the stored config (with defaults) is the job's `config`."""

    dataset_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    retriever_version_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                                    help_text="The strong offline retriever (e.g. hybrid, large K).")
    baseline_version_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                                   help_text="The online baseline: decides the incremental flag.")
    judge_backend = serializers.ChoiceField(choices=["cross-encoder", "llm"], required=False)
    judge_version_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True,
                                                help_text="A ready cross-encoder judge (needed for that backend).")
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    rewriter_backend = serializers.ChoiceField(choices=["hf-local", "openai"], required=False)
    rewriter_model = serializers.CharField(max_length=500, required=False, allow_blank=True)
    candidates = serializers.IntegerField(min_value=1, max_value=16, required=False, help_text="Rewrites per query.")
    retrieve_k = serializers.IntegerField(min_value=1, max_value=2000, required=False)
    baseline_k = serializers.IntegerField(min_value=1, max_value=2000, required=False)
    max_pairs_per_query = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    drop_logged = serializers.BooleanField(required=False)
    segments = serializers.ListField(child=serializers.ChoiceField(choices=Query.Segment.choices), required=False)
    max_clicks = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, allow_null=True)
    types = serializers.ListField(child=serializers.ChoiceField(choices=Query.QueryType.choices), required=False)
    max_queries = serializers.IntegerField(min_value=1, max_value=10**7, required=False, allow_null=True)
    llm_tagger = serializers.BooleanField(required=False)
    chunk_size = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    batch_size = serializers.IntegerField(min_value=1, max_value=4096, required=False)
    device = serializers.CharField(max_length=32, required=False)
    seed = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1, required=False)

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown synthesis option."] for name in unknown})
        return attrs
