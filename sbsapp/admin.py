"""Admin for jobs (cancel/retry actions)."""
from django.contrib import admin, messages

from .jobs import BrokerUnavailable, job_cancel, job_retry
from .models import Job


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
