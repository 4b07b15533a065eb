"""Campaign planning as plain Python: how many items (and judgments per item) a campaign needs to detect the
smallest ΔGSB worth detecting at a significance level and power.

The unit is the item (a query), because judgments of one item are not independent. An item's score is the mean of
the sign of its judgments' preferences (its own ΔGSB, in [−1, 1]); the campaign's ΔGSB is the mean of the scores
of its complete items, and the test the plan sizes is the two-sided one-sample t-test of that mean against 0
(statsmodels' `TTestPower`, the same answer as ΔGSB's CI excluding 0).

The variance of an item's score with k judgments per item is that of a one-way random-effects model,

    Var(score) = between + within / k

where `between` is the variance of the items' true ΔGSB (some queries favour B, some A) and `within` the variance
of single verdicts around their item's mean (annotators disagree). Both are estimated from the judgments of earlier
campaigns on the same data set (`variance_components`, method of moments); without enough of them, from a stated
assumption (`ASSUMED_VERDICT_VARIANCE`, `ASSUMED_ICC`). More judgments per item shrink only the within part, which
is why the plan also lists other choices of k.
"""
from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass

import numpy as np

MIN_EARLIER_ITEMS = 20  # fewer earlier items than this: their variance is too noisy, use the assumption
ASSUMED_VERDICT_VARIANCE = 2 / 3  # one verdict's variance when G, S and B are equally likely and ΔGSB is 0
ASSUMED_ICC = 0.3  # share of that variance that is between items (annotators agree on an item's direction)
JUDGMENT_OPTIONS = (1, 2, 3, 5)
MAX_ITEMS = 10_000_000


@dataclass(frozen=True)
class VarianceComponents:
    """Variances of per-item verdict scores: `between` items, `within` an item (one verdict), and what they rest on."""

    between: float
    within: float
    items: int = 0
    judgments: int = 0

    def score_variance(self, judgments_per_item: int) -> float:
        return self.between + self.within / judgments_per_item


ASSUMED = VarianceComponents(between=ASSUMED_VERDICT_VARIANCE * ASSUMED_ICC,
                             within=ASSUMED_VERDICT_VARIANCE * (1 - ASSUMED_ICC))
ASSUMPTION_TEXT = (f"Assumed, not measured: no earlier campaign on this data set has {MIN_EARLIER_ITEMS} judged items, "
                   f"so the plan assumes G, S and B about equally likely (a single verdict's variance "
                   f"{ASSUMED_VERDICT_VARIANCE:.2f}) and an intra-class correlation of {ASSUMED_ICC} between the "
                   f"annotators of one item.")


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


def variance_components(item_verdicts: list[list[int]]) -> VarianceComponents | None:
    """Method-of-moments estimate from each item's verdicts (signs −1/0/+1 or preferences, turned into signs).

    within = pooled variance of verdicts around their item's mean (items with ≥ 2 verdicts);
    between = variance of item means − the mean of within / n_i, floored at 0.
    When no item has two verdicts, the total variance of single verdicts is split with `ASSUMED_ICC`.
    None without any item."""
    items = [[sign(v) for v in verdicts] for verdicts in item_verdicts if verdicts]
    if not items:
        return None
    judgments = sum(len(verdicts) for verdicts in items)
    repeated = [verdicts for verdicts in items if len(verdicts) >= 2]
    if not repeated:
        total = statistics.pvariance([verdicts[0] for verdicts in items]) if len(items) > 1 else 0.0
        return VarianceComponents(between=total * ASSUMED_ICC, within=total * (1 - ASSUMED_ICC), items=len(items),
                                  judgments=judgments)
    squares = sum(sum((v - statistics.fmean(verdicts)) ** 2 for v in verdicts) for verdicts in repeated)
    within = squares / sum(len(verdicts) - 1 for verdicts in repeated)
    means = [statistics.fmean(verdicts) for verdicts in items]
    spread = statistics.variance(means) if len(means) > 1 else 0.0
    between = max(0.0, spread - statistics.fmean(within / len(verdicts) for verdicts in items))
    return VarianceComponents(between=between, within=within, items=len(items), judgments=judgments)


def items_needed(*, min_delta: float, sd: float, alpha: float, power: float) -> int:
    """Complete items for the two-sided one-sample t-test of mean ΔGSB to detect `min_delta` (statsmodels'
    `TTestPower`; where its root finder gives up, at hundreds of thousands of items, the normal approximation
    `NormalIndPower` with ratio 0, its one-sample case, to which the t-test converges)."""
    from statsmodels.stats.power import NormalIndPower, TTestPower

    if sd <= 0:
        return 2
    effect = min_delta / sd
    with warnings.catch_warnings(record=True):  # solve_power warns while it brackets the root, and when it gives up
        if TTestPower().power(effect_size=effect, nobs=2, alpha=alpha, alternative="two-sided") >= power:
            return 2
        n = float(np.asarray(TTestPower().solve_power(effect_size=effect, alpha=alpha, power=power,
                                                      alternative="two-sided")).reshape(-1)[0])
        if not math.isfinite(n):
            n = float(np.asarray(NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power,
                                                              ratio=0)).reshape(-1)[0])
    if not math.isfinite(n):
        return MAX_ITEMS
    return min(MAX_ITEMS, max(2, math.ceil(n - 1e-9)))


def sample_size_for(items: int, control_share: float) -> int:
    """Queries to sample so that, after `control_share` of them become A-vs-A controls, `items` stay regular
    (controls are `round(sample × share)`, as `campaigns.control_query_ids` draws them)."""
    # size - round(size × share) never decreases as size grows: scan up from a lower bound to the smallest size.
    size = max(items, math.floor((items - 1) / (1 - control_share))) if control_share < 1 else items
    while size - round(size * control_share) < items:
        size += 1
    return size


def plan_campaign(*, min_delta: float, alpha: float, power: float, judgments_per_item: int, control_share: float,
                  earlier: VarianceComponents | None = None, earlier_campaigns: int = 0) -> dict:
    """The plan (JSON-ready): items and queries to sample at the chosen judgments per item, other choices of k,
    and which variance it rests on (earlier campaigns, or the stated assumption)."""
    measured = earlier is not None and earlier.items >= MIN_EARLIER_ITEMS and earlier.score_variance(1) > 0
    components = earlier if measured else ASSUMED
    options = []
    for k in sorted(set(JUDGMENT_OPTIONS) | {judgments_per_item}):
        sd = math.sqrt(components.score_variance(k))
        n = items_needed(min_delta=min_delta, sd=sd, alpha=alpha, power=power)
        options.append({"judgments_per_item": k, "items": n, "judgments": n * k, "sd": round(sd, 4),
                        "chosen": k == judgments_per_item})
    chosen = next(option for option in options if option["chosen"])
    if measured:
        basis = (f"Measured: the variance of per-item verdicts in {earlier_campaigns} earlier campaign"
                 f"{'' if earlier_campaigns == 1 else 's'} on this data set ({earlier.items} items, "
                 f"{earlier.judgments} judgments).")
    else:
        basis = ASSUMPTION_TEXT
    return {
        "min_delta": min_delta,
        "alpha": alpha,
        "power": power,
        "judgments_per_item": judgments_per_item,
        "items": chosen["items"],
        "judgments": chosen["judgments"],
        "sample_size": sample_size_for(chosen["items"], control_share),
        "sd": chosen["sd"],
        "source": "earlier_campaigns" if measured else "assumption",
        "basis": basis,
        "between_variance": round(components.between, 5),
        "within_variance": round(components.within, 5),
        "earlier_campaigns": earlier_campaigns if measured else 0,
        "test": "two-sided one-sample t-test of the mean per-item ΔGSB (statsmodels TTestPower)",
        "options": options,
    }


# --------------------------------------------------------------------------------------------- simulation


def model_components(*, delta: float, same_share: float = 1 / 3, concentration: float = 2.0) -> VarianceComponents:
    """The exact variance components of `simulate_verdicts`' model (Dirichlet item propensities):
    a single verdict has variance g + b − (g − b)², of which 1 / (concentration + 1) is between items."""
    good, bad = (1 - same_share + delta) / 2, (1 - same_share - delta) / 2
    total = good + bad - (good - bad) ** 2
    return VarianceComponents(between=total / (concentration + 1), within=total * concentration / (concentration + 1))


def simulate_verdicts(rng: np.random.Generator, *, campaigns: int, items: int, judgments_per_item: int,
                      delta: float, same_share: float = 1 / 3, concentration: float = 2.0) -> np.ndarray:
    """Simulated verdict signs, shape (campaigns, items, judgments): each item draws its own (G, S, B)
    propensities from a Dirichlet around (g, s, b) with g − b = `delta` (so the campaign's true ΔGSB is `delta`),
    then each judgment draws a verdict from them. Used by the tests and bench/sequential_stopping.py."""
    good, bad = (1 - same_share + delta) / 2, (1 - same_share - delta) / 2
    if min(good, bad) <= 0:
        raise ValueError("delta too large for the share of 'same' verdicts")
    propensities = rng.dirichlet(concentration * np.array([good, same_share, bad]), size=(campaigns, items))
    draws = rng.random((campaigns, items, judgments_per_item))
    p_good = propensities[..., :1]
    p_not_bad = p_good + propensities[..., 1:2]
    return np.where(draws < p_good, 1, np.where(draws < p_not_bad, 0, -1))
