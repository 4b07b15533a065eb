"""Admin for synthesis: start a synthesis job or a judge training from "Add", review pairs and rewrites."""
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from jobs.admin import cancel_selected, mark_failed_selected, retry_selected
from jobs.services import BrokerUnavailable

from .forms import JudgeTrainingForm, SynthesisJobForm
from .judging.training import judge_training_start
from .models import (
    JudgeVersion,
    MinedQuery,
    RewriteCandidate,
    SynthesisJob,
    SyntheticPair,
)
from .services import synthesis_job_start


def start_from_form(model_admin, request, form, *, start, title: str):
    """An admin add view that starts a job: a valid POST calls `start(config)`, which returns the message to show
    and where to go next; otherwise (or when the start is refused) the form is shown again with the reason."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    if request.method == "POST" and form.is_valid():
        try:
            message, next_page = start(form.cleaned_data["config"])
        except (ValueError, BrokerUnavailable) as exc:
            form.add_error(None, str(exc))
        else:
            model_admin.message_user(request, message, messages.SUCCESS)
            return next_page
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
    actions = ("cancel_jobs", "resume_jobs", "mark_jobs_failed")

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
        def start(config):
            job = synthesis_job_start(config=config, user=request.user)
            return f"Synthesis job #{job.pk} started.", redirect("synthesis_job", pk=job.pk)

        return start_from_form(self, request, SynthesisJobForm(request.POST or None), start=start,
                               title="Start a synthesis job")

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        cancel_selected(self, request, queryset)

    @admin.action(description="Mark selected stuck jobs failed")
    def mark_jobs_failed(self, request, queryset):
        mark_failed_selected(self, request, queryset)

    @admin.action(description="Resume selected failed or cancelled jobs")
    def resume_jobs(self, request, queryset):
        retry_selected(self, request, queryset, sent_note="done queries are skipped")


@admin.register(JudgeVersion)
class JudgeVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset", "status", "validation_accuracy", "validation_auc", "created_at")
    list_filter = ("status", "dataset")
    readonly_fields = ("dataset", "name", "base_model", "artifact_path", "manifest", "hyperparams", "metrics",
                       "status", "job", "created_by", "created_at")

    def add_view(self, request, form_url="", extra_context=None):
        def start(config):
            version = judge_training_start(config=config, user=request.user)
            return f"Training judge {version.name}.", redirect("admin:synthesis_judgeversion_changelist")

        return start_from_form(self, request, JudgeTrainingForm(request.POST or None), start=start,
                               title="Train a relevance judge")


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


# --- rewriter versions (rewriter training: SFT then GRPO) ---------------------------------------------------------

from .models import RewriterVersion  # noqa: E402  (this section was added after the ones above)


def reward_curve_svg(curve: list[dict], *, width: int = 360, height: int = 120) -> str:
    """An inline SVG of a version's per-step curves: the combined reward and each component (all in [0, 1]);
    for an SFT version, the loss scaled to its own range."""
    from django.utils.html import escape

    if not curve:
        return "—"
    series = [key for key in ("combined", "relevance", "alignment", "diversity", "incremental", "format")
              if any(key in point for point in curve)] or ["loss"]
    colours = ["#000", "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e"]
    steps = [point["step"] for point in curve]
    low_step, high_step = min(steps), max(steps) or 1
    lines, legend = [], []
    for key, colour in zip(series, colours):
        values = [(point["step"], point[key]) for point in curve if key in point]
        low, high = (0.0, 1.0) if key != "loss" else (min(v for _, v in values), max(v for _, v in values))
        span, step_span = (high - low) or 1.0, (high_step - low_step) or 1
        points = " ".join(f"{(s - low_step) / step_span * (width - 10) + 5:.1f},"
                          f"{height - 5 - (v - low) / span * (height - 10):.1f}" for s, v in values)
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        legend.append(f'<span style="color:{colour}">{escape(key)} {values[-1][1]:.3f}</span>')
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="reward curves" '
            f'style="border:1px solid #ccc">{"".join(lines)}</svg><div>{" · ".join(legend)} '
            f"(last of {len(curve)} steps)</div>")


@admin.register(RewriterVersion)
class RewriterVersionAdmin(admin.ModelAdmin):
    """Trained rewriters: "Add" starts a training job (SFT then GRPO); each row shows its curves and evaluation."""

    list_display = ("name", "dataset", "method", "status", "parent", "final_reward", "eval_combined",
                    "eval_pairs_per_query", "trained_at")
    list_filter = ("method", "status", "dataset")
    search_fields = ("name",)
    readonly_fields = ("name", "dataset", "method", "parent", "base_model", "status", "error", "artifact_path",
                       "curves", "evaluation", "manifest", "reward_weights", "hyperparams", "metrics", "job_link",
                       "created_by", "created_at", "trained_at")
    exclude = ("reward_curves", "job")
    actions = ("continue_with_grpo", "synthesise_with")

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    @admin.action(description="Start a synthesis job with the selected rewriter (settings of the latest job)")
    def synthesise_with(self, request, queryset):
        from .rewriter.jobs import synthesis_with_rewriter_start

        for version in queryset:
            try:
                job = synthesis_with_rewriter_start(version=version, user=request.user)
            except (ValueError, BrokerUnavailable) as exc:
                self.message_user(request, f"{version.name}: {exc}", messages.ERROR)
            else:
                self.message_user(request, format_html('{}: <a href="{}">synthesis job #{}</a> started.',
                                                       version.name, reverse("synthesis_job", args=[job.pk]), job.pk),
                                  messages.SUCCESS)

    @admin.display(description="final reward")
    def final_reward(self, version):
        last = (version.reward_curves or [{}])[-1]
        value = last.get("combined", last.get("loss"))
        return "—" if value is None else f"{value:.3f}" + (" (loss)" if "combined" not in last else "")

    @admin.display(description="eval combined")
    def eval_combined(self, version):
        value = version.metrics.get("eval", {}).get("rewards", {}).get("combined")
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description="eval pairs/query")
    def eval_pairs_per_query(self, version):
        return version.metrics.get("eval", {}).get("pairs_per_query", "—")

    @admin.display(description="reward curves")
    def curves(self, version):
        from django.utils.safestring import mark_safe

        return mark_safe(reward_curve_svg(version.reward_curves or []))  # built from numbers and escaped names

    @admin.display(description="evaluation on held-out tail queries")
    def evaluation(self, version):
        found = (version.metrics or {}).get("eval")
        if not found:
            return "—"
        rows = [(f"reward: {name}", value) for name, value in found["rewards"].items()] + [
            (label, found.get(key)) for key, label in (
                ("rewrites_per_query", "rewrites per query"),
                ("new_relevant_share", "queries with a new relevant product (judge)"),
                ("labelled_new_relevant_share", "queries with a new relevant product (labels)"),
                ("pairs_per_query", "kept pairs per query"),
                ("incremental_pairs_per_query", "incremental pairs per query"))]
        table = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>",
                                 ((label, "—" if value is None else value) for label, value in rows))
        examples = format_html_join("", "<li>{} → {}</li>", ((example["query"], " | ".join(example["rewrites"]))
                                                             for example in found.get("examples", [])))
        return format_html("<p>{} queries, {} candidates each</p><table>{}</table><ul>{}</ul>",
                           found.get("queries"), found.get("candidates"), table, examples)

    @admin.display(description="job")
    def job_link(self, version):
        if version.job_id is None:
            return "—"
        return format_html('<a href="{}">Job #{} (progress and log)</a>', reverse("job_detail", args=[version.job_id]),
                           version.job_id)

    def add_view(self, request, form_url="", extra_context=None):
        from .rewriter.forms import RewriterTrainingForm
        from .rewriter.jobs import rewriter_training_start

        def start(config):
            job = rewriter_training_start(config=config, user=request.user)
            return f"Rewriter training job #{job.pk} started.", redirect("job_detail", pk=job.pk)

        return start_from_form(self, request, RewriterTrainingForm(request.POST or None), start=start,
                               title="Train a rewriter (SFT then GRPO)")

    @admin.action(description="Train GRPO further from the selected versions (same settings as their job)")
    def continue_with_grpo(self, request, queryset):
        from django.utils import timezone

        from .rewriter.jobs import rewriter_training_start

        started = []
        for version in queryset:
            config = {key: value for key, value in ((version.job.config if version.job else {}) or {}).items()
                      if key not in ("parent_version_id", "base_model", "seed_sources", "sft")}
            config.update({"dataset_id": version.dataset_id, "methods": ["grpo"], "parent_version_id": version.pk,
                           "name": f"{version.name[:60]}-{timezone.now():%m%d%H%M%S}"})
            try:
                started.append(rewriter_training_start(config=config, user=request.user).pk)
            except (ValueError, BrokerUnavailable) as exc:
                self.message_user(request, f"{version.name}: {exc}", messages.ERROR)
        if started:
            self.message_user(request, f"Started GRPO job(s) {', '.join(f'#{pk}' for pk in started)}.",
                              messages.SUCCESS)
