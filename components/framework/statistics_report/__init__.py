"""HTML report of statistics (StatisticsGen, Transform): facets-style overview and charts.

One self-contained page per statistics artifact: a sortable overview table (one row per
feature: type, count, missing %, mean, std, zeros %, min, median, max, distinct, top value,
and the train/eval L-infinity and Jensen-Shannon distances), per-feature histograms with
their real minimum and maximum on the axis and a log-scale toggle, a quantiles table, and
small-range integers drawn as categories. The figures are embedded once as JSON
(:mod:`.figures`) and drawn in the browser (:mod:`.page`), lazily, so 1,000 features open
at once.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gristmill.components.framework.statistics_model import DatasetStatistics

REPORT_FILE = "report.html"

__all__ = ["REPORT_FILE", "render_statistics_report"]


def _source_line(pipeline_name: str, run_id: str, component_id: str, artifact_uri: str) -> str:
    parts = [("pipeline", pipeline_name), ("run", run_id), ("component", component_id),
             ("artifact", artifact_uri)]
    return " &middot; ".join(f"{name} <b>{html.escape(value)}</b>" for name, value in parts
                             if value)


def render_statistics_report(stats: dict[str, DatasetStatistics], title: str = "Statistics",
                             *, pipeline_name: str = "", run_id: str = "",
                             component_id: str = "", artifact_uri: str = "") -> str:
    """Render statistics of several splits as one self-contained HTML page.

    Args:
        stats: Split name -> its statistics.
        title: What the statistics are (``"Statistics"``, ``"Post-transform statistics"``);
            the page title adds the pipeline, run and component when given.
        pipeline_name, run_id, component_id, artifact_uri: Where the statistics come from
            (shown under the title; any may be empty).
    """
    # imported here: executors import REPORT_FILE at module level, the page only at the end
    from gristmill.components.framework.html import table
    from gristmill.components.framework.statistics_model import gc_paused
    from gristmill.components.framework.statistics_report.figures import (
        QUANTILE_RANKS,
        report_figures,
    )
    from gristmill.components.framework.statistics_report.page import render_page

    with gc_paused():  # acyclic dicts and lists: full collections were 40% of the report
        figures = report_figures(stats)
    figures["quantile_ranks"] = list(QUANTILE_RANKS)
    full_title = " / ".join(p for p in (title, pipeline_name, run_id and f"run {run_id}",
                                         component_id) if p)
    splits = table(["split", "examples", "features", "weighted examples",
                    "quantile sample rate", "slices"],
                   [[split, s.num_examples, len(s.features), s.weighted_num_examples,
                     s.quantile_sample_rate, len(s.slices)] for split, s in stats.items()])
    body = "<h2>Splits</h2>" + splits
    if figures["slices"]:
        body += "<h2>Slices</h2>" + table(["split", "slice", "examples"], figures["slices"],
                                          left_columns=2)
    with gc_paused():
        return render_page(full_title, _source_line(pipeline_name, run_id, component_id,
                                                    artifact_uri), figures, body)
