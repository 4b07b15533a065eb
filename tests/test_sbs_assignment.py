"""Assignment: balanced next item, reservations that expire, and no over-judging under concurrency (PostgreSQL)."""
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from sbsapp.assignment import next_item
from sbsapp.judging import ItemAlreadyFull, Verdict, judgment_skip, judgment_submit
from sbsapp.models import Item, Judgment, Reservation
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_item

pytestmark = pytest.mark.django_db


def judge(item, user, choice=1, key=None):
    return judgment_submit(require_reservation=False, item=item, annotator=user, verdict=Verdict(choice=choice),
                           submit_key=key or f"{user.pk}-{item.pk}")


def test_next_item_is_the_least_judged_one_not_yet_judged_by_me(annotator, annotator2):
    campaign = make_campaign(judgments_per_item=3)
    busy, quiet = make_item(campaign=campaign), make_item(campaign=campaign)
    judge(busy, annotator2)
    assert next_item(campaign=campaign, annotator=annotator) == quiet
    judge(quiet, annotator)
    assert next_item(campaign=campaign, annotator=annotator) == busy
    judge(busy, annotator)
    assert next_item(campaign=campaign, annotator=annotator) is None


def test_reloading_keeps_the_same_item_and_skipped_items_do_not_come_back(annotator):
    campaign = make_campaign()
    make_item(campaign=campaign), make_item(campaign=campaign)
    first = next_item(campaign=campaign, annotator=annotator)
    assert next_item(campaign=campaign, annotator=annotator) == first
    judgment_skip(require_reservation=False, item=first, annotator=annotator, submit_key="s1")
    second = next_item(campaign=campaign, annotator=annotator)
    assert second != first
    judge(second, annotator)
    assert next_item(campaign=campaign, annotator=annotator) is None
    assert Item.objects.get(pk=first.pk).judgments_count == 0  # a skip is not a judgment


def test_reservations_hold_capacity_until_they_expire(annotator, annotator2):
    campaign = make_campaign(judgments_per_item=1, reservation_minutes=10)
    only = make_item(campaign=campaign)
    assert next_item(campaign=campaign, annotator=annotator) == only
    assert next_item(campaign=campaign, annotator=annotator2) is None  # held for annotator
    later = timezone.now() + timedelta(minutes=11)
    assert next_item(campaign=campaign, annotator=annotator2, now=later) == only  # expired: given away


def test_an_expired_reservation_cannot_overfill_an_item(annotator, annotator2):
    campaign = make_campaign(judgments_per_item=1, reservation_minutes=1)
    item = make_item(campaign=campaign)
    next_item(campaign=campaign, annotator=annotator)
    next_item(campaign=campaign, annotator=annotator2, now=timezone.now() + timedelta(minutes=2))
    judge(item, annotator2)
    with pytest.raises(ItemAlreadyFull):
        judge(item, annotator)
    assert Judgment.objects.filter(item=item).count() == 1


def test_closed_campaign_serves_nothing_and_inactive_items_are_never_served(annotator):
    campaign = make_campaign(status="closed")
    make_item(campaign=campaign)
    assert next_item(campaign=campaign, annotator=annotator) is None
    open_campaign = make_campaign()
    make_item(campaign=open_campaign, is_active=False)
    assert next_item(campaign=open_campaign, annotator=annotator) is None


def test_an_annotator_holds_one_reservation_per_campaign(annotator):
    campaign = make_campaign()
    for _ in range(3):
        make_item(campaign=campaign)
    item = next_item(campaign=campaign, annotator=annotator)
    judge(item, annotator)
    next_item(campaign=campaign, annotator=annotator)
    assert Reservation.objects.filter(annotator=annotator, campaign=campaign).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_concurrent_annotators_never_overfill_or_double_judge():
    if connection.vendor != "postgresql":
        pytest.skip("row locks with SKIP LOCKED need PostgreSQL")
    judge_as_a_crowd(workers=16, items=12, per_item=3)


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_on_the_embedded_sqlite_default():
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL variant above covers this")
    judge_as_a_crowd(workers=6, items=6, per_item=2)


def judge_as_a_crowd(*, workers: int, items: int, per_item: int) -> None:
    """Every worker thread is an annotator judging until nothing is left for them."""
    campaign = make_campaign(judgments_per_item=per_item)
    for _ in range(items):
        make_item(campaign=campaign)
    users = [make_user(f"crowd{i}", "annotator") for i in range(workers)]
    errors: list[BaseException] = []
    turned_away: list[int] = []
    barrier = threading.Barrier(workers)

    def annotate(user):
        try:
            barrier.wait()
            for _ in range(items + 2):
                item = next_item(campaign=campaign, annotator=user)
                if item is None:
                    break
                try:
                    judge(item, user, choice=(user.pk % 5) - 2)
                except ItemAlreadyFull:
                    turned_away.append(item.pk)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=annotate, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert not turned_away, "assignment handed out items that were already fully reserved"
    per_item_counts = Counter(Judgment.objects.filter(campaign=campaign).values_list("item_id", flat=True))
    assert set(per_item_counts.values()) == {per_item}, per_item_counts  # every item full, none overfilled
    assert len(per_item_counts) == items
    pairs = Judgment.objects.filter(campaign=campaign).values_list("item_id", "annotator_id")
    assert len(set(pairs)) == len(pairs)
    for item in Item.objects.filter(campaign=campaign):
        assert item.judgments_count == per_item_counts[item.pk]
