"""Recording judgments: submit, skip and undo, each safe against double submits and concurrent annotators.

The annotator answers in screen terms (left/right); `preference_toward_b` turns that into the preference toward
system B using the item's hidden side assignment. Per-product marks arrive by screen position and are stored by
product, so the browser never names a system or a product key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from . import assignment
from .campaigns import campaign_item_judged
from .models import Campaign, Item, Judgment, Reservation

UNDO_WINDOW = timedelta(minutes=2)
COMMENT_MAX_CHARS = 4000
REASONS = tuple(Judgment.Reason.values)


class JudgingError(ValueError):
    """A judgment that cannot be recorded; the message is shown to the annotator as is."""


class ItemAlreadyFull(JudgingError):
    pass


class AlreadyJudged(JudgingError):
    pass


class NotOpen(JudgingError):
    """The campaign is closed or the item withdrawn."""


class NotServed(JudgingError):
    """The item is not (or no longer) reserved for this annotator: never served to them, or a stale tab."""


class SubmitKeyReused(JudgingError):
    """The submit key already recorded an answer for another item (a form copied or replayed elsewhere)."""


@dataclass
class Verdict:
    """What the annotator entered on the judging page, in screen terms."""

    choice: int
    left_marks: dict[int, int] = field(default_factory=dict)  # position in the left list -> grade 0..3
    right_marks: dict[int, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    comment: str = ""


def preference_toward_b(*, choice: int, b_on_left: bool) -> int:
    """Screen choice (-2 left much better .. +2 right much better) as a preference toward system B."""
    return -choice if b_on_left else choice


def judgment_submit(*, item: Item, annotator, verdict: Verdict, submit_key: str,
                    now: datetime | None = None, require_reservation: bool = True) -> Judgment:
    """Record a verdict once. The same `submit_key` again returns the first judgment instead of a second one.

    The item must be reserved for the annotator (served to them; see `assignment.is_served`).
    `require_reservation=False` is for trusted offline callers only (seeding, benchmarks)."""
    validate_verdict(item=item, verdict=verdict)
    check_open(item=item)
    now = now or timezone.now()
    judgment = Judgment(
        item=item,
        campaign_id=item.campaign_id,
        annotator=annotator,
        choice=verdict.choice,
        preference=preference_toward_b(choice=verdict.choice, b_on_left=item.b_on_left),
        b_on_left=item.b_on_left,
        marks=marks_by_product(item=item, verdict=verdict),
        reasons=[reason for reason in REASONS if reason in set(verdict.reasons)],
        comment=verdict.comment.strip(),
        time_on_item_ms=time_on_item_ms(item=item, annotator=annotator, now=now),
        submit_key=submit_key,
    )
    judgment = record(judgment=judgment, counts=True, served_at=now if require_reservation else None)
    campaign_item_judged(item=item)  # auto-close on a sequential verdict, when the campaign asks for it
    return judgment


def judgment_skip(*, item: Item, annotator, submit_key: str, comment: str = "",
                  now: datetime | None = None, require_reservation: bool = True) -> Judgment:
    """The annotator passes on an item: it is not served to them again and does not count as a judgment.
    The item must be reserved for them, as for `judgment_submit`."""
    check_open(item=item)
    now = now or timezone.now()
    judgment = Judgment(
        item=item, campaign_id=item.campaign_id, annotator=annotator, skipped=True, b_on_left=item.b_on_left,
        comment=comment.strip()[:COMMENT_MAX_CHARS], submit_key=submit_key,
        time_on_item_ms=time_on_item_ms(item=item, annotator=annotator, now=now),
    )
    return record(judgment=judgment, counts=False, served_at=now if require_reservation else None)


def record(*, judgment: Judgment, counts: bool, served_at: datetime | None = None) -> Judgment:
    """Save a new judgment, or return the one its submit key already created (a repeated submit of the same
    item; the key used for another item is refused). `served_at`: check at that time that the item is reserved
    for the annotator (None: no check).

    No look-up first: the unique (annotator, submit_key) constraint detects the repeat, so a first submit
    (the usual case) costs no extra query."""
    item = judgment.item
    try:
        # Checked before the transaction, so that on SQLite the transaction still starts with its write.
        if served_at is not None and not assignment.is_served(item=item, annotator=judgment.annotator,
                                                              now=served_at, grace=UNDO_WINDOW):
            raise NotServed("This item is not reserved for you (it was opened in another tab or its time ran "
                            "out), so your answer was not saved. Here is your current item.")
        with transaction.atomic():
            # The conditional increment is the guard against over-judging: it cannot succeed once the item is
            # full, whatever the reservations say (a reservation may have expired and been given away).
            if counts and not Item.objects.filter(
                pk=item.pk, is_active=True, judgments_count__lt=item.campaign.judgments_per_item
            ).update(judgments_count=F("judgments_count") + 1):
                raise ItemAlreadyFull("This item already has all the judgments it needs; here is another one.")
            judgment.save()
            Reservation.objects.filter(item=item, annotator=judgment.annotator).delete()
    except (IntegrityError, ItemAlreadyFull, NotServed) as exc:
        replay = Judgment.objects.filter(annotator=judgment.annotator, submit_key=judgment.submit_key).first()
        if replay is not None and replay.item_id == item.pk:
            return replay  # the same form submitted again
        if replay is not None:
            raise SubmitKeyReused("This form was already used to answer another item, so nothing was saved; "
                                  "reload the page and answer the item shown.") from None
        judged_before = Judgment.objects.filter(item=item, annotator=judgment.annotator).exists()
        if isinstance(exc, (IntegrityError, NotServed)) and judged_before:
            raise AlreadyJudged("You have already judged this item; here is the next one.") from None
        raise
    return judgment


def judgment_undo(*, campaign: Campaign, annotator, now: datetime | None = None) -> tuple[Item, Judgment]:
    """Take back the annotator's latest judgment (within `UNDO_WINDOW`) and serve that item to them again.

    Returns the item and the removed judgment (unsaved), so the page can show the earlier answer again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        last = (
            Judgment.objects.select_for_update()
            .filter(campaign=campaign, annotator=annotator)
            .select_related("item", "item__campaign")
            .order_by("-created_at", "-pk")
            .first()
        )
        if last is None:
            raise JudgingError("There is nothing to undo.")
        if now - last.created_at > UNDO_WINDOW:
            raise JudgingError(
                f"Your last judgment is older than {int(UNDO_WINDOW.total_seconds() // 60)} minutes and can no "
                "longer be undone."
            )
        if campaign.status != Campaign.Status.ACTIVE:
            raise JudgingError("This campaign is closed; its judgments can no longer change.")
        item = last.item
        last.delete()
        if not last.skipped:
            Item.objects.filter(pk=item.pk, judgments_count__gt=0).update(judgments_count=F("judgments_count") - 1)
        assignment.reserve(item=item, annotator=annotator, now=now)
    return item, last


def validate_verdict(*, item: Item, verdict: Verdict) -> None:
    if verdict.choice not in Judgment.Choice.values:
        raise JudgingError("Choose one of the five answers (keys 1 to 5).")
    unknown = set(verdict.reasons) - set(REASONS)
    if unknown:
        raise JudgingError(f"Unknown reason tag(s): {', '.join(sorted(unknown))}.")
    if len(verdict.comment) > COMMENT_MAX_CHARS:
        raise JudgingError(f"The comment is longer than {COMMENT_MAX_CHARS} characters.")
    left, right = item.lists_left_right()
    for marks, shown in ((verdict.left_marks, left), (verdict.right_marks, right)):
        for position, grade in marks.items():
            if not 0 <= position < len(shown):
                raise JudgingError("A relevance mark refers to a product that is not on the page.")
            if grade not in (0, 1, 2, 3):
                raise JudgingError("Relevance marks go from 0 (irrelevant) to 3 (exactly what was asked).")


def check_open(*, item: Item) -> None:
    if item.campaign.status != Campaign.Status.ACTIVE:
        raise NotOpen("This campaign is not open for judging.")
    if not item.is_active:
        raise NotOpen("This item is no longer being judged.")


def marks_by_product(*, item: Item, verdict: Verdict) -> dict[str, int]:
    """Screen-position marks keyed by product pk (a product in both lists keeps the higher mark)."""
    left, right = item.lists_left_right()
    marks: dict[str, int] = {}
    for position_marks, shown in ((verdict.left_marks, left), (verdict.right_marks, right)):
        for position, grade in position_marks.items():
            key = str(shown[position]["product"])
            marks[key] = max(grade, marks.get(key, grade))
    return marks


def time_on_item_ms(*, item: Item, annotator, now: datetime) -> int | None:
    """Measured on the server from when the item was served, so a client cannot report it wrongly."""
    served_at = (
        Reservation.objects.filter(item=item, annotator=annotator).values_list("served_at", flat=True).first()
    )
    if served_at is None:
        return None
    return max(0, int((now - served_at).total_seconds() * 1000))
