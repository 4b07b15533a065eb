"""SBS metrics as plain Python: Good/Same/Bad with B as the treatment, ΔGSB with a bootstrap CI over queries,
sign test, breakdowns, annotator agreement and quality, position bias.

`compute_metrics(ratings, ...)` works on plain `Rating` records (unit-tested against hand-computed values);
`selectors.campaign_metrics(campaign=...)` loads a campaign's judgments and returns the same plain, JSON-ready dict.

Definitions (one judgment = one non-skipped verdict; preference is toward B, -2..+2):
- G / S / B: judgments preferring B / about the same / preferring A, on regular items only (controls excluded).
- ΔGSB = (G − B) / (G + S + B). Its 95% CI (`scipy.stats.bootstrap`, percentile, seeded) resamples queries
  (items) with replacement, keeping each query's judgments together, because they are not independent.
- win / tie / loss: per query, the sign of the mean preference over its judgments.
- Sign test: `scipy.stats.binomtest` on query wins vs losses (ties dropped), two-sided.
- Queries needed: how many more judged queries, at the current win/tie/loss rates, until the sign test reaches
  p < alpha (None when the current effect is zero).
- Krippendorff's α (ordinal, 5 values) over regular items; Fleiss' κ over G/S/B categories on the items that
  have exactly `judgments_per_item` judgments (Fleiss needs the same number of raters per item).
- Position bias: share of sided judgments (choice ≠ "about the same") that chose the left side, all item kinds.
- Gold accuracy: the sign of the preference equals the sign of the expected one; A-vs-A accuracy: "about the
  same". Agreement with the majority: on regular items with at least 3 judgments and a strict plurality
  verdict, the share of an annotator's verdicts equal to it.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable

import numpy as np

ALPHA = 0.05
BOOTSTRAP_SAMPLES = 2000
MAJORITY_MIN_VOTES = 3
MAX_PROJECTED_QUERIES = 1_000_000
PREFERENCE_VALUES = (-2, -1, 0, 1, 2)


@dataclass(frozen=True)
class Rating:
    """One non-skipped judgment, reduced to what the metrics need."""

    item: int | str
    annotator: int | str
    preference: int  # toward system B, -2..+2
    choice: int  # on screen, -2 left much better .. +2 right much better
    kind: str = "regular"  # regular | gold | aa
    segment: str = ""
    query_type: str = ""
    expected: int | None = None  # gold / A-vs-A expected preference toward B
    time_ms: int | None = None


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


# ---------------------------------------------------------------------------------------------- GSB and tests


def gsb_counts(preferences: Iterable[int]) -> tuple[int, int, int]:
    good = same = bad = 0
    for preference in preferences:
        if preference > 0:
            good += 1
        elif preference < 0:
            bad += 1
        else:
            same += 1
    return good, same, bad


def delta_gsb(good: int, same: int, bad: int) -> float | None:
    total = good + same + bad
    return (good - bad) / total if total else None


def bootstrap_delta_ci(item_counts: np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float] | None:
    """Percentile CI of ΔGSB resampling queries: `item_counts` is an (items, 3) array of G, S, B per query.

    `scipy.stats.bootstrap` with the three columns paired, so a query's G, S and B are drawn together.
    """
    from scipy.stats import bootstrap

    item_counts = np.asarray(item_counts, dtype=np.int64).reshape(-1, 3)
    if len(item_counts) < 2:
        return None

    def resampled_delta(good, same, bad, axis=-1):
        good, bad = good.sum(axis=axis), bad.sum(axis=axis)
        judged = good + same.sum(axis=axis) + bad
        return (good - bad) / np.where(judged == 0, 1, judged)

    result = bootstrap(tuple(item_counts.T), resampled_delta, paired=True, vectorized=True, method="percentile",
                       n_resamples=samples, confidence_level=level, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def sign_test_p(wins: int, losses: int) -> float | None:
    from scipy.stats import binomtest

    if wins + losses == 0:
        return None
    return float(binomtest(wins, wins + losses, 0.5, alternative="two-sided").pvalue)


def queries_needed(wins: int, ties: int, losses: int, *, alpha: float = ALPHA) -> int | None:
    """More judged queries needed, at the current win/tie/loss rates, for the sign test to reach p < alpha.

    0 when already significant; None when there is no effect to detect (wins == losses) or it would take more
    than a million queries. Found by doubling then bisection over the projected counts.
    """
    judged = wins + ties + losses
    if judged == 0 or wins == losses:
        return None
    if (sign_test_p(wins, losses) or 1.0) < alpha:
        return 0
    win_rate, loss_rate = wins / judged, losses / judged

    def significant(queries: int) -> bool:
        projected_wins, projected_losses = round(queries * win_rate), round(queries * loss_rate)
        p_value = sign_test_p(projected_wins, projected_losses)
        return p_value is not None and p_value < alpha

    low, high = judged, judged * 2
    while not significant(high):
        low, high = high, high * 2
        if high > MAX_PROJECTED_QUERIES:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if significant(middle) else (middle, high)
    return high - judged


def gsb_summary(ratings: list[Rating], *, seed: int = 0, bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> dict:
    """G/S/B, ΔGSB with its CI, win/tie/loss per query and the sign test, for one group of regular ratings."""
    by_item: dict = defaultdict(list)
    for rating in ratings:
        by_item[rating.item].append(rating.preference)
    good, same, bad = gsb_counts(r.preference for r in ratings)
    item_counts = np.array([gsb_counts(prefs) for prefs in by_item.values()], dtype=np.int64).reshape(-1, 3)
    ci = bootstrap_delta_ci(item_counts, samples=bootstrap_samples, seed=seed)
    outcomes = Counter(sign(statistics.fmean(prefs)) for prefs in by_item.values())
    wins, ties, losses = outcomes[1], outcomes[0], outcomes[-1]
    queries = len(by_item)
    p_value = sign_test_p(wins, losses)
    return {
        "judgments": len(ratings),
        "good": good,
        "same": same,
        "bad": bad,
        "delta_gsb": delta_gsb(good, same, bad),
        "ci_low": ci[0] if ci else None,
        "ci_high": ci[1] if ci else None,
        "queries": queries,
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "win_rate": wins / queries if queries else None,
        "tie_rate": ties / queries if queries else None,
        "loss_rate": losses / queries if queries else None,
        "sign_test_p": p_value,
        "significant": p_value is not None and p_value < ALPHA,
        "queries_needed": queries_needed(wins, ties, losses),
    }


def breakdown(ratings: list[Rating], *, field: str, seed: int = 0,
              bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> list[dict]:
    groups: dict[str, list[Rating]] = defaultdict(list)
    for rating in ratings:
        groups[getattr(rating, field) or "unknown"].append(rating)
    return [
        {"group": name, **gsb_summary(members, seed=seed, bootstrap_samples=bootstrap_samples)}
        for name, members in sorted(groups.items())
    ]


# -------------------------------------------------------------------------------------------------- agreement


def krippendorff_alpha_ordinal(ratings: list[Rating]) -> float | None:
    """Krippendorff's α (ordinal) of the 5-point preferences, over items with at least two judgments."""
    import krippendorff

    by_item: dict = defaultdict(list)
    for rating in ratings:
        by_item[rating.item].append(rating.preference)
    counts = [
        [prefs.count(value) for value in PREFERENCE_VALUES] for prefs in by_item.values() if len(prefs) >= 2
    ]
    if not counts:
        return None
    values_seen = {value for row in counts for value, count in zip(PREFERENCE_VALUES, row) if count}
    if len(values_seen) < 2:
        return None  # everyone gave the same answer: no expected disagreement, α is undefined
    alpha = krippendorff.alpha(value_counts=np.array(counts), value_domain=list(PREFERENCE_VALUES),
                               level_of_measurement="ordinal")
    return None if math.isnan(alpha) else float(alpha)


def fleiss_kappa_gsb(ratings: list[Rating], *, raters: int) -> tuple[float | None, int]:
    """Fleiss' κ over the G/S/B verdict, on the items that have exactly `raters` judgments; (κ, items used)."""
    from statsmodels.stats.inter_rater import fleiss_kappa

    by_item: dict = defaultdict(list)
    for rating in ratings:
        by_item[rating.item].append(sign(rating.preference))
    table = [
        [verdicts.count(-1), verdicts.count(0), verdicts.count(1)]
        for verdicts in by_item.values()
        if len(verdicts) == raters
    ]
    if raters < 2 or len(table) < 2:
        return None, len(table)
    kappa = fleiss_kappa(np.array(table), method="fleiss")
    return (None if math.isnan(kappa) else float(kappa)), len(table)


def majority_verdicts(ratings: list[Rating]) -> dict:
    """Item -> the strict-plurality G/S/B verdict, for items with at least `MAJORITY_MIN_VOTES` judgments."""
    by_item: dict = defaultdict(list)
    for rating in ratings:
        by_item[rating.item].append(sign(rating.preference))
    majorities = {}
    for item, verdicts in by_item.items():
        if len(verdicts) < MAJORITY_MIN_VOTES:
            continue
        (top, top_count), *rest = Counter(verdicts).most_common() + [(None, 0)]
        if top_count > rest[0][1]:
            majorities[item] = top
    return majorities


# ----------------------------------------------------------------------------------- position bias, controls


def left_preference(ratings: list[Rating]) -> dict:
    sided = [r for r in ratings if r.choice != 0]
    left = sum(1 for r in sided if r.choice < 0)
    return {
        "sided_judgments": len(sided),
        "left": left,
        "left_rate": left / len(sided) if sided else None,
        "p_value": sign_test_p(left, len(sided) - left),
    }


def control_correct(rating: Rating) -> bool | None:
    if rating.kind == "aa":
        return rating.preference == 0
    if rating.kind == "gold" and rating.expected is not None:
        return sign(rating.preference) == sign(rating.expected)
    return None


def accuracy(ratings: list[Rating], kind: str) -> dict:
    outcomes = [control_correct(r) for r in ratings if r.kind == kind]
    outcomes = [o for o in outcomes if o is not None]
    return {"judgments": len(outcomes), "accuracy": sum(outcomes) / len(outcomes) if outcomes else None}


def median_seconds(ratings: list[Rating]) -> float | None:
    times = [r.time_ms for r in ratings if r.time_ms is not None]
    return statistics.median(times) / 1000 if times else None


def annotator_table(ratings: list[Rating], *, skips: dict | None = None, names: dict | None = None) -> list[dict]:
    regular = [r for r in ratings if r.kind == "regular"]
    majorities = majority_verdicts(regular)
    by_annotator: dict = defaultdict(list)
    for rating in ratings:
        by_annotator[rating.annotator].append(rating)
    skips = skips or {}
    rows = []
    for annotator in sorted(set(by_annotator) | set(skips), key=str):
        mine = by_annotator.get(annotator, [])
        compared = [sign(r.preference) == majorities[r.item] for r in mine if r.item in majorities]
        rows.append({
            "annotator": (names or {}).get(annotator, str(annotator)),
            "annotator_id": annotator,
            "judgments": len(mine),
            "skips": skips.get(annotator, 0),
            "median_time_s": median_seconds(mine),
            "left_rate": left_preference(mine)["left_rate"],
            "gold_accuracy": accuracy(mine, "gold")["accuracy"],
            "aa_accuracy": accuracy(mine, "aa")["accuracy"],
            "majority_agreement": sum(compared) / len(compared) if compared else None,
            "majority_items": len(compared),
        })
    return rows


# ---------------------------------------------------------------------------------------------------- all of it


def compute_metrics(ratings: list[Rating], *, judgments_per_item: int, seed: int = 0,
                    bootstrap_samples: int = BOOTSTRAP_SAMPLES, skips: dict | None = None,
                    names: dict | None = None) -> dict:
    """Every SBS number from plain ratings (no database): the dict the dashboard and the API show."""
    regular = [r for r in ratings if r.kind == "regular"]
    kappa, kappa_items = fleiss_kappa_gsb(regular, raters=judgments_per_item)
    majorities = majority_verdicts(regular)
    agreeing = [sign(r.preference) == majorities[r.item] for r in regular if r.item in majorities]
    return {
        "overall": gsb_summary(regular, seed=seed, bootstrap_samples=bootstrap_samples),
        "by_segment": breakdown(regular, field="segment", seed=seed, bootstrap_samples=bootstrap_samples),
        "by_query_type": breakdown(regular, field="query_type", seed=seed, bootstrap_samples=bootstrap_samples),
        "agreement": {
            "krippendorff_alpha": krippendorff_alpha_ordinal(regular),
            "fleiss_kappa": kappa,
            "fleiss_items": kappa_items,
            "majority_agreement": sum(agreeing) / len(agreeing) if agreeing else None,
        },
        "position_bias": left_preference(ratings),
        "controls": {"gold": accuracy(ratings, "gold"), "aa": accuracy(ratings, "aa")},
        "median_time_s": median_seconds(ratings),
        "annotators": annotator_table(ratings, skips=skips, names=names),
    }
