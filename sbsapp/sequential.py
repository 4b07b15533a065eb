"""Sequential stopping for SBS campaigns as plain Python: an anytime-valid confidence sequence for ΔGSB and for the
win rate, and the verdict the dashboard shows, valid however often anyone looks.

Why not the sign test: an analyst who looks after every batch and stops at the first p < 0.05 has a false-positive
rate far above 5 % (bench/sequential_stopping.py measures it). A confidence sequence (CS) is a sequence of intervals
that contain the true value at every time at once with probability ≥ 1 − α, so stopping when it first excludes 0
keeps the false-stop rate at or below α.

The method is the hedged-capital betting CS of Waudby-Smith and Ramdas, "Estimating means of bounded random
variables by betting" (JRSS-B 2024, section 4.2, predictable plug-in bets), for observations in [0, 1]:

- for every candidate mean m two gamblers bet on each new observation x_t, one that the mean is above m and one
  below it: K⁺_t(m) = ∏ (1 + λ⁺_i (x_i − m)), K⁻_t(m) = ∏ (1 − λ⁻_i (x_i − m)), with stakes fixed before x_i is seen
  (`stakes`), capped at c/m and c/(1 − m) so that wealth stays positive;
- if the mean is m, ½K⁺ + ½K⁻ is a non-negative martingale starting at 1, so by Ville's inequality it ever reaches
  1/α with probability ≤ α; the CS at time t is every m whose hedged wealth max(½K⁺, ½K⁻) has stayed below 1/α
  (the running intersection over time, also valid);
- this needs nothing but bounded observations: no normality, no variance known in advance. With a plan, each
  gambler's wealth is the average of two betting strategies (`stakes`), still a martingale.

The maintained libraries were tried first and do not fit here: `confseq` (0.0.11, by the method's authors) does
not build on this Python (its build pins pybind11 2.6, which predates Python 3.11, and needs Boost headers),
`expectation` requires Python ≥ 3.12, and `savvi`'s anytime-valid t-test assumes Gaussian errors (our per-item
scores are discrete and bounded) while its multinomial CS solves a cvxpy problem per look (≈20 ms a look, too slow
to simulate). So this module computes the CS directly, on a grid of candidate means, with numpy; its false-stop rate
under continuous peeking is measured by tests/test_sbs_sequential.py and bench/sequential_stopping.py.

Observations: one per completed regular item (all its judgments in), in the order items completed.
- ΔGSB: the item's score is the mean of the sign of its judgments' preferences, in [−1, 1]; the mean of the scores of
  complete items is the campaign's ΔGSB = (G − B) / (G + S + B). Mapped to [0, 1] by (score + 1) / 2.
- Win rate: among complete items with a winner (the sign of the mean preference, as the dashboard's win/tie/loss),
  1 when B won. Its null value is ½ (the sign test's); ties carry no information about it and are left out.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import numpy as np

ALPHA = 0.05
GRID_POINTS = 1001  # candidate means in [0, 1]: a ΔGSB resolution of 0.002; 0.5 (no difference) is on the grid
BET_CAP = 0.5  # c: stakes at most c/m (c/(1 - m)) of the wealth, so that one observation loses at most half
MIN_ITEMS_TO_PROJECT = 10
CHUNK_CELLS = 250_000  # times × candidate means computed at once (memory bound)

B_BETTER, A_BETTER, NO_MEANINGFUL_DIFFERENCE, CONTINUE = "b_better", "a_better", "no_meaningful_difference", "continue"
VERDICT_TEXT = {
    B_BETTER: "B better, you can stop",
    A_BETTER: "A better, you can stop",
    NO_MEANINGFUL_DIFFERENCE: "No difference large enough to matter, you can stop",
}
STOPPING_VERDICTS = frozenset(VERDICT_TEXT)


# ------------------------------------------------------------------------------------------- the betting CS


def running_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The predictable estimates before each observation: μ̂_{t−1} and σ̂²_{t−1}, shape (..., T) each.

    μ̂_t = (½ + Σ_{i≤t} x_i) / (t + 1), σ̂²_t = (¼ + Σ_{i≤t} (x_i − μ̂_i)²) / (t + 1), with μ̂_0 = ½ and σ̂²_0 = ¼."""
    t = np.arange(1, x.shape[-1] + 1, dtype=float)
    mu_hat = (0.5 + np.cumsum(x, axis=-1)) / (t + 1)
    sigma2_hat = (0.25 + np.cumsum((x - mu_hat) ** 2, axis=-1)) / (t + 1)

    def before(values: np.ndarray, first: float) -> np.ndarray:
        return np.concatenate([np.full(x.shape[:-1] + (1,), first), values[..., :-1]], axis=-1)

    return before(mu_hat, 0.5), before(sigma2_hat, 0.25)


def stakes(x: np.ndarray, alpha: float, target: float | None) -> list[np.ndarray]:
    """The betting strategies whose wealths are averaged, each a stake λ_t (before the cap) fixed before x_t.

    - predictable plug-in: λ_t = sqrt(2 log(2/α) / (σ̂²_{t−1} t log(1 + t))), the paper's default; it makes the CS
      shrink to the mean;
    - with a planned smallest difference (`target`, on the [0, 1] scale: δ/2), also the bet that grows wealth fastest
      when the mean is `target` away from m: λ_t = target / (σ̂²_{t−1} + target²). Averaging two martingales is a
      martingale, so the mixture is as valid as either; it stops sooner at effects near δ (about the plan's size)."""
    _, sigma2 = running_moments(x)
    t = np.arange(1, x.shape[-1] + 1, dtype=float)
    found = [np.sqrt(2 * math.log(2 / alpha) / (sigma2 * t * np.log1p(t)))]
    if target:
        found.append(target / (sigma2 + target * target))
    return found


def log_side_wealths(x: np.ndarray, m: np.ndarray, alpha: float, target: float | None) -> tuple[np.ndarray, ...]:
    """log K⁺_t(m) and log K⁻_t(m) (each averaged over the strategies), shape (..., T, len(m)) each."""
    excess = x[..., None] - m
    cap_up = BET_CAP / np.maximum(m, 1e-12)
    cap_down = BET_CAP / np.maximum(1 - m, 1e-12)
    ups, downs = [], []
    for stake in stakes(x, alpha, target):
        stake = stake[..., None]
        ups.append(np.cumsum(np.log1p(np.minimum(stake, cap_up) * excess), axis=-2))
        downs.append(np.cumsum(np.log1p(-np.minimum(stake, cap_down) * excess), axis=-2))
    share = math.log(len(ups))
    return np.logaddexp.reduce(ups, axis=0) - share, np.logaddexp.reduce(downs, axis=0) - share


def log_hedged_wealth(x: np.ndarray, m: np.ndarray, alpha: float, target: float | None = None) -> np.ndarray:
    """log max(½K⁺_t(m), ½K⁻_t(m)) for every time t and candidate mean m: shape (..., T, len(m))."""
    up, down = log_side_wealths(np.asarray(x, dtype=float), np.asarray(m, dtype=float), alpha, target)
    return np.maximum(up, down) - math.log(2)


def rejected_at(x: np.ndarray, m: float, *, alpha: float = ALPHA, target: float | None = None) -> np.ndarray:
    """Per time t (shape (..., T)): whether the mean m is out of the CS (running intersection) at t, and on which
    side: +1 when the data say the mean is above m, −1 below, 0 while m is still in. This is the test behind a
    "B better" / "A better" verdict (m = ½, no difference), vectorised over simulated campaigns."""
    up, down = log_side_wealths(np.asarray(x, dtype=float), np.array([m], dtype=float), alpha, target)
    threshold = math.log(2 / alpha)
    crossed_up = np.maximum.accumulate(up[..., 0] >= threshold, axis=-1)
    crossed_down = np.maximum.accumulate(down[..., 0] >= threshold, axis=-1)
    return np.where(crossed_up & ~crossed_down, 1, np.where(crossed_down & ~crossed_up, -1, 0))


def first_verdicts(x: np.ndarray, *, alpha: float = ALPHA, min_delta: float | None = None) -> tuple[np.ndarray, ...]:
    """When each simulated campaign (rows of per-item ΔGSB scores on the [0, 1] scale) first reaches a stopping
    verdict, and which: (items, code) with items = T + 1 and code = CONTINUE where none came.

    The same rule as `verdict_of` on the dashboard's interval, from three candidate means only: the CS is an interval
    (a running intersection of intervals), so it is above or below 0 once ΔGSB = 0 is out, and inside (−δ, δ) once
    ±δ are both out while 0 is still in."""
    x = np.asarray(x, dtype=float)
    steps = x.shape[-1]
    target = min_delta / 2 if min_delta else None

    def first_out(m: float) -> tuple[np.ndarray, np.ndarray]:
        side = rejected_at(x, m, alpha=alpha, target=target)
        out = side != 0
        return np.where(out.any(axis=-1), out.argmax(axis=-1) + 1, steps + 1), side[..., -1]

    zero_at, zero_side = first_out(0.5)
    items = zero_at.copy()
    code = np.where(zero_side > 0, B_BETTER, np.where(zero_side < 0, A_BETTER, CONTINUE)).astype(object)
    if min_delta:
        below_at, _ = first_out(0.5 - target)
        above_at, _ = first_out(0.5 + target)
        inside_at = np.maximum(below_at, above_at)
        inside = inside_at < zero_at
        items = np.where(inside, inside_at, items)
        code = np.where(inside, NO_MEANINGFUL_DIFFERENCE, code)
    code = np.where(items > steps, CONTINUE, code)
    return items, code


@dataclass(frozen=True)
class Interval:
    """The CS after the last observation (running intersection), on the [0, 1] scale of the observations: the
    smallest and largest candidate mean of the grid still in it."""

    low: float
    high: float
    n: int


def confidence_sequence(x: Iterable[float], *, alpha: float = ALPHA, target: float | None = None,
                        grid: int = GRID_POINTS) -> Interval | None:
    """The running-intersection CS after the last of `x` (values in [0, 1]); None before any observation.

    Computed on `grid` candidate means, a slice of the grid at a time so that memory stays bounded for long
    campaigns. Should the running intersection be empty (probability ≤ α) the current CS is reported instead."""
    x = np.asarray(list(x), dtype=float)
    if x.size == 0:
        return None
    if np.any((x < 0) | (x > 1)):
        raise ValueError("observations must lie in [0, 1]")
    m = np.linspace(0, 1, grid)
    threshold = math.log(1 / alpha)
    kept = np.empty(grid, dtype=bool)
    now = np.empty(grid, dtype=bool)
    chunk = max(1, CHUNK_CELLS // x.size)
    for start in range(0, grid, chunk):
        wealth = log_hedged_wealth(x, m[start:start + chunk], alpha, target)
        kept[start:start + chunk] = (wealth < threshold).all(axis=0)
        now[start:start + chunk] = wealth[-1] < threshold
    inside = kept if kept.any() else now
    if not inside.any():  # only with a grid too coarse for the data: fall back to the sample mean
        return Interval(float(x.mean()), float(x.mean()), int(x.size))
    where = np.flatnonzero(inside)
    return Interval(round(float(m[where[0]]), 6), round(float(m[where[-1]]), 6), int(x.size))


# ------------------------------------------------------------------------------------ observations, verdicts


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


def completed_items(preferences: Iterable[tuple[object, int]], *, judgments_per_item: int) -> list[list[int]]:
    """The preferences of each item that has all its judgments, in the order items completed.

    `preferences`: (item, preference toward B) per non-skipped judgment of regular items, in the order they were
    recorded."""
    so_far: dict = defaultdict(list)
    complete = []
    for item, preference in preferences:
        mine = so_far[item]
        if len(mine) >= judgments_per_item:
            continue
        mine.append(preference)
        if len(mine) == judgments_per_item:
            complete.append(mine)
    return complete


def item_score(preferences: list[int]) -> float:
    """ΔGSB of one item: (G − B) / (G + S + B) over its judgments, in [−1, 1]."""
    return sum(sign(p) for p in preferences) / len(preferences)


def item_outcome(preferences: list[int]) -> int:
    """Win (+1), tie (0) or loss (−1) for B: the sign of the mean preference, as the dashboard counts them."""
    return sign(sum(preferences))


@dataclass(frozen=True)
class SequentialVerdict:
    code: str
    text: str
    more_items: int | None = None

    @property
    def stop(self) -> bool:
        return self.code in STOPPING_VERDICTS


def verdict_of(low: float, high: float, *, min_delta: float | None) -> str:
    """The verdict from a ΔGSB interval: above 0, below 0, inside (−δ, δ), or none yet."""
    if low > 0:
        return B_BETTER
    if high < 0:
        return A_BETTER
    if min_delta is not None and -min_delta < low and high < min_delta:
        return NO_MEANINGFUL_DIFFERENCE
    return CONTINUE


def more_items_needed(*, n: int, estimate: float, low: float, high: float, min_delta: float | None,
                      planned_items: int | None) -> int | None:
    """About how many more complete items until a verdict, at the current estimate.

    With at least `MIN_ITEMS_TO_PROJECT` items, from the current width: the CS's half-width shrinks about like
    1/sqrt(n), and a verdict needs it below |estimate| (to exclude 0) or below δ − |estimate| (to fit inside ±δ),
    whichever is easier. Before that, what is left of the plan. None when there is nothing to project from (no plan
    and no effect yet)."""
    if n >= MIN_ITEMS_TO_PROJECT and high > low:
        half_width = (high - low) / 2
        target = abs(estimate)
        if min_delta is not None:
            target = max(target, min_delta - abs(estimate))
        if target > 0:
            return max(1, math.ceil(n * (half_width / target) ** 2) - n)
    if planned_items is not None:
        return max(1, planned_items - n)
    return None


def sequential_summary(preferences: Iterable[tuple[object, int]], *, judgments_per_item: int,
                       alpha: float = ALPHA, min_delta: float | None = None,
                       planned_items: int | None = None) -> dict:
    """The dashboard's and the API's sequential block (JSON-ready): both CSs, the verdict and what it rests on."""
    complete = completed_items(preferences, judgments_per_item=judgments_per_item)
    scores = [item_score(prefs) for prefs in complete]
    decided = [outcome for outcome in map(item_outcome, complete) if outcome]
    target = min_delta / 2 if min_delta else None  # δ on the [0, 1] scale of the observations
    delta_cs = confidence_sequence([(s + 1) / 2 for s in scores], alpha=alpha, target=target)
    win_cs = confidence_sequence([(o + 1) / 2 for o in decided], alpha=alpha)
    summary = {
        "alpha": alpha,
        "level": 1 - alpha,
        "min_delta": min_delta,
        "items": len(scores),
        "delta_gsb": sum(scores) / len(scores) if scores else None,
        "delta_low": round(2 * delta_cs.low - 1, 6) if delta_cs else None,
        "delta_high": round(2 * delta_cs.high - 1, 6) if delta_cs else None,
        "decided_items": len(decided),
        "win_share": sum(o > 0 for o in decided) / len(decided) if decided else None,
        "win_low": win_cs.low if win_cs else None,
        "win_high": win_cs.high if win_cs else None,
    }
    if delta_cs is None:
        verdict = SequentialVerdict(CONTINUE, "No complete item yet.", planned_items)
    else:
        code = verdict_of(summary["delta_low"], summary["delta_high"], min_delta=min_delta)
        if code in STOPPING_VERDICTS:
            verdict = SequentialVerdict(code, VERDICT_TEXT[code])
        else:
            more = more_items_needed(n=len(scores), estimate=summary["delta_gsb"], low=summary["delta_low"],
                                     high=summary["delta_high"], min_delta=min_delta, planned_items=planned_items)
            verdict = SequentialVerdict(code, continue_text(more, min_delta), more)
    summary.update({"verdict": verdict.code, "verdict_text": verdict.text, "more_items": verdict.more_items,
                    "stop": verdict.stop})
    return summary


def continue_text(more: int | None, min_delta: float | None) -> str:
    size = (f"a difference large enough to matter (|ΔGSB| ≥ {min_delta:g})" if min_delta is not None
            else "a difference either way")
    if more is None:
        return f"No verdict yet: {size} is still possible; no effect yet to project from."
    plural = "item" if more == 1 else "items"
    return f"No verdict yet: {size} is still possible: about {more} more complete {plural}."
