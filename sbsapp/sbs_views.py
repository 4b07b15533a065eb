"""Thin HTTP layer of the SBS app: campaign pages for admins, dashboards for analysts, the judging page.

The judging views never put a system name, a side assignment, a score or a database id into what they
render: items are addressed by their random token and products by their screen position.
"""
from __future__ import annotations

import functools
import uuid

from django.contrib import messages
from django.db import OperationalError, connection
from django.http import HttpResponse
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from retrieval.models import Query

from . import assignment, charts, selectors
from .dashboard_cache import dashboard_metrics
from .campaigns import (CampaignError, campaign_close, campaign_create, campaign_reopen,
                        item_set_gold)
from .generation import campaign_start_generation
from .forms import CampaignForm, GoldForm, JudgeForm, SkipForm
from jobs.services import BrokerUnavailable
from .judging import (UNDO_WINDOW, AlreadyJudged, ItemAlreadyFull, JudgingError, NotOpen, NotServed,
                      judgment_skip, judgment_submit, judgment_undo)
from .auto.agreement import predicted_outcomes
from .models import Campaign, Item, Judgment
from core.roles import ADMIN, ANALYST, ANNOTATOR, is_analyst, is_annotator, role_required

QUERY_TYPE_LABELS = dict(Query.QueryType.choices)
SCALE = [
    (-2, "1", "Left much better"),
    (-1, "2", "Left better"),
    (0, "3", "About the same"),
    (1, "4", "Right better"),
    (2, "5", "Right much better"),
]
REASON_KEYS = {"relevance": "r", "intent": "i", "diversity": "v", "missing": "m", "other": "o"}
ITEMS_PER_PAGE = 50
DESCRIPTION_TEASER = 160
ENTERED_SESSION_KEY = "sbs_entered"  # form values carried over a redirect when the browser runs no htmx
DATABASE_BUSY = ("The server is busy: other people are saving at this moment and it could not finish in time. "
                 "Please try again in a moment (an answer sent twice is stored once).")


annotator_required = role_required(ANNOTATOR, message="Only annotators can judge.")
analyst_required = role_required(ANALYST, message="Only analysts can see campaign results.")
admin_required = role_required(ADMIN, message="Only admins can manage campaigns.")


def answers_database_busy(view):
    """An SQLite write that waited its full busy timeout ("database is locked") becomes a 503 that says so in
    plain text, which the judging page shows (static/js/judge.js), instead of a bare server error. The write that
    timed out was rolled back with its transaction; an answer saved before a later step timed out stays saved, and
    sent again it is recognised by its submit key. Any other database error is still raised."""
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            return HttpResponse(DATABASE_BUSY, status=503, content_type="text/plain; charset=utf-8",
                                headers={"Retry-After": "5"})
    return wrapped


# ------------------------------------------------------------------------------------------------ campaigns


@role_required(ANNOTATOR, ANALYST, message="Your account has no SBS role yet; ask an admin.")
def campaign_list(request):
    user = request.user
    campaigns = list(selectors.campaigns_for_user(user=user))
    analyst = is_analyst(user)
    # A few queries for the whole list (no per-card metrics, no bootstrap): the dashboards have the rest.
    progress = selectors.campaigns_progress(campaigns=campaigns) if analyst else {}
    predictions = predicted_outcomes(campaigns=campaigns) if analyst else {}
    rows = [
        {
            "campaign": campaign,
            "progress": progress.get(campaign.pk),
            "prediction": predictions.get(campaign.pk),
            "mine": selectors.annotator_progress(campaign=campaign, annotator=user)
            if is_annotator(user) and campaign.status == Campaign.Status.ACTIVE else None,
        }
        for campaign in campaigns
    ]
    return render(request, "sbs/campaign_list.html", {"rows": rows})


@admin_required
def campaign_new(request):
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_create(config=form.cleaned_data["config"], user=request.user)
        except CampaignError as exc:
            form.add_error(exc.field, str(exc))
        else:
            if form.cleaned_data["generate_now"]:
                start_generation(request, campaign)
            return redirect("sbs:dashboard", pk=campaign.pk)
    return render(request, "sbs/campaign_form.html", {"form": form})


def start_generation(request, campaign: Campaign) -> None:
    try:
        campaign_start_generation(campaign=campaign, user=request.user)
        messages.success(request, "Freezing both result lists; the campaign opens when the job is done.")
    except (CampaignError, BrokerUnavailable) as exc:
        messages.error(request, str(exc))


@admin_required
@require_POST
def campaign_generate(request, pk: int):
    start_generation(request, get_object_or_404(Campaign, pk=pk))
    return redirect("sbs:dashboard", pk=pk)


@admin_required
@require_POST
def campaign_status(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    action = request.POST.get("action")
    try:
        if action == "close":
            campaign_close(campaign=campaign)
            messages.success(request, "Campaign closed: no more judgments are taken.")
        elif action == "reopen":
            campaign_reopen(campaign=campaign)
            messages.success(request, "Campaign reopened.")
        else:
            messages.error(request, "Unknown action.")
    except CampaignError as exc:
        messages.error(request, str(exc))
    return redirect("sbs:dashboard", pk=pk)


# ------------------------------------------------------------------------------------------------ dashboard


@analyst_required
def campaign_dashboard(request, pk: int):
    campaign = get_object_or_404(Campaign.objects.select_related("system_a", "system_b", "generation_job"), pk=pk)
    context = {"campaign": campaign, "page": query_table_page(request, campaign), "job": campaign.generation_job,
               **dashboard_context(campaign)}
    return render(request, "sbs/dashboard.html", context)


@analyst_required
def campaign_queries(request, pk: int):
    """One page of the dashboard's per-query table alone (its pager swaps it in without reloading the dashboard)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    return render(request, "sbs/_query_table.html", {"campaign": campaign, "page": query_table_page(request, campaign)})


def query_table_page(request, campaign: Campaign):
    return Paginator(selectors.item_rows(campaign=campaign), ITEMS_PER_PAGE).get_page(request.GET.get("page"))


@analyst_required
def campaign_dashboard_live(request, pk: int):
    """The numbers and charts part of the dashboard, re-polled by htmx while the campaign is open."""
    campaign = get_object_or_404(Campaign.objects.select_related("system_a", "system_b"), pk=pk)
    return render(request, "sbs/_dashboard_metrics.html", {"campaign": campaign, **dashboard_context(campaign)})


def dashboard_context(campaign: Campaign) -> dict:
    metrics = dashboard_metrics(campaign)  # shared by all viewers; recomputed once per change (dashboard_cache)
    return {
        "metrics": metrics,
        "ci_plot": charts.ci_plot(metrics),
        "segment_bars": charts.gsb_bars([{**metrics["overall"], "group": "overall"}] + metrics["by_segment"]),
        "type_bars": charts.gsb_bars(metrics["by_query_type"]),
    }


@analyst_required
def item_detail(request, token: str):
    item = get_object_or_404(Item.objects.select_related("campaign__system_a", "campaign__system_b"), token=token)
    judgments = list(selectors.item_judgments(item=item))
    mark_lists = {}
    for key, results in (("a", item.results_a), ("b", item.results_b)):
        mark_lists[key] = [
            {"p": product, "rank": rank + 1,
             "marks": [j.marks[str(product["product"])] for j in judgments if str(product["product"]) in j.marks]}
            for rank, product in enumerate(results)
        ]
    form = GoldForm(initial={"expected_preference": item.expected_preference})
    return render(request, "sbs/item_detail.html", {
        "item": item, "campaign": item.campaign, "judgments": judgments, "lists": mark_lists, "gold_form": form,
        "choice_labels": dict(Judgment.Choice.choices),
    })


@analyst_required
@require_POST
@answers_database_busy
def item_gold(request, token: str):
    item = get_object_or_404(Item, token=token)
    form = GoldForm(request.POST)
    if form.is_valid():
        try:
            item_set_gold(item=item, expected_preference=form.cleaned_data["expected_preference"])
            messages.success(request, "Saved.")
        except CampaignError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Choose an expected answer.")
    return redirect("sbs:item_detail", token=token)


# ------------------------------------------------------------------------------------------------- judging


@annotator_required
def judge(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    if campaign.status != Campaign.Status.ACTIVE:
        messages.info(request, "This campaign is not open for judging.")
        return redirect("sbs:campaign_list")
    item = assignment.next_item(campaign=campaign, annotator=request.user)
    carried = request.session.pop(ENTERED_SESSION_KEY, None)
    entered = carried["values"] if item is not None and carried and carried["token"] == item.token else None
    return render(request, "sbs/judge.html", {
        "campaign": campaign, **panel_context(campaign=campaign, user=request.user, item=item, entered=entered)})


@annotator_required
@require_POST
@answers_database_busy
def judge_submit(request, token: str):
    item = get_object_or_404(Item.objects.select_related("campaign"), token=token)
    form = JudgeForm(request.POST)
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return answer_with_item(request, item, error=error, entered=request.POST)
    try:
        judgment_submit(item=item, annotator=request.user, verdict=form.verdict(),
                        submit_key=form.cleaned_data["submit_key"])
    except (AlreadyJudged, ItemAlreadyFull, NotOpen, NotServed) as exc:
        return answer_with_next(request, item.campaign, notice=str(exc))
    except JudgingError as exc:
        return answer_with_item(request, item, error=str(exc), entered=request.POST)
    return answer_with_next(request, item.campaign, notice="Saved.", answered=True)


@annotator_required
@require_POST
@answers_database_busy
def judge_skip(request, token: str):
    item = get_object_or_404(Item.objects.select_related("campaign"), token=token)
    form = SkipForm(request.POST)
    if not form.is_valid():
        return answer_with_item(request, item, error="This form is out of date; please try again.",
                                entered=request.POST)
    try:
        judgment_skip(item=item, annotator=request.user, submit_key=form.cleaned_data["submit_key"],
                      comment=form.cleaned_data["comment"])
    except JudgingError as exc:
        return answer_with_next(request, item.campaign, notice=str(exc))
    return answer_with_next(request, item.campaign, notice="Skipped.", answered=True)


@annotator_required
@require_POST
@answers_database_busy
def judge_undo(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        item, undone = judgment_undo(campaign=campaign, annotator=request.user)
    except JudgingError as exc:
        return answer_with_next(request, campaign, notice=str(exc))
    return answer_with_item(request, item, notice="Your last answer was taken back; change it and submit again.",
                            entered=entered_from_judgment(item, undone))


def answer_with_next(request, campaign: Campaign, *, notice: str = "", answered: bool = False):
    if not request.htmx:
        if notice:
            messages.info(request, notice)
        return redirect("sbs:judge", pk=campaign.pk)
    # After an answer the annotator's reservation is gone (one per campaign): no need to look for it.
    item = assignment.next_item(campaign=campaign, annotator=request.user, holds_none=answered)
    return render(request, "sbs/_judge_panel.html",
                  panel_context(campaign=campaign, user=request.user, item=item, notice=notice))


def answer_with_item(request, item: Item, *, error: str = "", notice: str = "", entered=None):
    if not request.htmx:
        if error:
            messages.error(request, error)
        if notice:
            messages.info(request, notice)
        if entered:  # the judge page after the redirect shows what was entered (or undone) again
            request.session[ENTERED_SESSION_KEY] = {"token": item.token, "values": plain_values(entered)}
        return redirect("sbs:judge", pk=item.campaign_id)
    return render(request, "sbs/_judge_panel.html", panel_context(
        campaign=item.campaign, user=request.user, item=item, error=error, notice=notice, entered=entered))


def plain_values(entered) -> dict:
    """Form values as a JSON-safe dict (a POST's `reasons` keeps all its values) for the session."""
    if hasattr(entered, "getlist"):
        return {key: entered.getlist(key) if key == "reasons" else entered.get(key) for key in entered}
    return dict(entered)


def entered_from_judgment(item: Item, judgment: Judgment) -> dict:
    """Form values that show an undone judgment again (marks mapped back to screen positions)."""
    entered = {"choice": "" if judgment.choice is None else str(judgment.choice),
               "comment": judgment.comment, "reasons": judgment.reasons}
    left, right = item.lists_left_right()
    for side, shown in (("l", left), ("r", right)):
        for position, product in enumerate(shown):
            grade = judgment.marks.get(str(product["product"]))
            if grade is not None:
                entered[f"mark-{side}-{position}"] = str(grade)
    return entered


def panel_context(*, campaign: Campaign, user, item: Item | None, error: str = "", notice: str = "",
                  entered=None) -> dict:
    """Everything the judging panel shows, in screen terms only."""
    entered = entered or {}
    reasons_entered = entered.getlist("reasons") if hasattr(entered, "getlist") else entered.get("reasons", [])
    progress = selectors.annotator_progress(campaign=campaign, annotator=user)
    last = progress["last_at"]
    context = {
        "campaign": campaign,
        "item": item,
        "error": error,
        "notice": notice,
        "progress": progress,
        "can_undo": last is not None and timezone.now() - last <= UNDO_WINDOW,
        "undo_minutes": int(UNDO_WINDOW.total_seconds() // 60),
        "reason_keys": REASON_KEYS,
    }
    if item is None:
        return context
    left, right = item.lists_left_right()
    context.update({
        "submit_key": uuid.uuid4().hex,
        "query_type": QUERY_TYPE_LABELS.get(item.query_type, item.query_type),
        "sides": [
            {"name": "Left", "key": "l", "cards": cards(left, "l", entered)},
            {"name": "Right", "key": "r", "cards": cards(right, "r", entered)},
        ],
        "scale": [{"value": v, "key": key, "label": label, "checked": str(entered.get("choice", "")) == str(v)}
                  for v, key, label in SCALE],
        "reasons": [{"value": value, "label": label, "key": REASON_KEYS[value], "checked": value in reasons_entered}
                    for value, label in Judgment.Reason.choices],
        "comment": entered.get("comment", ""),
    })
    return context


def cards(results: list[dict], side: str, entered) -> list[dict]:
    """Product cards in screen order. Catalogue text was decoded at import; the template escapes it, so markup in
    a title is shown as text."""
    shown = []
    for position, product in enumerate(results):
        description = product.get("description") or ""
        shown.append({
            "position": position,
            "rank": position + 1,
            "field": f"mark-{side}-{position}",
            "mark": entered.get(f"mark-{side}-{position}", ""),
            "title": product["title"],
            "brand": product.get("brand") or "",
            "category": product.get("category") or "",
            "price": product.get("price"),
            "description": description,
            "teaser": description[:DESCRIPTION_TEASER].rstrip() + "…" if len(description) > DESCRIPTION_TEASER else "",
        })
    return shown


@annotator_required
def history(request):
    page = Paginator(selectors.annotator_history(annotator=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "sbs/history.html", {"page": page, "choice_labels": dict(Judgment.Choice.choices)})
