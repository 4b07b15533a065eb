"""Admin for jobs: read-only rows with cancel, retry and mark-failed actions."""
from django.contrib import admin, messages

from .models import Job, JobShard
from .services import BrokerUnavailable, NotStuck, job_cancel, job_mark_failed, job_retry_many


class JobShardInline(admin.TabularInline):
    """The chunks of a sharded job: which worker ran each, how often, and the last error."""

    model = JobShard
    fields = ("step", "index", "status", "attempts", "worker", "done", "total", "started_at", "finished_at", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "stage", "done", "total", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in Job._meta.fields]
    inlines = [JobShardInline]
    actions = ["cancel_jobs", "retry_jobs", "mark_jobs_failed"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        cancel_selected(self, request, queryset)

    @admin.action(description="Retry selected failed/cancelled jobs")
    def retry_jobs(self, request, queryset):
        retry_selected(self, request, queryset, sent_note="they resume from what they already wrote")

    @admin.action(description="Mark selected stuck jobs failed (queued with no worker, or their worker died)")
    def mark_jobs_failed(self, request, queryset):
        mark_failed_selected(self, request, queryset)


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


def mark_failed_selected(model_admin, request, queryset) -> None:
    """The admin's mark-failed action for any job list: ends the stuck ones, names the live or finished ones."""
    ended, refused = [], []
    for job in queryset:
        try:
            ended.append(job_mark_failed(job=job, user=request.user))
        except NotStuck as exc:
            refused.append(str(exc))
    if ended:
        model_admin.message_user(request, f"{len(ended)} stuck job(s) marked failed; what they held is free again "
                                          "and Retry resumes them.")
    for message in refused:
        model_admin.message_user(request, message, level=messages.WARNING)
