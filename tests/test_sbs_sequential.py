"""Sequential stopping: the betting confidence sequence keeps its false-stop rate at or below α however often it is
looked at (simulated campaigns with a look after every item), stops under a real effect, and closes a campaign
that asks for it when a judgment completes an item."""
import numpy as np
import pytest
from scipy.stats import binom

from sbsapp import sequential as sq
from sbsapp.campaigns import campaign_reopen
from sbsapp.judging import Verdict, judgment_submit
from sbsapp.models import Campaign
from sbsapp.planning import plan_campaign, simulate_verdicts
from sbsapp.selectors import campaign_metrics
from tests.sbs_factories import make_campaign, make_dataset, make_item

ALPHA = 0.05
CAMPAIGNS = 1000
ITEMS = 300
# Monte-Carlo margin: the estimated rate over 1000 campaigns has a standard error of at most
# sqrt(0.05 * 0.95 / 1000) = 0.0069 when the true rate is α; 2.33 standard errors (one-sided 99 %) is 0.016.
MARGIN = 2.33 * (ALPHA * (1 - ALPHA) / CAMPAIGNS) ** 0.5


def simulated_scores(seed: int, *, delta: float, campaigns: int = CAMPAIGNS, items: int = ITEMS) -> np.ndarray:
    """Per-item ΔGSB scores of simulated campaigns (3 judgments per item), on the [0, 1] scale of the CS."""
    verdicts = simulate_verdicts(np.random.default_rng(seed), campaigns=campaigns, items=items,
                                 judgments_per_item=3, delta=delta)
    return (verdicts.mean(axis=-1) + 1) / 2


def naive_sign_test_stops(scores: np.ndarray) -> np.ndarray:
    """Whether the analyst who runs the two-sided sign test after every item and stops at the first p < 0.05
    stops: the p-value of Binomial(n, ½) is 2·P(X ≤ min(wins, losses)), exactly scipy's binomtest for p = ½."""
    wins = np.cumsum(scores > 0.5, axis=-1)
    losses = np.cumsum(scores < 0.5, axis=-1)
    p_values = np.minimum(1.0, 2 * binom.cdf(np.minimum(wins, losses), wins + losses, 0.5))
    p_values[(wins + losses) == 0] = 1.0
    return (p_values < ALPHA).any(axis=-1)


@pytest.mark.parametrize("target", [None, 0.05], ids=["no-plan", "planned-delta-0.1"])
def test_false_stop_rate_under_the_null_with_a_look_after_every_item_stays_at_alpha(target):
    scores = simulated_scores(11, delta=0.0)
    stopped = (sq.rejected_at(scores, 0.5, alpha=ALPHA, target=target) != 0).any(axis=-1)
    assert stopped.mean() <= ALPHA + MARGIN
    # The same campaigns, looked at the naive way, stop wrongly far more often than α: the error this replaces.
    assert naive_sign_test_stops(scores).mean() > 3 * ALPHA


def test_the_confidence_sequence_covers_a_non_null_mean_at_all_times():
    scores = simulated_scores(12, delta=0.3)
    true_mean = (0.3 + 1) / 2
    missed = (sq.rejected_at(scores, true_mean, alpha=ALPHA, target=0.05) != 0).any(axis=-1)
    assert missed.mean() <= ALPHA + MARGIN


def test_under_a_real_effect_it_stops_on_the_right_side_before_the_fixed_size_plan():
    planned_items = 281  # the fixed-size plan for ΔGSB 0.1 at α 0.05, power 0.8 (tests/test_sbs_planning.py)
    scores = simulated_scores(13, delta=0.2, campaigns=300, items=planned_items)
    decision = sq.rejected_at(scores, 0.5, alpha=ALPHA, target=0.05)
    final = decision[:, -1]
    assert (final == 1).mean() >= 0.95 and not (final == -1).any()
    stopped_at = np.where(final != 0, (decision != 0).argmax(axis=-1) + 1, planned_items)
    assert stopped_at.mean() < planned_items / 2
    against = sq.rejected_at(1 - scores[:50], 0.5, alpha=ALPHA, target=0.05)[:, -1]
    assert (against == -1).mean() >= 0.9  # A better when the effect is the other way


def test_the_dashboard_interval_and_the_simulated_test_agree():
    """The grid CS the dashboard shows excludes 0 exactly when the vectorised test of the simulations stops."""
    scores = simulated_scores(14, delta=0.15, campaigns=12, items=150)
    for row in scores:
        decision = sq.rejected_at(row, 0.5, alpha=ALPHA, target=0.05)
        for n in (5, 40, 90, 150):
            interval = sq.confidence_sequence(row[:n], alpha=ALPHA, target=0.05)
            shown = 1 if interval.low > 0.5 else -1 if interval.high < 0.5 else 0
            assert shown == decision[n - 1]
            assert interval.low <= row[:n].mean() <= interval.high


def test_the_simulated_stopping_rule_is_the_dashboard_verdict():
    """`first_verdicts` (the bench's vectorised rule) stops when and as `sequential_summary` (the dashboard) does."""
    rng = np.random.default_rng(15)
    reached = set()
    for delta in (0.0, 0.0, 0.25, -0.25, 0.02):
        verdicts = simulate_verdicts(rng, campaigns=1, items=700, judgments_per_item=3, delta=delta)[0]
        items, code = sq.first_verdicts((verdicts.mean(axis=-1) + 1) / 2, alpha=ALPHA, min_delta=0.2)
        items, code = int(items), str(code)
        judgments = [(index, int(v)) for index, row in enumerate(verdicts) for v in row]

        def verdict_after(n: int) -> str:
            return sq.sequential_summary(judgments[: 3 * n], judgments_per_item=3, min_delta=0.2)["verdict"]

        if code == sq.CONTINUE:
            assert items == 701 and verdict_after(700) == sq.CONTINUE
            continue
        reached.add(code)
        assert verdict_after(items) == code and verdict_after(items - 1) == sq.CONTINUE
    assert reached == {sq.B_BETTER, sq.A_BETTER, sq.NO_MEANINGFUL_DIFFERENCE}


def test_confidence_sequence_refuses_values_outside_the_unit_interval():
    with pytest.raises(ValueError):
        sq.confidence_sequence([0.5, 1.5])
    assert sq.confidence_sequence([]) is None


def test_items_count_once_complete_in_the_order_they_completed():
    judgments = [("a", 2), ("b", -1), ("a", 0), ("c", 1), ("b", -2), ("a", 1), ("c", 1)]
    assert sq.completed_items(judgments, judgments_per_item=2) == [[2, 0], [-1, -2], [1, 1]]
    assert sq.item_score([2, 0, -1]) == 0 and sq.item_score([1, 1, 0]) == pytest.approx(2 / 3)
    assert sq.item_outcome([2, -1, -1]) == 0 and sq.item_outcome([2, -1]) == 1


def test_verdicts_and_their_words():
    b_wins = sq.sequential_summary([(i, 2) for i in range(12)], judgments_per_item=1)
    assert b_wins["verdict_text"] == "B better, you can stop" and b_wins["stop"] and b_wins["delta_low"] > 0
    assert b_wins["win_low"] > 0.5
    a_wins = sq.sequential_summary([(i, -1) for i in range(12)], judgments_per_item=1, min_delta=0.1)
    assert a_wins["verdict_text"] == "A better, you can stop" and a_wins["delta_high"] < 0
    undecided = sq.sequential_summary([(i, 1 if i % 2 else -1) for i in range(40)], judgments_per_item=1,
                                      min_delta=0.1, planned_items=281)
    assert undecided["verdict"] == sq.CONTINUE and not undecided["stop"]
    assert undecided["delta_low"] < 0 < undecided["delta_high"]
    assert undecided["verdict_text"] == (f"No verdict yet: a difference large enough to matter (|ΔGSB| ≥ 0.1) is "
                                         f"still possible: about {undecided['more_items']} more complete items.")
    assert 100 < undecided["more_items"] < 5000
    none_yet = sq.sequential_summary([], judgments_per_item=3, planned_items=281)
    assert none_yet["more_items"] == 281 and none_yet["delta_low"] is None
    # Many items that split evenly: the CS ends inside ±δ, so no difference large enough to matter.
    even = sq.sequential_summary([(i, (-1, 0, 1)[i % 3]) for i in range(3000)], judgments_per_item=1, min_delta=0.2)
    assert even["verdict_text"] == "No difference large enough to matter, you can stop"
    assert -0.2 < even["delta_low"] < 0 < even["delta_high"] < 0.2


def test_more_items_shrink_as_the_interval_narrows():
    assert sq.more_items_needed(n=100, estimate=0.1, low=-0.1, high=0.3, min_delta=None, planned_items=None) == 300
    assert sq.more_items_needed(n=5, estimate=0.1, low=-0.9, high=1.0, min_delta=0.1, planned_items=281) == 276
    assert sq.more_items_needed(n=100, estimate=0.0, low=-0.2, high=0.2, min_delta=None, planned_items=None) is None


# ------------------------------------------------------------------------------------------ in the app


def judge_all(campaign, items, annotator, choice: int) -> None:
    for item in items:
        judgment_submit(require_reservation=False, item=item, annotator=annotator, verdict=Verdict(choice=choice),
                        submit_key=f"{annotator.pk}-{item.pk}")


@pytest.mark.django_db
def test_a_campaign_that_asks_for_it_closes_itself_on_the_verdict(annotator):
    campaign = make_campaign(dataset=make_dataset(queries=30), judgments_per_item=1, auto_close=True,
                             plan_min_delta=0.1)
    items = [make_item(campaign=campaign) for _ in range(25)]  # B shown right: "right better" is B better
    for index, item in enumerate(items):
        judge_all(campaign, [item], annotator, 2)
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.CLOSED:
            break
    assert campaign.status == Campaign.Status.CLOSED and campaign.closed_by_verdict == sq.B_BETTER
    assert 5 < index + 1 < 25 and campaign.closed_at is not None
    closed_after = index + 1
    summary = campaign_metrics(campaign=campaign)["sequential"]
    assert summary["verdict_text"] == "B better, you can stop" and summary["items"] == closed_after
    # Reopened by hand: it no longer closes itself (the verdict would end it again at once).
    campaign = campaign_reopen(campaign=campaign)
    assert campaign.status == Campaign.Status.ACTIVE and not campaign.auto_close and not campaign.closed_by_verdict
    judge_all(campaign, items[closed_after:closed_after + 1], annotator, 2)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE


@pytest.mark.django_db
def test_without_auto_close_or_before_an_item_completes_the_campaign_stays_open(annotator, annotator2):
    manual = make_campaign(dataset=make_dataset(queries=30), judgments_per_item=1)
    judge_all(manual, [make_item(campaign=manual) for _ in range(20)], annotator, 2)
    manual.refresh_from_db()
    assert manual.status == Campaign.Status.ACTIVE
    assert campaign_metrics(campaign=manual)["sequential"]["verdict"] == sq.B_BETTER

    two_each = make_campaign(dataset=make_dataset(queries=30), judgments_per_item=2, auto_close=True)
    items = [make_item(campaign=two_each) for _ in range(20)]
    judge_all(two_each, items, annotator, 2)  # one judgment of two on every item: none complete
    two_each.refresh_from_db()
    assert two_each.status == Campaign.Status.ACTIVE
    assert campaign_metrics(campaign=two_each)["sequential"]["items"] == 0
    judge_all(two_each, items, annotator2, 2)
    two_each.refresh_from_db()
    assert two_each.status == Campaign.Status.CLOSED and two_each.closed_by_verdict == sq.B_BETTER


@pytest.mark.django_db
def test_the_dashboard_shows_the_verdict_instead_of_the_sign_test_projection(client, analyst, annotator):
    plan = plan_campaign(min_delta=0.1, alpha=0.05, power=0.8, judgments_per_item=3, control_share=0.1)
    assert plan["items"] == 281
    campaign = make_campaign(dataset=make_dataset(queries=30), judgments_per_item=1, plan_min_delta=0.1, plan=plan)
    judge_all(campaign, [make_item(campaign=campaign) for _ in range(4)], annotator, 2)
    client.force_login(analyst)
    html = client.get(f"/sbs/campaigns/{campaign.pk}/").content.decode()
    assert "No verdict yet: a difference large enough to matter (|ΔGSB| ≥ 0.1) is still possible: about 277 more" \
           in html
    assert "4 complete items of 281 planned" in html
    assert "to reach p &lt; 0.05" not in html
    judge_all(campaign, [make_item(campaign=campaign) for _ in range(12)], annotator, 2)
    live = client.get(f"/sbs/campaigns/{campaign.pk}/live/").content.decode()
    assert "B better, you can stop" in live
