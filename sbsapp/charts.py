"""Geometry for the dashboard's charts, drawn as inline SVG and CSS by the templates (no JavaScript, no CDN).

`ci_plot` places ΔGSB and its 95% CI for the overall result and every segment and query type on a −1..+1 axis;
`gsb_bars` gives the Good/Same/Bad shares of each group for stacked bars.
"""
from __future__ import annotations

PLOT_WIDTH = 720
LABEL_WIDTH = 170
RIGHT_MARGIN = 120
ROW_HEIGHT = 26
TOP = 24


def axis_x(value: float) -> float:
    """Map ΔGSB in [-1, 1] to an x coordinate inside the plot area."""
    span = PLOT_WIDTH - LABEL_WIDTH - RIGHT_MARGIN
    clamped = max(-1.0, min(1.0, value))
    return round(LABEL_WIDTH + (clamped + 1) / 2 * span, 1)


def ci_plot(metrics: dict) -> dict:
    groups = [("Overall", metrics["overall"])]
    groups += [(f"segment: {row['group']}", row) for row in metrics["by_segment"]]
    groups += [(f"type: {row['group']}", row) for row in metrics["by_query_type"]]
    rows = []
    for index, (label, summary) in enumerate(groups):
        delta = summary["delta_gsb"]
        y = TOP + index * ROW_HEIGHT + ROW_HEIGHT / 2
        rows.append({
            "label": label,
            "y": y,
            "text_y": y + 4,
            "delta": delta,
            "x": axis_x(delta) if delta is not None else None,
            "x_low": axis_x(summary["ci_low"]) if summary["ci_low"] is not None else None,
            "x_high": axis_x(summary["ci_high"]) if summary["ci_high"] is not None else None,
            "queries": summary["queries"],
            "significant": summary["significant"],
        })
    height = TOP + len(rows) * ROW_HEIGHT + 12
    return {
        "width": PLOT_WIDTH,
        "height": height,
        "rows": rows,
        "zero_x": axis_x(0.0),
        "value_x": PLOT_WIDTH - RIGHT_MARGIN + 8,
        "ticks": [{"x": axis_x(t), "label": f"{t:+.1f}" if t else "0"} for t in (-1.0, -0.5, 0.0, 0.5, 1.0)],
        "axis_bottom": height - 8,
    }


def gsb_bars(rows: list[dict]) -> list[dict]:
    bars = []
    for row in rows:
        total = row["good"] + row["same"] + row["bad"]
        share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0)
        bars.append({
            "group": row["group"],
            "good": row["good"], "same": row["same"], "bad": row["bad"], "total": total,
            "good_pct": share(row["good"]), "same_pct": share(row["same"]), "bad_pct": share(row["bad"]),
        })
    return bars
