"""Seeds and paired confidence intervals for comparing two retrievers on the same test queries.

A run gives per-query metrics for a baseline and a treatment per seed. `paired_summary` reports, per segment and
metric: each system's mean over seeds (and the sd of the per-seed means), and the treatment - baseline difference
with a paired bootstrap 95 % CI over queries (each query's difference averaged over the seeds first), through
`scipy.stats.bootstrap`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

METRICS = ("Recall@100", "nDCG@10")
PerQuery = Mapping[str, Mapping[str, float]]  # {query id: {metric: value}}


def segment_mean(per_query: PerQuery, queries: Sequence[str], metric: str) -> float:
    return sum(per_query[q][metric] for q in queries) / len(queries) if queries else float("nan")


def bootstrap_ci(differences: Sequence[float], *, seed: int = 13, resamples: int = 10_000) -> list[float]:
    """Percentile bootstrap 95 % CI of the mean of paired differences (over queries)."""
    import numpy as np
    from scipy.stats import bootstrap

    values = np.asarray(differences, dtype=float)
    if len(values) < 2 or np.allclose(values, values[0]):
        return [float(values.mean()), float(values.mean())] if len(values) else [float("nan")] * 2
    result = bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=resamples, method="percentile",
                       random_state=np.random.default_rng(seed))
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def paired_summary(*, baseline: Sequence[PerQuery], treatment: Sequence[PerQuery],
                   segments: Mapping[str, Sequence[str]], metrics: Sequence[str] = METRICS) -> dict:
    """`baseline[i]` and `treatment[i]` are seed i's per-query metrics (the same queries). Returns
    {"baseline": {segment: {metric: {"mean", "sd"}}}, "treatment": ..., "treatment-baseline": {segment: {metric:
    {"mean", "ci95", "sd_over_seeds", "queries"}}}}."""
    import numpy as np

    if len(baseline) != len(treatment) or not baseline:
        raise ValueError("One baseline and one treatment run per seed are needed.")
    out: dict = {"baseline": {}, "treatment": {}, "treatment-baseline": {}}
    for segment, queries in segments.items():
        queries = [q for q in queries if q in baseline[0]]
        for label, runs in (("baseline", baseline), ("treatment", treatment)):
            out[label][segment] = {}
            for metric in metrics:
                per_seed = [segment_mean(run, queries, metric) for run in runs]
                out[label][segment][metric] = {"mean": round(float(np.mean(per_seed)), 4),
                                               "sd": round(float(np.std(per_seed, ddof=1)), 4) if len(runs) > 1 else 0.0}
        out["treatment-baseline"][segment] = {}
        for metric in metrics:
            differences = [float(np.mean([t[q][metric] - b[q][metric] for b, t in zip(baseline, treatment)]))
                           for q in queries]
            per_seed = [segment_mean(t, queries, metric) - segment_mean(b, queries, metric)
                        for b, t in zip(baseline, treatment)]
            out["treatment-baseline"][segment][metric] = {
                "mean": round(float(np.mean(differences)), 4) if queries else None,
                "ci95": [round(x, 4) for x in bootstrap_ci(differences)] if queries else None,
                "sd_over_seeds": round(float(np.std(per_seed, ddof=1)), 4) if len(per_seed) > 1 else 0.0,
                "queries": len(queries)}
    return out


def paired_table(summary: dict, *, metrics: Sequence[str] = METRICS) -> str:
    """Markdown: one row per segment, baseline and treatment mean ± sd over seeds, the difference and its CI (points)."""
    header = ["segment", "queries"]
    for metric in metrics:
        header += [f"baseline {metric}", f"treatment {metric}", f"Δ {metric} (points)", "95 % CI"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for segment, row in summary["treatment-baseline"].items():
        cells = [segment, str(row[metrics[0]]["queries"])]
        for metric in metrics:
            b, t, d = summary["baseline"][segment][metric], summary["treatment"][segment][metric], row[metric]
            if d["mean"] is None:
                cells += ["-"] * 4
                continue
            cells += [f"{b['mean']:.3f} ± {b['sd']:.3f}", f"{t['mean']:.3f} ± {t['sd']:.3f}",
                      f"{100 * d['mean']:+.1f}", f"[{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}]"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
