"""Judging services: side-to-system normalisation, per-product marks, double submits, skip and undo."""
from datetime import timedelta

import pytest
from django.utils import timezone

from sbsapp.assignment import next_item, reserve
from sbsapp.judging import (UNDO_WINDOW, AlreadyJudged, JudgingError, NotServed, SubmitKeyReused, Verdict,
                            judgment_skip, judgment_submit, judgment_undo, preference_toward_b)
from sbsapp.models import Item, Judgment, Reservation
from tests.sbs_factories import make_campaign, make_item

pytestmark = pytest.mark.django_db


def served(item, annotator):
    """Serve `item` to `annotator` (as the judging page does), so that they may answer it."""
    reserve(item=item, annotator=annotator, now=timezone.now())
    return item


@pytest.mark.parametrize("b_on_left, choice, preference", [
    (False, 2, 2), (False, -1, -1), (True, 2, -2), (True, -1, 1), (True, 0, 0),
])
def test_screen_choice_becomes_a_preference_toward_b(b_on_left, choice, preference):
    assert preference_toward_b(choice=choice, b_on_left=b_on_left) == preference


def test_submit_stores_raw_choice_normalised_preference_marks_and_time(annotator):
    campaign = make_campaign()
    item = make_item(campaign=campaign, b_on_left=True)
    assert next_item(campaign=campaign, annotator=annotator) == item
    Reservation.objects.filter(item=item).update(served_at=timezone.now() - timedelta(seconds=12))
    judgment = judgment_submit(
        item=item, annotator=annotator, submit_key="k1",
        verdict=Verdict(choice=-2, left_marks={0: 3, 2: 1}, right_marks={1: 0},
                        reasons=["missing", "relevance"], comment="  left has the exact pan  "),
    )
    left, right = item.results_b, item.results_a  # B is on the left
    assert (judgment.choice, judgment.preference) == (-2, 2)
    assert judgment.marks == {str(left[0]["product"]): 3, str(left[2]["product"]): 1, str(right[1]["product"]): 0}
    assert judgment.reasons == ["relevance", "missing"] and judgment.comment == "left has the exact pan"
    assert 12000 <= judgment.time_on_item_ms < 20000
    assert Item.objects.get(pk=item.pk).judgments_count == 1
    assert not Reservation.objects.filter(item=item).exists()


def test_the_same_form_submitted_twice_creates_one_judgment(annotator):
    item = served(make_item(campaign=make_campaign()), annotator)
    first = judgment_submit(item=item, annotator=annotator, verdict=Verdict(choice=1), submit_key="same")
    again = judgment_submit(item=item, annotator=annotator, verdict=Verdict(choice=-2), submit_key="same")
    assert again.pk == first.pk and again.preference == 1
    with pytest.raises(AlreadyJudged):
        judgment_submit(item=item, annotator=annotator, verdict=Verdict(choice=1), submit_key="another-tab")
    assert Judgment.objects.count() == 1 and Item.objects.get(pk=item.pk).judgments_count == 1


@pytest.mark.parametrize("verdict, message", [
    (Verdict(choice=3), "five answers"),
    (Verdict(choice=1, reasons=["vibes"]), "Unknown reason"),
    (Verdict(choice=1, left_marks={7: 2}), "not on the page"),
    (Verdict(choice=1, right_marks={0: 4}), "0 \\(irrelevant\\) to 3"),
])
def test_bad_input_gets_a_clear_message_and_stores_nothing(annotator, verdict, message):
    item = make_item(campaign=make_campaign())
    with pytest.raises(JudgingError, match=message):
        judgment_submit(item=item, annotator=annotator, verdict=verdict, submit_key="x")
    assert not Judgment.objects.exists()


def test_closed_campaign_refuses_judgments(annotator):
    item = make_item(campaign=make_campaign(status="closed"))
    with pytest.raises(JudgingError, match="not open"):
        judgment_submit(item=item, annotator=annotator, verdict=Verdict(choice=0), submit_key="x")


def test_undo_takes_back_the_last_judgment_and_serves_its_item_again(annotator):
    campaign = make_campaign()
    first, second = make_item(campaign=campaign), make_item(campaign=campaign)
    judgment_submit(item=served(first, annotator), annotator=annotator, verdict=Verdict(choice=2, comment="great"),
                    submit_key="a")
    judgment_submit(item=served(second, annotator), annotator=annotator, verdict=Verdict(choice=-1), submit_key="b")

    item, undone = judgment_undo(campaign=campaign, annotator=annotator)
    assert item == second and undone.choice == -1
    assert Judgment.objects.filter(annotator=annotator).count() == 1
    assert Item.objects.get(pk=second.pk).judgments_count == 0
    assert next_item(campaign=campaign, annotator=annotator) == second
    judgment_submit(item=second, annotator=annotator, verdict=Verdict(choice=1), submit_key="c")
    assert Judgment.objects.get(item=second).preference == 1


def test_undo_only_within_the_window_and_of_skips_too(annotator):
    campaign = make_campaign()
    item = served(make_item(campaign=campaign), annotator)
    judgment_skip(item=item, annotator=annotator, submit_key="s")
    assert judgment_undo(campaign=campaign, annotator=annotator)[0] == item
    judgment_submit(item=item, annotator=annotator, verdict=Verdict(choice=0), submit_key="t")
    with pytest.raises(JudgingError, match="no\\s+longer be undone"):
        judgment_undo(campaign=campaign, annotator=annotator, now=timezone.now() + timedelta(minutes=3))
    with pytest.raises(JudgingError, match="nothing to undo"):
        judgment_undo(campaign=make_campaign(), annotator=annotator)


def test_a_submit_key_reused_on_another_item_is_refused_and_the_replay_of_the_same_item_is_not(annotator):
    campaign = make_campaign()
    first, second = make_item(campaign=campaign), make_item(campaign=campaign)
    judgment_submit(item=served(first, annotator), annotator=annotator, verdict=Verdict(choice=1), submit_key="k")
    served(second, annotator)
    with pytest.raises(SubmitKeyReused, match="already used to answer another item"):
        judgment_submit(item=second, annotator=annotator, verdict=Verdict(choice=-2), submit_key="k")
    with pytest.raises(SubmitKeyReused):
        judgment_skip(item=second, annotator=annotator, submit_key="k")
    assert list(Judgment.objects.values_list("item_id", flat=True)) == [first.pk]
    assert Item.objects.get(pk=second.pk).judgments_count == 0
    assert judgment_submit(item=first, annotator=annotator, verdict=Verdict(choice=1), submit_key="k").item == first


def test_an_item_never_served_to_the_annotator_cannot_be_judged_or_skipped(annotator, annotator2):
    campaign = make_campaign()
    theirs, never = make_item(campaign=campaign), make_item(campaign=campaign)
    served(theirs, annotator2)
    for item in (theirs, never):
        with pytest.raises(NotServed, match="not reserved for you"):
            judgment_submit(item=item, annotator=annotator, verdict=Verdict(choice=2), submit_key=f"s{item.pk}")
        with pytest.raises(NotServed):
            judgment_skip(item=item, annotator=annotator, submit_key=f"k{item.pk}")
    assert not Judgment.objects.exists() and not Item.objects.filter(judgments_count__gt=0).exists()


def test_a_stale_tab_is_refused_once_another_item_was_served_but_a_lapsed_reservation_has_grace(annotator):
    campaign = make_campaign()
    first, second = make_item(campaign=campaign), make_item(campaign=campaign)
    served(first, annotator)
    Reservation.objects.filter(item=first).update(expires_at=timezone.now() - UNDO_WINDOW / 2)
    judgment_submit(item=first, annotator=annotator, verdict=Verdict(choice=0), submit_key="a")  # within grace
    served(second, annotator)
    Reservation.objects.filter(item=second).update(expires_at=timezone.now() - UNDO_WINDOW * 2)
    with pytest.raises(NotServed):
        judgment_submit(item=second, annotator=annotator, verdict=Verdict(choice=0), submit_key="b")
    third = make_item(campaign=campaign)
    served(third, annotator)  # another tab took a new item: the old one is no longer theirs
    served(second, annotator)
    with pytest.raises(NotServed):
        judgment_skip(item=third, annotator=annotator, submit_key="c")
