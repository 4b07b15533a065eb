"""Adjudication: items whose annotators disagree go to a review queue, where a reviewer records a final verdict that
the "adjudicated" view of the metrics uses beside the raw majority view.

Definitions (judgments are the non-skipped ones; a verdict is the sign of the preference toward B: G, S or B):
- An item's raw majority verdict is the verdict that MORE THAN HALF of its judgments give (none otherwise).
- A regular item is SPLIT when it has at least two judgments and either both sides were preferred by someone (at
  least one G and one B judgment), or no verdict has a majority (e.g. one G, one S, one B; or one G and one S).
- A control FAILED when any of its judgments is wrong: an A-vs-A item not judged "about the same", or a gold item
  judged against the sign of its expected answer (`metrics.control_correct`).
- Only items whose judging is over enter the queue: active items with all their judgments, or any active item of
  a closed campaign; so an adjudication never goes stale under later judgments. A reviewer is not offered, and
  cannot adjudicate, an item they judged themselves.
- The reviewer is blinded as annotators are: they see the item's two lists on the annotators' sides, the
  annotators' answers in screen terms with reasons and comments under "Annotator 1, 2, ..." (names hidden), and
  answer on the same 5-point scale; the answer is turned toward B exactly as a judgment's is.

Metrics: `adjudicated_view(ratings, finals)` works per item on regular items. The raw view counts each item's raw
majority verdict (items without one are "unresolved"); the adjudicated view counts the reviewer's final verdict
where there is one and the raw majority elsewhere. Each gives G/S/B over items, ΔGSB with its bootstrap CI and
the sign test (`metrics.gsb_summary` on one rating per item). The judgment-level metrics of the dashboard never
read adjudications, and nothing here changes them.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from django.db import transaction
from django.db.models import F, Q

from .judging import COMMENT_MAX_CHARS, preference_toward_b
from .metrics import Rating, control_correct, gsb_summary, sign
from .models import Adjudication, Campaign, Item, Judgment
from .selectors import campaign_ratings

SCREEN_LABELS = dict(Judgment.Choice.choices)
VERDICT_NAMES = {1: "B better", 0: "same", -1: "A better"}


class AdjudicationError(ValueError):
    """An adjudication that cannot be recorded; the message is shown to the reviewer as is."""


# ------------------------------------------------------------------------------------------------------ rules


def strict_majority(preferences: list[int]) -> int | None:
    """The verdict (1, 0, -1) more than half of `preferences` give, or None."""
    if not preferences:
        return None
    verdict, count = Counter(sign(p) for p in preferences).most_common(1)[0]
    return verdict if 2 * count > len(preferences) else None


def disagreement(*, kind: str, expected: int | None, preferences: list[int]) -> str | None:
    """Why an item goes to the review queue (`Adjudication.Reason`), or None when it does not."""
    if kind == Item.Kind.REGULAR:
        verdicts = {sign(p) for p in preferences}
        if len(preferences) >= 2 and ({1, -1} <= verdicts or strict_majority(preferences) is None):
            return Adjudication.Reason.SPLIT
        return None
    checks = [control_correct(Rating(item=0, annotator=0, preference=p, choice=0, kind=kind, expected=expected))
              for p in preferences]
    return Adjudication.Reason.FAILED_CONTROL if False in checks else None


# ------------------------------------------------------------------------------------------------------ queue


def finished_items(*, campaign: Campaign | None = None):
    """Active items whose judging is over: all their judgments in, or their campaign closed."""
    items = Item.objects.filter(is_active=True, judgments_count__gte=1).filter(
        Q(judgments_count__gte=F("campaign__judgments_per_item")) | Q(campaign__status=Campaign.Status.CLOSED))
    return items.filter(campaign=campaign) if campaign is not None else items


def review_queue(*, reviewer=None, campaign: Campaign | None = None, pending_only: bool = True) -> list[dict]:
    """The items to adjudicate, oldest campaign first: {"item", "reason", "judgments", "adjudication"} each.
    `reviewer`: leave out the items they judged. `pending_only=False` keeps those already adjudicated."""
    items = finished_items(campaign=campaign).select_related("campaign").defer("results_a", "results_b")
    preferences: dict[int, list[int]] = defaultdict(list)
    judged_by_reviewer: set[int] = set()
    for item_id, annotator_id, preference in Judgment.objects.filter(
            item__in=items, skipped=False).values_list("item_id", "annotator_id", "preference"):
        preferences[item_id].append(preference)
        if reviewer is not None and annotator_id == reviewer.pk:
            judged_by_reviewer.add(item_id)
    adjudications = {a.item_id: a for a in Adjudication.objects.filter(item__in=items).select_related("reviewer")}
    entries = []
    for item in items.order_by("campaign__created_at", "campaign_id", "query_text", "pk"):
        reason = disagreement(kind=item.kind, expected=item.expected_preference,
                              preferences=preferences.get(item.pk, []))
        if reason is None or item.pk in judged_by_reviewer:
            continue
        if pending_only and item.pk in adjudications:
            continue
        entries.append({"item": item, "reason": reason, "judgments": len(preferences.get(item.pk, [])),
                        "adjudication": adjudications.get(item.pk)})
    return entries


def item_reason(*, item: Item) -> str | None:
    """Why this one item is in the queue (None: it is not, or its judging is not over)."""
    if not finished_items(campaign=item.campaign).filter(pk=item.pk).exists():
        return None
    preferences = list(Judgment.objects.filter(item=item, skipped=False).values_list("preference", flat=True))
    return disagreement(kind=item.kind, expected=item.expected_preference, preferences=preferences)


def adjudication_record(*, item: Item, reviewer, choice: int, comment: str = "") -> Adjudication:
    """Record (or revise) the reviewer's final verdict on an item of the queue, in screen terms."""
    if choice not in Judgment.Choice.values:
        raise AdjudicationError("Choose one of the five answers (keys 1 to 5).")
    if len(comment) > COMMENT_MAX_CHARS:
        raise AdjudicationError(f"The comment is longer than {COMMENT_MAX_CHARS} characters.")
    if Judgment.objects.filter(item=item, annotator=reviewer).exists():
        raise AdjudicationError("You judged this item yourself; another reviewer must settle it.")
    reason = item_reason(item=item)
    if reason is None:
        raise AdjudicationError("This item is not in the review queue: its annotators agree, or its judging is "
                                "not over yet.")
    with transaction.atomic():
        adjudication, _ = Adjudication.objects.update_or_create(item=item, defaults={
            "campaign_id": item.campaign_id, "reviewer": reviewer, "reason": reason, "choice": choice,
            "preference": preference_toward_b(choice=choice, b_on_left=item.b_on_left), "b_on_left": item.b_on_left,
            "comment": comment.strip(),
        })
    return adjudication


# ----------------------------------------------------------------------------------- what the reviewer sees


def screen_choice(*, preference: int, b_on_left: bool) -> int:
    """A preference toward B as the answer on screen that gives it (the inverse of `preference_toward_b`)."""
    return -preference if b_on_left else preference


def product_card(product: dict) -> dict:
    """A frozen product as annotators see it: no product key, id or score."""
    return {key: product.get(key) or "" for key in ("title", "brand", "category", "price", "description")}


def blinded_view(*, item: Item, reason: str | None = None) -> dict:
    """The item in screen terms: both lists on the annotators' sides, the annotators' answers (names hidden), and
    for a control what was expected, also in screen terms. Nothing here names a system or a side assignment."""
    left, right = item.lists_left_right()
    positions = {side: {str(p["product"]): position for position, p in enumerate(shown)}
                 for side, shown in (("left", left), ("right", right))}
    verdicts = []
    judgments = item.judgments.filter(skipped=False).order_by("created_at", "pk")
    for number, judgment in enumerate(judgments, 1):
        marks = {side: sorted([positions[side][key] + 1, grade] for key, grade in judgment.marks.items()
                              if key in positions[side]) for side in positions}
        verdicts.append({"annotator": f"Annotator {number}", "choice": judgment.choice,
                         "choice_label": SCREEN_LABELS[judgment.choice], "reasons": judgment.reasons,
                         "comment": judgment.comment, "marks": marks})
    expected = None
    if item.kind == Item.Kind.AA:
        expected = 0
    elif item.kind == Item.Kind.GOLD and item.expected_preference is not None:
        expected = screen_choice(preference=item.expected_preference, b_on_left=item.b_on_left)
    adjudication = Adjudication.objects.filter(item=item).first()
    return {
        "token": item.token,
        "campaign": item.campaign.name,
        "query": item.query_text,
        "query_type": item.query_type,
        "kind": item.kind,
        "reason": reason,
        "expected_choice": expected,
        "expected_label": SCREEN_LABELS[expected] if expected is not None else "",
        "left": [product_card(p) for p in left],
        "right": [product_card(p) for p in right],
        "verdicts": verdicts,
        "final_choice": adjudication.choice if adjudication else None,
        "final_comment": adjudication.comment if adjudication else "",
    }


# ------------------------------------------------------------------------------------------- adjudicated view


def adjudicated_view(ratings: list[Rating], finals: dict, *, seed: int = 0, bootstrap_samples: int = 2000) -> dict:
    """The raw majority view and the adjudicated view of regular items, side by side (see the module docstring).
    `finals`: item -> the reviewer's final preference toward B."""
    by_item: dict = defaultdict(list)
    for rating in ratings:
        if rating.kind == "regular":
            by_item[rating.item].append(rating)
    raw, adjudicated, changed = [], [], 0
    for item, members in by_item.items():
        majority = strict_majority([r.preference for r in members])
        first = members[0]

        def one(preference: int) -> Rating:
            return Rating(item=item, annotator="consensus", preference=preference, choice=0, kind="regular",
                          segment=first.segment, query_type=first.query_type)

        if majority is not None:
            raw.append(one(majority))
        final = finals.get(item)
        if final is not None:
            adjudicated.append(one(final))
            changed += sign(final) != majority
        elif majority is not None:
            adjudicated.append(one(majority))

    def view(items: list[Rating]) -> dict:
        return {**gsb_summary(items, seed=seed, bootstrap_samples=bootstrap_samples),
                "unresolved": len(by_item) - len(items)}

    # changed: adjudicated items whose final verdict differs from their raw majority (or that had none)
    return {"items": len(by_item), "adjudicated_items": sum(1 for item in by_item if item in finals),
            "changed_verdicts": changed, "raw": view(raw), "adjudicated": view(adjudicated)}


def campaign_adjudicated_metrics(*, campaign: Campaign) -> dict:
    """A campaign's raw majority and adjudicated views, with its queue's counts (pending and settled)."""
    finals = dict(Adjudication.objects.filter(campaign=campaign, item__kind=Item.Kind.REGULAR)
                  .values_list("item_id", "preference"))
    view = adjudicated_view(campaign_ratings(campaign=campaign), finals, seed=campaign.seed)
    queue = review_queue(campaign=campaign, pending_only=False)
    counts = Counter((entry["reason"], entry["adjudication"] is not None) for entry in queue)
    view["queue"] = {reason: {"pending": counts[(reason, False)], "settled": counts[(reason, True)]}
                     for reason in Adjudication.Reason.values}
    return view
