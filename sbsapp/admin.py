"""Admin for SBS campaigns, items, judgments and reviewers' adjudications."""
from django.contrib import admin, messages

from .campaigns import CampaignError, campaign_close
from .generation import campaign_start_generation
from jobs.services import BrokerUnavailable
from .models import Adjudication, Campaign, Item, Judgment


# --- SBS campaigns (the staff pages under /sbs/ offer the same with a form and a progress bar) ---


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "system_a", "system_b", "sample_size", "judgments_per_item", "created_at")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("status", "generation_job", "created_by", "created_at", "updated_at", "closed_at")
    actions = ["start_generation", "close_campaigns"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Generate (freeze result lists) as a background job")
    def start_generation(self, request, queryset):
        for campaign in queryset:
            try:
                job = campaign_start_generation(campaign=campaign, user=request.user)
                self.message_user(request, f"{campaign}: generation started as job #{job.pk}.")
            except (CampaignError, BrokerUnavailable) as exc:
                self.message_user(request, f"{campaign}: {exc}", level=messages.ERROR)

    @admin.action(description="Close selected campaigns")
    def close_campaigns(self, request, queryset):
        for campaign in queryset:
            try:
                campaign_close(campaign=campaign)
            except CampaignError as exc:
                self.message_user(request, f"{campaign}: {exc}", level=messages.ERROR)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("query_text", "campaign", "kind", "segment", "query_type", "judgments_count", "identical",
                    "is_active")
    list_filter = ("campaign", "kind", "segment", "query_type", "identical", "is_active")
    search_fields = ("query_text", "token")
    readonly_fields = ("campaign", "token", "query", "query_text", "segment", "query_type", "b_on_left",
                       "results_a", "results_b", "aa_source", "identical", "judgments_count", "created_at")
    fields = readonly_fields + ("kind", "expected_preference", "is_active")

    def has_add_permission(self, request):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the app's own pages (judging, reviewing): shown, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    list_display = ("item", "campaign", "reason", "preference", "reviewer", "updated_at")
    list_filter = ("campaign", "reason")
    readonly_fields = [f.name for f in Adjudication._meta.fields]


@admin.register(Judgment)
class JudgmentAdmin(ReadOnlyAdmin):
    list_display = ("item", "annotator", "skipped", "choice", "preference", "time_on_item_ms", "created_at")
    list_filter = ("campaign", "skipped", "annotator")
    readonly_fields = [f.name for f in Judgment._meta.fields]
