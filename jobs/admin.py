"""Admin for jobs: read-only rows with cancel and retry actions."""
from django.contrib import admin, messages

from .models import Job
from .services import BrokerUnavailable, job_cancel, job_retry


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
