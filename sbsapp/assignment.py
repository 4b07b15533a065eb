"""Which item an annotator judges next: balanced, reserved for a while, safe under many concurrent annotators.

An item's load is its judgments plus the live reservations of other annotators. The next item is one the
annotator has not judged (or skipped) whose load is below the campaign's judgments per item, least loaded first,
ties broken by a random per-item key. On PostgreSQL the candidate rows are locked with
`SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent requests take different items instead of queueing on one; the
load is then counted again under the lock, because a reservation committed while we waited is not in the first
statement's snapshot. The database constraints (one judgment and one reservation per item and annotator) and
the conditional counter update in `judging` keep the invariants even if this logic is bypassed.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Campaign, Item, Judgment, Reservation

CANDIDATES_PER_ROUND = 8
WAITING_ROUNDS = 5


def next_item(*, campaign: Campaign, annotator, now: datetime | None = None, holds_none: bool = False) -> Item | None:
    """The item this annotator should judge now (reserving it for them), or None when nothing is left for them.

    `holds_none`: the caller knows the annotator holds no reservation here (they just answered their item),
    which saves looking for one.
    """
    if campaign.status != Campaign.Status.ACTIVE:
        return None
    now = now or timezone.now()
    held = None if holds_none else held_item(campaign=campaign, annotator=annotator, now=now)
    if held is not None:
        return held
    for _attempt in range(3):
        try:
            return reserve_next(campaign=campaign, annotator=annotator, now=now)
        except IntegrityError:
            continue  # the same annotator reserving in two tabs at once: try again
    # (On SQLite every transaction takes the write lock when it begins, `transaction_mode` IMMEDIATE in the
    # settings, so "database is locked" only comes after the full busy timeout: it is raised, not retried.)
    return None


def held_item(*, campaign: Campaign, annotator, now: datetime) -> Item | None:
    """The item already reserved for this annotator (a reload shows the same item), extending the reservation."""
    reservation = (
        Reservation.objects.filter(campaign=campaign, annotator=annotator, expires_at__gt=now, item__is_active=True)
        .exclude(Exists(Judgment.objects.filter(item=OuterRef("item"), annotator=annotator)))
        .select_related("item", "item__campaign")
        .order_by("-served_at")
        .first()
    )
    if reservation is None:
        return None
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=now + reservation_length(campaign))
    return reservation.item


def reserve_next(*, campaign: Campaign, annotator, now: datetime) -> Item | None:
    # FOR NO KEY UPDATE: judgments inserted meanwhile (a foreign-key share lock on the item) are not blocked.
    # Only the columns needed to decide are read under the lock; the chosen item is then loaded in full.
    with transaction.atomic():
        relax_durability()
        # Writing first: on SQLite this takes the write lock now (waiting its turn) instead of failing later.
        release_held(campaign=campaign, annotator=annotator)
        candidates = (
            candidate_items(campaign=campaign, annotator=annotator, now=now)
            .only("pk", "campaign_id", "judgments_count")
            .select_for_update(skip_locked=True, no_key=True, of=("self",))[:CANDIDATES_PER_ROUND]
        )
        for candidate in candidates:
            if take_if_open(item=candidate, campaign=campaign, annotator=annotator, now=now):
                return loaded_item(pk=candidate.pk, campaign=campaign)
    # Every open item was locked by another request at that instant (or filled meanwhile): wait for the locks,
    # one row per transaction so that two waiting requests cannot deadlock. "Nothing left" is thus only
    # answered when a fresh look finds no open item at all.
    for _round in range(WAITING_ROUNDS):
        ids = list(candidate_items(campaign=campaign, annotator=annotator, now=now)
                   .values_list("pk", flat=True)[:CANDIDATES_PER_ROUND])
        if not ids:
            return None
        for pk in ids:
            with transaction.atomic():
                relax_durability()
                release_held(campaign=campaign, annotator=annotator)
                candidate = (Item.objects.only("pk", "campaign_id", "judgments_count")
                             .select_for_update(no_key=True).get(pk=pk))
                if take_if_open(item=candidate, campaign=campaign, annotator=annotator, now=now):
                    return loaded_item(pk=pk, campaign=campaign)
    return None


def take_if_open(*, item: Item, campaign: Campaign, annotator, now: datetime) -> bool:
    """Reserve a locked item if its load still leaves room.

    The locked row's `judgments_count` is current (PostgreSQL returns the newest version of a row it locks);
    the reservations are counted by a new statement, which sees everything committed before the lock.
    """
    reserved = Reservation.objects.filter(item_id=item.pk, expires_at__gt=now).exclude(annotator=annotator).count()
    if item.judgments_count + reserved >= campaign.judgments_per_item:
        return False
    item.campaign = campaign
    reserve(item=item, annotator=annotator, now=now, released=True)
    return True


def loaded_item(*, pk: int, campaign: Campaign) -> Item:
    item = Item.objects.get(pk=pk)
    item.campaign = campaign
    return item


def relax_durability() -> None:
    """Reservations are ephemeral (losing the last few in a database crash is harmless), so on PostgreSQL their
    transaction's commit does not wait for the disk. Judgments are never written this way."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def candidate_items(*, campaign: Campaign, annotator, now: datetime):
    """Items this annotator may take, least judged first.

    Ordered by the indexed (judgments_count, shuffle_key) rather than by load, so that PostgreSQL walks the
    index and stops at the first few eligible rows instead of computing the load of every item.
    """
    return (
        Item.objects.filter(campaign=campaign, is_active=True, judgments_count__lt=campaign.judgments_per_item)
        .exclude(Exists(Judgment.objects.filter(item=OuterRef("pk"), annotator=annotator)))
        .annotate(reserved=live_reservations_of_others(annotator=annotator, now=now))
        .annotate(load=F("judgments_count") + F("reserved"))
        .filter(load__lt=campaign.judgments_per_item)
        .order_by("judgments_count", "shuffle_key")
    )


def live_reservations_of_others(*, annotator, now: datetime):
    counts = (
        Reservation.objects.filter(item=OuterRef("pk"), expires_at__gt=now)
        .exclude(annotator=annotator)
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def release_held(*, campaign: Campaign, annotator) -> None:
    Reservation.objects.filter(campaign=campaign, annotator=annotator).delete()


def reserve(*, item: Item, annotator, now: datetime, served_at: datetime | None = None,
            released: bool = False) -> Reservation:
    """Hold `item` for `annotator`; an annotator holds one item per campaign at a time (`released`: the caller
    already dropped what they held)."""
    if not released:
        Reservation.objects.filter(campaign_id=item.campaign_id, annotator=annotator).delete()
    return Reservation.objects.create(
        item=item,
        annotator=annotator,
        campaign_id=item.campaign_id,
        served_at=served_at or now,
        expires_at=now + reservation_length(item.campaign),
    )


def is_served(*, item: Item, annotator, now: datetime, grace: timedelta = timedelta(0)) -> bool:
    """Whether `item` is reserved for `annotator`: served to them and not handed on since. A reservation that
    ran out less than `grace` ago still counts (the tab was left open a little too long), so long as the
    annotator has not been served another item of the campaign meanwhile (that replaces the reservation)."""
    return Reservation.objects.filter(item=item, annotator=annotator, expires_at__gt=now - grace).exists()


def reservation_length(campaign: Campaign) -> timedelta:
    return timedelta(minutes=campaign.reservation_minutes)


def release_expired_reservations(*, now: datetime | None = None) -> int:
    """Delete reservations that have run out (they no longer count toward load either way)."""
    deleted, _ = Reservation.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
