"""Thin HTTP layer of the leaderboard (analysts) and of adjudication: the reviewer's queue and item page, and the
dashboard's adjudicated view (analysts).

The reviewer's pages are blinded like the judging page: items are addressed by their random token, lists are shown
on the annotators' sides, annotators are "Annotator 1, 2, ..." and no system name or side assignment is rendered.
"""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from retrieval.models import Dataset

from .adjudication import (AdjudicationError, adjudication_record, blinded_view, campaign_adjudicated_metrics,
                           item_reason, review_queue)
from .judging import COMMENT_MAX_CHARS
from .leaderboard import dataset_leaderboard
from .models import Adjudication, Campaign, Item, Judgment
from core.roles import ANALYST, REVIEWER, role_required

analyst_required = role_required(ANALYST, message="Only analysts can see the leaderboard and campaign results.")
reviewer_required = role_required(REVIEWER, message="Only reviewers can adjudicate disagreements.")
REASON_LABELS = dict(Adjudication.Reason.choices)


class AdjudicationForm(forms.Form):
    choice = forms.TypedChoiceField(choices=Judgment.Choice.choices, coerce=int, widget=forms.RadioSelect,
                                    error_messages={"required": "Choose one of the five answers."})
    comment = forms.CharField(required=False, max_length=COMMENT_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 2}))


# ---------------------------------------------------------------------------------------------- leaderboard


@analyst_required
def leaderboard_index(request):
    """The data sets that have campaigns, each linking to its leaderboard."""
    datasets = Dataset.objects.filter(retriever_versions__campaigns_as_a__isnull=False).distinct().order_by("name")
    return render(request, "sbs/leaderboard_index.html", {"datasets": datasets})


@analyst_required
def leaderboard(request, dataset: str):
    board = dataset_leaderboard(dataset=get_object_or_404(Dataset, name=dataset))
    return render(request, "sbs/leaderboard.html", {"board": board})


# ---------------------------------------------------------------------------------------------- adjudication


@reviewer_required
def review_queue_page(request):
    campaign = None
    if request.GET.get("campaign", "").isdigit():
        campaign = get_object_or_404(Campaign, pk=int(request.GET["campaign"]))
    entries = [{**entry, "reason_label": REASON_LABELS[entry["reason"]]}
               for entry in review_queue(reviewer=request.user, campaign=campaign, pending_only=False)]
    pending = [e for e in entries if e["adjudication"] is None]
    settled = [e for e in entries if e["adjudication"] is not None]
    return render(request, "sbs/review_queue.html", {"campaign": campaign, "pending": pending, "settled": settled})


@reviewer_required
def review_item(request, token: str):
    item = get_object_or_404(Item.objects.select_related("campaign"), token=token)
    reason = item_reason(item=item)
    existing = Adjudication.objects.filter(item=item).first()
    initial = {"choice": existing.choice, "comment": existing.comment} if existing else None
    form = AdjudicationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            adjudication_record(item=item, reviewer=request.user, choice=form.cleaned_data["choice"],
                                comment=form.cleaned_data["comment"])
        except AdjudicationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Final verdict recorded for “{item.query_text}”.")
            return redirect("sbs:review_queue")
    view = blinded_view(item=item, reason=reason)
    return render(request, "sbs/review_item.html", {
        "view": view, "form": form, "sides": [("Left", view["left"]), ("Right", view["right"])],
        "reason_label": REASON_LABELS.get(reason, ""), "in_queue": reason is not None,
        "scale": [(value, label, str(form["choice"].value()) == str(value))
                  for value, label in Judgment.Choice.choices],
        "judged_it": Judgment.objects.filter(item=item, annotator=request.user).exists(),
    })


@analyst_required
def adjudicated_panel(request, pk: int):
    """The dashboard's "raw majority vs adjudicated" section (loaded into the dashboard by htmx)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    return render(request, "sbs/adjudicated_panel.html", {
        "campaign": campaign, "view": campaign_adjudicated_metrics(campaign=campaign)})
