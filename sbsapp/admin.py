"""Admin for jobs (cancel/retry actions)."""
from django.contrib import admin, messages

from .campaigns import CampaignError, campaign_close, campaign_start_generation
from .jobs import BrokerUnavailable, job_cancel, job_retry
from .models import Campaign, Item, Job, Judgment


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "stage", "done", "total", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["cancel_jobs", "retry_jobs"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            job_cancel(job=job)
        self.message_user(request, f"Cancellation requested for {queryset.count()} job(s).")

    @admin.action(description="Retry selected failed/cancelled jobs")
    def retry_jobs(self, request, queryset):
        try:
            for job in queryset:
                job_retry(job=job)
        except BrokerUnavailable as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return
        self.message_user(request, "Jobs sent again.")


# --- API tokens: issue/revoke from the user list (the REST API's token auth) ---
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.admin import UserAdmin  # noqa: E402

from .api.tokens import token_issue, token_revoke  # noqa: E402

if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserWithApiTokenAdmin(UserAdmin):
    actions = ["issue_api_tokens", "rotate_api_tokens", "revoke_api_tokens"]

    def _issue(self, request, queryset, *, rotate: bool):
        for user in queryset:
            try:
                token, created = token_issue(user=user, rotate=rotate)
            except ValueError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                continue
            state = "new" if created else "existing"
            self.message_user(request, f"API token for {user.get_username()} ({state}): {token.key}")

    @admin.action(description="Issue API token (show existing)")
    def issue_api_tokens(self, request, queryset):
        self._issue(request, queryset, rotate=False)

    @admin.action(description="Rotate API token (old key stops working)")
    def rotate_api_tokens(self, request, queryset):
        self._issue(request, queryset, rotate=True)

    @admin.action(description="Revoke API token")
    def revoke_api_tokens(self, request, queryset):
        revoked = sum(token_revoke(user=user) for user in queryset)
        self.message_user(request, f"Revoked {revoked} API token(s).")


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


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ("item", "annotator", "skipped", "choice", "preference", "time_on_item_ms", "created_at")
    list_filter = ("campaign", "skipped", "annotator")
    readonly_fields = [f.name for f in Judgment._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
