"""Admin for jobs: read-only rows with cancel and retry actions."""
from django.contrib import admin, messages

from .models import Job
from .services import BrokerUnavailable, job_cancel, job_retry_many


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
        cancel_selected(self, request, queryset)

    @admin.action(description="Retry selected failed/cancelled jobs")
    def retry_jobs(self, request, queryset):
        retry_selected(self, request, queryset, sent_note="they resume from what they already wrote")


def cancel_selected(model_admin, request, queryset) -> None:
    """The admin's cancel action for any job list."""
    for job in queryset:
        job_cancel(job=job)
    model_admin.message_user(request, f"Cancellation requested for {queryset.count()} job(s).")


def retry_selected(model_admin, request, queryset, *, sent_note: str) -> None:
    """The admin's retry action for any job list: sends the failed/cancelled ones, names the ones it skipped."""
    try:
        sent, skipped = job_retry_many(queryset)
    except BrokerUnavailable as exc:
        model_admin.message_user(request, str(exc), level=messages.ERROR)
        return
    if sent:
        model_admin.message_user(request, f"{len(sent)} job(s) sent again; {sent_note}.")
    if skipped:
        model_admin.message_user(
            request, f"Skipped {len(skipped)} job(s) that are not failed or cancelled: "
                     + ", ".join(str(job) for job in skipped) + ".", level=messages.WARNING)
