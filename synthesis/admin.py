"""Admin for synthesis: start a synthesis job or a judge training from "Add", review pairs and rewrites."""
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from sbsapp.jobs import BrokerUnavailable, job_cancel, job_retry

from .forms import JudgeTrainingForm, SynthesisJobForm
from .models import JudgeVersion, MinedQuery, RewriteCandidate, SynthesisJob, SyntheticPair
from .services import judge_version_start, synthesis_job_start


def render_start_form(model_admin, request, form, title: str):
    context = {**model_admin.admin_site.each_context(request), "form": form, "title": title,
               "opts": model_admin.model._meta, "has_view_permission": True}
    return TemplateResponse(request, "synthesis/admin_start.html", context)


@admin.register(SynthesisJob)
class SynthesisJobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "stage", "progress_bar", "kept_pairs", "created_by", "created_at")
    list_filter = ("status",)
    readonly_fields = ("status", "stage", "done", "total", "counts", "config", "result", "log_tail", "error",
                       "attempts", "created_by", "created_at", "started_at", "finished_at", "page_link")
    exclude = ("kind", "task_name", "queue", "cancel_requested", "heartbeat_at")
    actions = ("cancel_jobs", "resume_jobs")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=SynthesisJob.KIND)

    @admin.display(description="progress")
    def progress_bar(self, job):
        return format_html('<progress max="100" value="{}"></progress> {}%', job.percent, job.percent)

    @admin.display(description="kept pairs")
    def kept_pairs(self, job):
        return job.counts.get("kept_pairs", "—")

    @admin.display(description="page")
    def page_link(self, job):
        return format_html('<a href="{}">Live progress, statistics and sample</a>', reverse("synthesis_job", args=[job.pk]))

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SynthesisJobForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = synthesis_job_start(config=form.cleaned_data["config"], user=request.user)
            except (ValueError, BrokerUnavailable) as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Synthesis job #{job.pk} started.", messages.SUCCESS)
                return redirect("synthesis_job", pk=job.pk)
        return render_start_form(self, request, form, "Start a synthesis job")

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            job_cancel(job=job)
        self.message_user(request, f"Cancellation requested for {queryset.count()} job(s).")

    @admin.action(description="Resume selected failed or cancelled jobs")
    def resume_jobs(self, request, queryset):
        try:
            for job in queryset:
                job_retry(job=job)
        except BrokerUnavailable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, "Resumed; done queries are skipped.")


@admin.register(JudgeVersion)
class JudgeVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset", "status", "validation_accuracy", "validation_auc", "created_at")
    list_filter = ("status", "dataset")
    readonly_fields = ("dataset", "name", "base_model", "artifact_path", "manifest", "hyperparams", "metrics",
                       "status", "job", "created_by", "created_at")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = JudgeTrainingForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                version = judge_version_start(dataset=data["dataset"], name=data.get("name") or "",
                                              epochs=data["epochs"], max_examples=data.get("max_examples"),
                                              negatives_per_positive=data["negatives_per_positive"], user=request.user)
            except (ValueError, BrokerUnavailable) as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Training judge {version.name}.", messages.SUCCESS)
                return redirect("admin:synthesis_judgeversion_changelist")
        return render_start_form(self, request, form, "Train a relevance judge")


@admin.register(SyntheticPair)
class SyntheticPairAdmin(admin.ModelAdmin):
    list_display = ("query", "product", "judge_score", "incremental", "found_by_original", "job")
    list_filter = ("incremental", "found_by_original", "job")
    search_fields = ("query__text", "product__title")
    raw_id_fields = ("query", "product", "job")
    list_select_related = ("query", "product")


@admin.register(RewriteCandidate)
class RewriteCandidateAdmin(admin.ModelAdmin):
    list_display = ("query", "text", "retrieved", "kept", "job")
    list_filter = ("job",)
    search_fields = ("query__text", "text")
    raw_id_fields = ("query", "job")
    list_select_related = ("query",)


@admin.register(MinedQuery)
class MinedQueryAdmin(admin.ModelAdmin):
    list_display = ("query", "job", "clicks", "type_names", "candidates", "done_at")
    list_filter = ("job",)
    search_fields = ("query__text",)
    raw_id_fields = ("query", "job")
    list_select_related = ("query",)
