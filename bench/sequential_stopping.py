"""Benchmark: the sequential verdict against peeking at the sign test, and against the fixed-size plan.

Campaigns are simulated with `sbsapp.planning.simulate_verdicts` (each item draws its own G/S/B propensities around
a true ΔGSB; judgments draw verdicts from them: 3 judgments per item, a third of verdicts "same", an intra-class
correlation of 1/3). The plan is `sbsapp.planning.plan_campaign` for the smallest ΔGSB worth detecting (`--delta`)
from the model's variance; the sequential verdict is `sbsapp.sequential` (the dashboard's rule).

1. Under the null (true ΔGSB 0), an analyst looks after every complete item. The naive analyst stops at the first
   two-sided p < α, of the sign test on query wins/losses (what the dashboard's projection pointed to) or of the
   t-test on per-item ΔGSB (the same error with the CI); the sequential analyst stops at "B better" or "A better".
   Printed: the share of campaigns that stopped with a difference that is not there, looking up to the plan's size
   and up to `--horizon` times it.
2. Under several true effects: the fixed-size plan's power (t-test once, at the planned size) beside the sequential
   verdict's items to stop (a run without a verdict by the horizon counts as the horizon) and which verdicts.

    .venv/bin/python bench/sequential_stopping.py            # about a minute on two cores
    .venv/bin/python bench/sequential_stopping.py --delta 0.05 --null-campaigns 4000
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sbsapp import planning, sequential  # noqa: E402  (after the path set-up; plain Python, no Django)

JUDGMENTS_PER_ITEM = 3


def scores(rng, *, campaigns: int, items: int, delta: float) -> np.ndarray:
    """Per-item ΔGSB scores in [-1, 1], shape (campaigns, items)."""
    return planning.simulate_verdicts(rng, campaigns=campaigns, items=items, judgments_per_item=JUDGMENTS_PER_ITEM,
                                      delta=delta).mean(axis=-1)


def sign_test_p(x: np.ndarray) -> np.ndarray:
    """Two-sided sign test p after every item (exact binomial; = scipy's binomtest at p = 1/2)."""
    from scipy.stats import binom

    wins, losses = np.cumsum(x > 0, axis=-1), np.cumsum(x < 0, axis=-1)
    p = np.minimum(1.0, 2 * binom.cdf(np.minimum(wins, losses), wins + losses, 0.5))
    return np.where(wins + losses == 0, 1.0, p)


def t_test_p(x: np.ndarray) -> np.ndarray:
    """Two-sided one-sample t-test p of the mean per-item ΔGSB after every item (from item 2 on)."""
    from scipy.stats import t as student

    n = np.arange(1, x.shape[-1] + 1)
    mean = np.cumsum(x, axis=-1) / n
    var = (np.cumsum(x * x, axis=-1) - n * mean ** 2) / np.maximum(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = mean / np.sqrt(var / n)
        p = 2 * student.sf(np.abs(stat), np.maximum(n - 1, 1))  # all items alike and not 0: t = ±inf, p = 0
    return np.where((n < 2) | np.isnan(stat), 1.0, p)


def rate(stopped: np.ndarray) -> dict:
    share = float(stopped.mean())
    return {"rate": round(share, 4), "se": round(float(np.sqrt(share * (1 - share) / stopped.size)), 4)}


def null_table(rng, *, campaigns: int, planned: int, horizon: int, alpha: float, delta: float) -> list[dict]:
    x = scores(rng, campaigns=campaigns, items=horizon, delta=0.0)
    unit = (x + 1) / 2
    looks = {"up to the plan": planned, "up to the horizon": horizon}
    rows = []
    for name, p_values in (("sign test, stop at first p < α", sign_test_p(x)),
                           ("t-test on per-item ΔGSB, stop at first p < α", t_test_p(x))):
        rows.append({"method": name, **{k: rate((p_values[:, :n] < alpha).any(axis=-1)) for k, n in looks.items()}})
    for name, target in (("confidence sequence, no plan", None), (f"confidence sequence, planned δ = {delta}",
                                                                  delta / 2)):
        out = sequential.rejected_at(unit, 0.5, alpha=alpha, target=target) != 0
        rows.append({"method": name, **{k: rate(out[:, n - 1]) for k, n in looks.items()}})
    fixed = t_test_p(x[:, :planned])[:, -1] < alpha
    rows.append({"method": "fixed-size plan, one t-test at the planned size", "up to the plan": rate(fixed),
                 "up to the horizon": rate(fixed)})
    return rows


def effect_table(rng, *, campaigns: int, planned: int, horizon: int, alpha: float, delta: float,
                 effects: list[float]) -> list[dict]:
    rows = []
    for effect in effects:
        x = scores(rng, campaigns=campaigns, items=horizon, delta=effect)
        fixed_power = float((t_test_p(x[:, :planned])[:, -1] < alpha).mean())
        items, code = sequential.first_verdicts((x + 1) / 2, alpha=alpha, min_delta=delta)
        used = np.minimum(items, horizon)
        right = sequential.B_BETTER if effect > 0 else sequential.NO_MEANINGFUL_DIFFERENCE if effect == 0 else None
        rows.append({
            "true_delta_gsb": effect,
            "fixed_items": planned,
            "fixed_detects": round(fixed_power, 3),
            "sequential_mean_items": round(float(used.mean()), 1),
            "sequential_median_items": float(np.median(used)),
            "verdict_by_plan_size": round(float(((items <= planned) & (code != sequential.CONTINUE)).mean()), 3),
            "b_better": round(float((code == sequential.B_BETTER).mean()), 3),
            "a_better": round(float((code == sequential.A_BETTER).mean()), 3),
            "no_meaningful_difference": round(float((code == sequential.NO_MEANINGFUL_DIFFERENCE).mean()), 3),
            "no_verdict_by_horizon": round(float((code == sequential.CONTINUE).mean()), 3),
            "expected_verdict": right,
        })
    return rows


def print_tables(result: dict) -> None:
    plan, horizon = result["plan"], result["horizon_items"]
    print(f"\nPlan: ΔGSB {plan['min_delta']}, α {plan['alpha']}, power {plan['power']}, {JUDGMENTS_PER_ITEM} judgments "
          f"per item, per-item sd {plan['sd']}: {plan['items']} complete items. Horizon {horizon} items.\n")
    print(f"False stops under the null (true ΔGSB 0), a look after every item, {result['null_campaigns']} campaigns:\n")
    print(f"| method | looks 1..{plan['items']} (plan) | looks 1..{horizon} (horizon) |")
    print("|---|---:|---:|")
    for row in result["null"]:
        cells = [f"{row[k]['rate']:.3f} ± {row[k]['se']:.3f}" for k in ("up to the plan", "up to the horizon")]
        print(f"| {row['method']} | {cells[0]} | {cells[1]} |")
    print(f"\nItems to a verdict, {result['effect_campaigns']} campaigns per effect (the fixed plan always uses "
          f"{plan['items']}):\n")
    print("| true ΔGSB | fixed plan detects | sequential: mean items | median | verdict by plan size | B better | "
          "A better | no difference ≥ δ | none by horizon |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in result["effects"]:
        print(f"| {row['true_delta_gsb']:+.2f} | {row['fixed_detects']:.3f} | {row['sequential_mean_items']:.0f} | "
              f"{row['sequential_median_items']:.0f} | {row['verdict_by_plan_size']:.3f} | {row['b_better']:.3f} | "
              f"{row['a_better']:.3f} | {row['no_meaningful_difference']:.3f} | {row['no_verdict_by_horizon']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delta", type=float, default=0.1, help="smallest ΔGSB worth detecting (the plan's)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--horizon", type=float, default=3.0, help="longest campaign, in multiples of the plan")
    parser.add_argument("--null-campaigns", type=int, default=2000)
    parser.add_argument("--effect-campaigns", type=int, default=500)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sequential_stopping.json")
    args = parser.parse_args()

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    truth = replace(planning.model_components(delta=0.0), items=10_000)
    plan = planning.plan_campaign(min_delta=args.delta, alpha=args.alpha, power=args.power,
                                  judgments_per_item=JUDGMENTS_PER_ITEM, control_share=0.0, earlier=truth,
                                  earlier_campaigns=1)
    horizon = int(round(args.horizon * plan["items"]))
    effects = [0.0, args.delta / 2, args.delta, 1.5 * args.delta, 2 * args.delta, 3 * args.delta, -args.delta]
    result = {
        "plan": {key: plan[key] for key in ("min_delta", "alpha", "power", "items", "sd")},
        "horizon_items": horizon,
        "null_campaigns": args.null_campaigns,
        "effect_campaigns": args.effect_campaigns,
        "null": null_table(rng, campaigns=args.null_campaigns, planned=plan["items"], horizon=horizon,
                           alpha=args.alpha, delta=args.delta),
        "effects": effect_table(rng, campaigns=args.effect_campaigns, planned=plan["items"], horizon=horizon,
                                alpha=args.alpha, delta=args.delta, effects=effects),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    print_tables(result)
    print(f"\n{result['seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
