"""Serializers: how API resources look on the wire (read shapes and validated inputs)."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Campaign, Item, Judgment
from ..selectors import campaign_progress, campaign_sequential


# ------------------------------------------------------------------------------------------- SBS campaigns


class CampaignSerializer(serializers.ModelSerializer):
    system_a = serializers.SlugRelatedField(slug_field="name", read_only=True, help_text="Baseline version.")
    system_b = serializers.SlugRelatedField(slug_field="name", read_only=True, help_text="Treatment version.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    generation_job = serializers.PrimaryKeyRelatedField(read_only=True, help_text="Job that froze the lists.")

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "status", "instructions", "system_a", "system_b", "segments", "query_types", "allocation",
            "sample_size",
            "seed", "k", "judgments_per_item", "control_share", "identical_lists", "reservation_minutes",
            "plan_min_delta", "plan_alpha", "plan_power", "plan", "auto_close", "closed_by_verdict",
            "generation_job", "created_by", "created_at", "closed_at",
        ]
        read_only_fields = fields


class CampaignDetailSerializer(CampaignSerializer):
    progress = serializers.SerializerMethodField(help_text="Judgments done out of those needed, items complete.")
    sequential = serializers.SerializerMethodField(
        help_text="The sequential verdict: anytime-valid confidence sequences for ΔGSB and the win rate over the "
                  "complete items, and whether the campaign can stop.")

    class Meta(CampaignSerializer.Meta):
        fields = CampaignSerializer.Meta.fields + ["progress", "sequential"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_progress(self, campaign) -> dict:
        return campaign_progress(campaign=campaign)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_sequential(self, campaign) -> dict:
        return campaign_sequential(campaign=campaign)


class ItemSerializer(serializers.ModelSerializer):
    """An item as an analyst sees it: unblinded (which side system B was shown on) with both frozen lists."""

    query_id = serializers.CharField(source="query.query_id", read_only=True, help_text="Catalogue query id.")

    class Meta:
        model = Item
        fields = [
            "id", "token", "campaign", "query_id", "query_text", "segment", "query_type", "kind", "is_active",
            "identical", "short_lists", "b_on_left", "aa_source", "expected_preference", "judgments_count", "results_a",
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
