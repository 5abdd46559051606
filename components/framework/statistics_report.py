"""HTML report of StatisticsGen: per-feature tables and charts, splits side by side."""

from __future__ import annotations

from gristmill.components.framework.html import bar_chart, esc, fmt, legend, page, table
from gristmill.components.framework.statistics_model import (
    DatasetStatistics,
    FeatureStatistics,
    Histogram,
    rebin_histogram,
)


def _overview(stats: dict[str, DatasetStatistics]) -> str:
    rows = [[split, s.num_examples, len(s.features), s.weighted_num_examples,
             s.quantile_sample_rate, len(s.slices)] for split, s in stats.items()]
    return table(["split", "examples", "features", "weighted examples", "quantile sample rate",
                  "slices"], rows)


def _numeric_rows(features: dict[str, FeatureStatistics]) -> list[list[object]]:
    rows = []
    for split, f in features.items():
        n = f.numeric
        rows.append([split, f.num_present, f.num_missing, n.num_zeros, n.mean, n.std_dev,
                     n.min, n.median, n.max, n.num_nan + n.num_pos_inf + n.num_neg_inf])
    return rows


def _standard_chart(hists: dict[str, Histogram], buckets: int) -> str:
    """Equal-width histograms of every split re-binned onto common edges.

    Splits differ in range and bucket count (a column constant in one split has one
    zero-width bucket), so each split's mass is re-binned onto ``buckets`` equal-width
    intervals over the union of their ranges before the bars are grouped.
    """
    low = min(b.low for h in hists.values() for b in h.buckets)
    high = max(b.high for h in hists.values() for b in h.buckets)
    if high <= low:  # every split constant at the same value: one bucket
        edges = [low, high]
    else:
        # low * (1 - t) + high * t: no overflow for ranges beyond 1.8e308
        edges = [low * (1 - i / buckets) + high * (i / buckets) for i in range(buckets)] + [high]
    labels = [fmt(x) for x in edges[:-1]]
    series = {s: rebin_histogram(h, edges) for s, h in hists.items()}
    return bar_chart(labels, series, title="equal-width histogram (share of values)")


def _quantile_chart(hists: dict[str, Histogram]) -> str:
    """Widths of the quantile buckets of each split, labelled by rank."""
    buckets = max(len(h.buckets) for h in hists.values())
    series = {s: [b.high / 2 - b.low / 2 for b in h.buckets] + [0.0] * (buckets - len(h.buckets))
              for s, h in hists.items()}
    labels = [f"{i * 100 // buckets}%" for i in range(buckets)]
    return bar_chart(labels, series, title="quantile bucket widths (share of range)")


def _numeric_section(features: dict[str, FeatureStatistics], charted: bool) -> str:
    figures = table(["split", "count", "missing", "zeros", "mean", "std", "min", "median",
                     "max", "NaN/Inf"], _numeric_rows(features))
    if not charted:
        return figures
    charts = []
    standard = {split: f.numeric.histogram("standard") for split, f in features.items()
                if f.numeric.histogram("standard") is not None}
    if standard:
        charts.append(_standard_chart(standard, max(len(h.buckets) for h in standard.values())))
    quantiles = {split: f.numeric.histogram("quantiles") for split, f in features.items()
                 if f.numeric.histogram("quantiles") is not None}
    if quantiles:
        charts.append(_quantile_chart(quantiles))
    return figures + f"<div class='feature'>{''.join(charts)}</div>"


def _string_section(features: dict[str, FeatureStatistics], charted: bool) -> str:
    rows = []
    for split, f in features.items():
        s = f.string
        unique = fmt(s.unique) + ("" if s.unique_is_exact else " (est.)")
        rows.append([split, f.num_present, f.num_missing, unique, s.avg_length,
                     s.top_values[0].value if s.top_values else None])
    figures = table(["split", "count", "missing", "unique", "avg length", "most frequent"], rows)
    if not charted:
        return figures
    top_values: list[str] = []
    for f in features.values():
        for v in f.string.top_values:
            if v.value not in top_values:
                top_values.append(v.value)
    top_values = top_values[:20]
    series = {}
    for split, f in features.items():
        counts = {v.value: v.count for v in f.string.top_values}
        total = max(1, f.num_values)
        series[split] = [counts.get(v, 0.0) / total for v in top_values]
    chart = bar_chart(top_values, series, title="top values (share of values)", horizontal=True,
                      width=420) if top_values else ""
    return figures + f"<div class='feature'>{chart}</div>"


def _feature_section(name: str, features: dict[str, FeatureStatistics], charted: bool) -> str:
    first = next(iter(features.values()))
    kind = f"{first.type} ({esc(first.arrow_type)})"
    if first.is_list:
        kind += f", {fmt(first.min_num_values)}&ndash;{fmt(first.max_num_values)} values per row"
    header = f"<h3>{esc(name)} <span class='muted'>{kind}</span></h3>"
    if all(f.numeric is not None for f in features.values()):
        return header + _numeric_section(features, charted)
    if all(f.string is not None for f in features.values()):
        return header + _string_section(features, charted)
    rows = [[split, f.type, f.num_present, f.num_missing] for split, f in features.items()]
    return header + table(["split", "type", "count", "missing"], rows)


#: Features beyond this many get figures without charts (wide data: 5,000 features of SVG
#: took seconds and made a page nobody scrolls; statistics.json holds everything).
MAX_CHARTED_FEATURES = 500


def render_statistics_report(stats: dict[str, DatasetStatistics], title: str = "Statistics"
                             ) -> str:
    """Render statistics of several splits as one self-contained HTML page.

    Args:
        stats: Split name -> its statistics.
        title: Page title.
    """
    names: dict[str, None] = {}  # ordered set: wide data must not be quadratic
    for s in stats.values():
        names.update(dict.fromkeys(s.feature_names))
    sections = []
    for index, name in enumerate(names):
        per_split = {split: s.feature(name) for split, s in stats.items()
                     if s.feature(name) is not None}
        sections.append(_feature_section(name, per_split, index < MAX_CHARTED_FEATURES))
    if len(names) > MAX_CHARTED_FEATURES:
        sections.insert(MAX_CHARTED_FEATURES, f"<p class='muted'>Charts are drawn for the first "
                        f"{MAX_CHARTED_FEATURES} features; the other "
                        f"{len(names) - MAX_CHARTED_FEATURES} have their figures only.</p>")
    body = ("<h2>Splits</h2>" + _overview(stats) + legend(list(stats)) + "<h2>Features</h2>"
            + "".join(sections))
    slices = [(split, sl) for split, s in stats.items() for sl in s.slices]
    if slices:
        body += "<h2>Slices</h2>" + table(["split", "slice", "examples"],
                                          [[split, sl.slice, sl.num_examples]
                                           for split, sl in slices], left_columns=2)
    return page(title, body)

REPORT_FILE = "report.html"
