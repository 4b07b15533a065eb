"""The campaign form's live plan: as the admin types the smallest ΔGSB worth detecting (and α, power, judgments per
item, the controls' share, system A), htmx posts the form here and swaps in the planned size (`_plan.html`). The wrapper that posts stays in the page
and queues the latest change while a request is out, so a fast typist's last change is the one answered."""
from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_POST

from core.roles import ADMIN, role_required

from .campaigns import CampaignError, campaign_plan_preview
from .forms import PlanForm


@role_required(ADMIN, message="Only admins can plan campaigns.")
@require_POST
def plan_preview(request):
    form = PlanForm(request.POST)
    plan, problem = None, ""
    if form.is_valid():
        try:
            plan = campaign_plan_preview(config=form.cleaned_data["config"])
        except CampaignError as exc:
            problem = str(exc)
    elif request.POST.get("plan_min_delta"):  # with no difference stated yet, the partial says how to get a plan
        problem = " ".join(f"{form.fields[name].label}: {error}" if name in form.fields else error
                           for name, errors in form.errors.items() for error in errors)
    # The section alone: it goes inside the form's live wrapper, which keeps listening for changes.
    return render(request, "sbs/_plan.html", {"plan": plan, "problem": problem})
