"""SBS metrics against hand-computed values and against the libraries they wrap."""
import json

import numpy as np
import pytest
from scipy.stats import binomtest, bootstrap

from sbsapp.judging import Verdict, judgment_skip, judgment_submit
from sbsapp.selectors import campaign_metrics
from sbsapp.metrics import (Rating, bootstrap_delta_ci, compute_metrics, fleiss_kappa_gsb,
                            krippendorff_alpha_ordinal, queries_needed)
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_item

# Four regular queries judged by three annotators (preference toward B), plus one gold and one A-vs-A control.
#   i1 tail/knowledge  B shown left   prefs u1..u3 = 2, 1, 0     -> G2 S1 B0, mean +1    -> win
#   i2 tail/plain      B shown right  prefs        = 1, -1, 0    -> G1 S1 B1, mean 0     -> tie
#   i3 head/plain      B shown right  prefs        = -1, -2, -1  -> G0 S0 B3, mean -4/3  -> loss
#   i4 head/knowledge  B shown right  prefs        = 1, 1, 2     -> G3 S0 B0, mean +4/3  -> win
REGULAR = {
    "i1": ("tail", "knowledge", True, [2, 1, 0]),
    "i2": ("tail", "plain", False, [1, -1, 0]),
    "i3": ("head", "plain", False, [-1, -2, -1]),
    "i4": ("head", "knowledge", False, [1, 1, 2]),
}
ANNOTATORS = ["u1", "u2", "u3"]


def example_ratings() -> list[Rating]:
    ratings = []
    for item, (segment, query_type, b_on_left, prefs) in REGULAR.items():
        for annotator, pref in zip(ANNOTATORS, prefs):
            ratings.append(Rating(item=item, annotator=annotator, preference=pref,
                                  choice=-pref if b_on_left else pref, segment=segment, query_type=query_type,
                                  time_ms=1000 * (len(ratings) + 1)))
    ratings += [
        Rating(item="g1", annotator="u1", preference=1, choice=1, kind="gold", expected=2, time_ms=20000),
        Rating(item="g1", annotator="u2", preference=-1, choice=-1, kind="gold", expected=2, time_ms=30000),
        Rating(item="a1", annotator="u1", preference=0, choice=0, kind="aa", expected=0),
        Rating(item="a1", annotator="u2", preference=1, choice=1, kind="aa", expected=0),
        Rating(item="a1", annotator="u3", preference=0, choice=0, kind="aa", expected=0),
    ]
    return ratings


@pytest.fixture(scope="module")
def metrics():
    return compute_metrics(example_ratings(), judgments_per_item=3, seed=1, bootstrap_samples=500,
                           skips={"u3": 2})


def test_gsb_counts_treat_b_as_the_treatment_and_leave_controls_out(metrics):
    overall = metrics["overall"]
    assert (overall["good"], overall["same"], overall["bad"], overall["judgments"]) == (6, 2, 4, 12)
    assert overall["delta_gsb"] == pytest.approx((6 - 4) / 12)
    assert (overall["wins"], overall["ties"], overall["losses"], overall["queries"]) == (2, 1, 1, 4)
    assert overall["win_rate"] == 0.5 and overall["tie_rate"] == 0.25 and overall["loss_rate"] == 0.25


def test_sign_test_is_on_query_wins_against_losses(metrics):
    # 2 wins, 1 loss: every outcome of Binomial(3, 1/2) is at most as likely as 2 -> p = 1.
    assert metrics["overall"]["sign_test_p"] == pytest.approx(1.0)
    assert metrics["overall"]["sign_test_p"] == pytest.approx(binomtest(2, 3).pvalue)
    assert metrics["overall"]["significant"] is False


def test_breakdown_by_segment_and_query_type(metrics):
    segments = {row["group"]: row for row in metrics["by_segment"]}
    assert (segments["head"]["good"], segments["head"]["bad"], segments["head"]["delta_gsb"]) == (3, 3, 0.0)
    assert segments["tail"]["delta_gsb"] == pytest.approx(2 / 6)
    types = {row["group"]: row for row in metrics["by_query_type"]}
    assert types["knowledge"]["delta_gsb"] == pytest.approx(5 / 6)
    assert types["plain"]["delta_gsb"] == pytest.approx(-3 / 6)


def test_fleiss_kappa_matches_the_hand_computation_and_statsmodels(metrics):
    # Categories (A better, same, B better) per item: [0,1,2], [1,1,1], [3,0,0], [0,0,3].
    # P-bar = (1/3 + 0 + 1 + 1) / 4 = 7/12; P_e = (4/12)^2 + (2/12)^2 + (6/12)^2 = 7/18 -> kappa = 7/22.
    assert metrics["agreement"]["fleiss_kappa"] == pytest.approx(7 / 22)
    assert metrics["agreement"]["fleiss_items"] == 4
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    table, _ = aggregate_raters(np.array([[1, 1, 0], [1, -1, 0], [-1, -1, -1], [1, 1, 1]]))
    assert metrics["agreement"]["fleiss_kappa"] == pytest.approx(fleiss_kappa(table))


def test_krippendorff_alpha_ordinal_by_hand_and_against_the_package():
    # Units (0, 0) and (1, 2): n0=2, n1=1, n2=1. Ordinal deltas: d01=2.25, d02=6.25, d12=1.
    # D_o = (1/4) * 2 * d12 = 0.5; D_e = 2 * (2*2.25 + 2*6.25 + 1*1) / (4*3) = 3 -> alpha = 1 - 0.5/3 = 5/6.
    ratings = [Rating(item="x", annotator="u1", preference=0, choice=0),
               Rating(item="x", annotator="u2", preference=0, choice=0),
               Rating(item="y", annotator="u1", preference=1, choice=1),
               Rating(item="y", annotator="u2", preference=2, choice=2)]
    assert krippendorff_alpha_ordinal(ratings) == pytest.approx(5 / 6)

    import krippendorff

    example = [r for r in example_ratings() if r.kind == "regular"]
    matrix = np.array([[float(p) for p in prefs] for *_, prefs in REGULAR.values()]).T  # annotators x items
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal",
                                  value_domain=[-2, -1, 0, 1, 2])
    assert krippendorff_alpha_ordinal(example) == pytest.approx(expected)


def test_agreement_is_undefined_without_overlap_or_variation():
    single = [Rating(item=i, annotator="u1", preference=1, choice=1) for i in "abc"]
    assert krippendorff_alpha_ordinal(single) is None
    assert fleiss_kappa_gsb(single, raters=3) == (None, 0)
    unanimous = [Rating(item=i, annotator=u, preference=1, choice=1) for i in "ab" for u in ("u1", "u2")]
    assert krippendorff_alpha_ordinal(unanimous) is None


def test_position_bias_counts_left_choices_among_sided_judgments(metrics):
    # Sided choices: i1 two left; i2 one right one left; i3 three left; i4 three right; gold right + left;
    # A-vs-A one right -> 7 left of 13.
    bias = metrics["position_bias"]
    assert (bias["left"], bias["sided_judgments"]) == (7, 13)
    assert bias["left_rate"] == pytest.approx(7 / 13)
    assert bias["p_value"] == pytest.approx(binomtest(7, 13).pvalue)


def test_controls_and_annotator_quality(metrics):
    assert metrics["controls"]["gold"] == {"judgments": 2, "accuracy": 0.5}
    assert metrics["controls"]["aa"]["accuracy"] == pytest.approx(2 / 3)
    rows = {row["annotator"]: row for row in metrics["annotators"]}
    # Majorities (strict plurality of >= 3 votes): i1 B better, i2 none, i3 A better, i4 B better.
    assert rows["u1"]["majority_agreement"] == 1.0 and rows["u2"]["majority_agreement"] == 1.0
    assert rows["u3"]["majority_agreement"] == pytest.approx(2 / 3)
    assert metrics["agreement"]["majority_agreement"] == pytest.approx(8 / 9)
    assert rows["u1"]["judgments"] == 6 and rows["u3"]["skips"] == 2
    assert rows["u1"]["gold_accuracy"] == 1.0 and rows["u2"]["gold_accuracy"] == 0.0
    assert rows["u2"]["aa_accuracy"] == 0.0 and rows["u3"]["aa_accuracy"] == 1.0
    # u1's timed judgments: 1, 4, 7, 10 s on regular items and 20 s on gold -> median 7 s.
    assert rows["u1"]["median_time_s"] == 7.0


def test_bootstrap_ci_resamples_queries_with_scipy():
    counts = np.array([[2, 1, 0], [1, 1, 1], [0, 0, 3], [3, 0, 0], [2, 0, 1], [1, 2, 0], [0, 1, 2], [3, 0, 0]])
    low, high = bootstrap_delta_ci(counts, samples=20000, seed=3)

    def delta(indices, axis=-1):  # resampling query indices is resampling the queries' (G, S, B) rows together
        picked = counts[indices.astype(int)]
        totals = picked.sum(axis=-2)
        return (totals[..., 0] - totals[..., 2]) / totals.sum(axis=-1)

    reference = bootstrap((np.arange(len(counts)),), delta, n_resamples=20000, method="percentile",
                          rng=np.random.default_rng(3), vectorized=True).confidence_interval
    assert low == pytest.approx(reference.low, abs=0.03) and high == pytest.approx(reference.high, abs=0.03)
    assert low < (14 - 7) / 28 < high
    assert bootstrap_delta_ci(counts, samples=20000, seed=3) == (low, high)  # seeded: the same interval again
    assert bootstrap_delta_ci(np.array([[1, 0, 0]] * 5), samples=100) == (1.0, 1.0)
    assert bootstrap_delta_ci(np.array([[1, 0, 0]])) is None


def test_queries_needed_at_the_current_effect():
    # 6 wins, 2 losses: p = 0.29. At 3:1, 16 queries (12:4) give p = 0.077 and 17 queries (13:4) p = 0.049.
    assert queries_needed(6, 0, 2) == 17 - 8
    assert binomtest(13, 17).pvalue < 0.05 < binomtest(12, 16).pvalue
    assert queries_needed(20, 0, 2) == 0  # already significant
    assert queries_needed(3, 4, 3) is None  # no effect to detect


@pytest.mark.django_db
def test_campaign_metrics_reads_the_database_and_is_json_ready(annotator, annotator2):
    campaign = make_campaign(judgments_per_item=2)
    left_b, right_b = make_item(campaign=campaign, b_on_left=True), make_item(campaign=campaign)
    control = make_item(campaign=campaign, kind="aa")
    # Both annotators click "left better" everywhere: B wins where B is left, loses where it is right.
    for user in (annotator, annotator2):
        for item in (left_b, right_b, control):
            judgment_submit(require_reservation=False,
                            item=item, annotator=user, verdict=Verdict(choice=-1), submit_key=f"{user}-{item.pk}")
    third = make_user("ann3", "annotator")
    judgment_skip(require_reservation=False, item=left_b, annotator=third, submit_key="skip")

    result = campaign_metrics(campaign=campaign)
    json.dumps(result)
    overall = result["overall"]
    assert (overall["good"], overall["same"], overall["bad"]) == (2, 0, 2)
    assert (overall["wins"], overall["losses"]) == (1, 1) and overall["delta_gsb"] == 0
    assert result["controls"]["aa"] == {"judgments": 2, "accuracy": 0.0}
    assert result["position_bias"]["left_rate"] == 1.0
    assert result["progress"]["judgments_done"] == 6 and result["progress"]["fraction"] == 1.0
    assert result["progress"]["skips"] == 1
    assert {row["annotator"]: row["skips"] for row in result["annotators"]} == {"ann1": 0, "ann2": 0, "ann3": 1}
    assert result["agreement"]["krippendorff_alpha"] == 1.0  # both annotators agree on both items


@pytest.mark.parametrize("needed, sentence", [(1, "about 1 more complete item."),
                                              (9, "about 9 more complete items.")])
def test_dashboard_says_item_or_items_needed(metrics, needed, sentence):
    """The sequential verdict replaced the sign-test projection ("about N more judged queries to reach p < 0.05")."""
    from django.template.loader import render_to_string

    from sbsapp.sequential import continue_text, sequential_summary

    sequential = {**sequential_summary([], judgments_per_item=3), "verdict_text": continue_text(needed, 0.1)}
    shown = {**metrics, "overall": {**metrics["overall"], "queries_needed": needed}, "sequential": sequential}
    html = render_to_string("sbs/_dashboard_metrics.html",
                            {"metrics": shown, "campaign": {"pk": 1, "status": "closed"}})
    assert sentence in html and "to reach p &lt; 0.05" not in html
