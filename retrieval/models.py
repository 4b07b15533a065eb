"""Catalogue state: the imported data set bundles (products, queries, logs, relevance labels)."""
from django.db import models
from django.db.models import Q


class Dataset(models.Model):
    """A bundle that rows came from; its natural key is its name."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    license = models.CharField(max_length=200, blank=True)
    grade_scale = models.JSONField(default=dict, blank=True)
    source_path = models.CharField(max_length=500, blank=True)
    source_format = models.CharField(max_length=16, default="bundle")
    imported_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="products")
    product_id = models.CharField(max_length=100)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=500, blank=True, help_text='Path such as "Home > Kitchen > Pans"')
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "product_id"], name="uniq_product_per_dataset")]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.title}"

    @property
    def department(self) -> str:
        return self.category.split(">")[0].strip() if self.category else ""


class Query(models.Model):
    class Segment(models.TextChoices):
        HEAD = "head"
        TORSO = "torso"
        TAIL = "tail"

    class QueryType(models.TextChoices):
        PLAIN = "plain"
        KNOWLEDGE = "knowledge"
        QA = "qa"
        NEGATION = "negation"
        ALTERNATIVE = "alternative"
        MULTI_INTENT = "multi_intent"
        TYPO = "typo"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="queries")
    query_id = models.CharField(max_length=100)
    text = models.CharField(max_length=500)
    frequency = models.PositiveIntegerField(null=True, blank=True)
    segment = models.CharField(max_length=8, choices=Segment.choices, default=Segment.TAIL)
    query_type = models.CharField(max_length=16, choices=QueryType.choices, default=QueryType.PLAIN)

    class Meta:
        verbose_name_plural = "queries"
        constraints = [models.UniqueConstraint(fields=["dataset", "query_id"], name="uniq_query_per_dataset")]
        indexes = [models.Index(fields=["dataset", "segment", "query_type"])]

    def __str__(self) -> str:
        return self.text


class Interaction(models.Model):
    """Behavioural log aggregated per (query, product) over the log period."""

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="interactions")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="interactions")
    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    purchases = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["query", "product"], name="uniq_interaction"),
            models.CheckConstraint(condition=Q(clicks__lte=models.F("impressions")) | Q(impressions=0),
                                   name="clicks_within_impressions"),
        ]


class Qrel(models.Model):
    """A graded relevance label. `test` labels are for evaluation only and never reach training."""

    class Split(models.TextChoices):
        TRAIN = "train"
        TEST = "test"

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="qrels")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="qrels")
    grade = models.PositiveSmallIntegerField()
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TEST)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["query", "product"], name="uniq_qrel"),
            models.CheckConstraint(condition=Q(grade__gte=0, grade__lte=3), name="grade_0_to_3"),
        ]
        indexes = [models.Index(fields=["split", "grade"])]


class RetrieverVersion(models.Model):
    """One built retriever: what it was trained on, how, and how well it does. Immutable once built."""

    class Kind(models.TextChoices):
        BM25 = "bm25"
        DENSE = "dense"
        HYBRID = "hybrid"

    class Status(models.TextChoices):
        DRAFT = "draft"
        TRAINING = "training"
        INDEXING = "indexing"
        READY = "ready"
        FAILED = "failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="retriever_versions")
    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    base_model = models.CharField(max_length=300, blank=True)
    # A hybrid fuses a BM25 and a dense version; a treatment records its baseline.
    components = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="used_by")
    manifest = models.JSONField(default=dict, blank=True, help_text="Training pairs by source (logs, synthetic, ...)")
    hyperparams = models.JSONField(default=dict, blank=True)
    seed = models.IntegerField(default=13)
    artifact_dir = models.CharField(max_length=500, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    built_at = models.DateTimeField(null=True, blank=True)
    # The latest job that built (trained/indexed) this version and the latest that evaluated it.
    build_job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    eval_job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
