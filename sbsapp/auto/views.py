"""Thin HTTP layer of the automatic SBS and the closed loop: start the judge run of a campaign, show its agreement
with the humans (a dashboard section, refreshed by htmx while the run is going), and retrain the relevance judge
from SBS marks with the old and new validation AUC side by side."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from .agreement import campaign_agreement, campaign_judges
from .forms import AutoSBSForm, RetrainJudgeForm, ready_judges
from .sbs import AutoSBSError, auto_sbs_start, latest_auto_job
from .closed_loop import JOB_KIND as RETRAIN_JOB_KIND
from .closed_loop import ClosedLoopError, closed_loop_jobs, closed_loop_start
from jobs.services import BrokerUnavailable
from jobs.models import Job
from sbsapp.models import Campaign
from core.roles import ADMIN, ANALYST, is_admin, role_required


analyst_required = role_required(ANALYST, message="Only analysts can see automatic SBS results.")
admin_required = role_required(ADMIN, message="Only admins can start automatic SBS runs and judge training.")


def auto_panel_context(*, campaign: Campaign, user, judge: str | None = None) -> dict:
    """Everything the dashboard's automatic SBS section shows."""
    admin = is_admin(user)
    # JSON `contains` is not available on SQLite: look through the recent retrainings instead.
    retrain_job = next((job for job in Job.objects.filter(kind=RETRAIN_JOB_KIND).order_by("-created_at")[:50]
                        if campaign.pk in job.config.get("campaign_ids", [])), None)
    return {
        "campaign": campaign,
        "agreement": campaign_agreement(campaign=campaign, judge=judge),
        "judges": campaign_judges(campaign=campaign),
        "auto_job": latest_auto_job(campaign=campaign),
        "retrain_job": retrain_job,
        "is_admin": admin,
        "auto_form": AutoSBSForm(campaign=campaign) if admin else None,
        "base_judges": ready_judges(dataset_id=campaign.system_a.dataset_id).order_by("-created_at") if admin else [],
    }


@analyst_required
def auto_sbs_panel(request, pk: int):
    """The dashboard section alone (htmx polls it while a run is going)."""
    campaign = get_object_or_404(Campaign.objects.select_related("system_a", "system_b"), pk=pk)
    return render(request, "sbs/_auto_sbs_panel.html",
                  auto_panel_context(campaign=campaign, user=request.user, judge=request.GET.get("judge")))


@admin_required
@require_POST
def auto_sbs_run(request, pk: int):
    campaign = get_object_or_404(Campaign.objects.select_related("system_a"), pk=pk)
    form = AutoSBSForm(request.POST, campaign=campaign)
    if not form.is_valid():
        messages.error(request, "Automatic SBS not started: " + " ".join(
            str(error) for errors in form.errors.values() for error in errors))
    else:
        try:
            job = auto_sbs_start(campaign=campaign, config=form.cleaned_data["config"], user=request.user)
            messages.success(request, f"Automatic SBS started (job #{job.pk}); the agreement table fills in below.")
        except (AutoSBSError, BrokerUnavailable) as exc:
            messages.error(request, str(exc))
    return redirect(reverse("sbs:dashboard", args=[pk]) + "#auto-sbs")


@admin_required
def judge_retrain(request):
    """Retrain the relevance judge from SBS marks; lists earlier retrainings with old and new AUC."""
    form = RetrainJudgeForm(request.POST or None, initial={
        "campaigns": request.GET.getlist("campaign"),
        "base_judge": ready_judges().order_by("-created_at").first(),
    })
    if request.method == "POST" and form.is_valid():
        try:
            job = closed_loop_start(config=form.cleaned_data["config"], user=request.user)
        except (ClosedLoopError, BrokerUnavailable) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Retraining the judge from SBS marks (job #{job.pk}).")
            return redirect("sbs_auto:judge_retrain")
    return render(request, "sbs/judge_retrain.html", {"form": form, "jobs": closed_loop_jobs()})
