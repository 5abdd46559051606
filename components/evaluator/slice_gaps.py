"""The per-slice gap report: how far each slice falls behind the overall metric.

For fairness review: for every metric, the slices sorted from worst to best by their
*shortfall* against the overall value (positive = worse than overall, read in the metric's
direction: lower accuracy, higher log loss).
"""

from __future__ import annotations

import math
from typing import Any

from gristmill.components.evaluator.config import LOWER_IS_BETTER_METRICS
from gristmill.components.evaluator.validation import OVERALL

_SKIP = frozenset({"example_count", "mean_label", "mean_prediction", "calibration"})


def slice_gap_report(slices: list[dict[str, Any]], worst: int = 5) -> dict[str, Any]:
    """Rank slices by shortfall against the overall slice, per metric.

    Args:
        slices: Scored slices (see :func:`~gristmill.components.evaluator.slicing.
            score_slice`), omitted ones excluded.
        worst: How many of the worst slices to list per metric.

    Returns:
        ``{"metrics": {metric: {"overall", "direction", "worst_slices": [{"slice",
        "example_count", "value", "gap", "shortfall"}], "max_shortfall"}}}``; ``gap`` is
        ``slice - overall``.
    """
    overall = next((s for s in slices if s["slice"] == OVERALL), None)
    if overall is None or "candidate" not in overall:
        return {"metrics": {}}
    report: dict[str, Any] = {}
    for metric, base in overall["candidate"]["metrics"].items():
        if metric in _SKIP or base is None or math.isnan(base):
            continue
        lower = metric in LOWER_IS_BETTER_METRICS
        rows = []
        for piece in slices:
            value = piece.get("candidate", {}).get("metrics", {}).get(metric)
            if piece["slice"] == OVERALL or value is None or math.isnan(value):
                continue
            gap = value - base
            rows.append({"slice": piece["slice"], "example_count": piece["example_count"],
                         "value": value, "gap": gap, "shortfall": (gap if lower else -gap) + 0.0})
        rows.sort(key=lambda r: (-r["shortfall"], r["slice"]))
        report[metric] = {"overall": base,
                          "direction": "LOWER_IS_BETTER" if lower else "HIGHER_IS_BETTER",
                          "worst_slices": rows[:worst],
                          "max_shortfall": rows[0]["shortfall"] if rows else None}
    return {"metrics": report}
