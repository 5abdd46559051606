"""Self-contained HTML building blocks: a page shell, tables and inline SVG bar charts.

No JavaScript and no external assets, so a report opens from the MLflow UI, a file
browser or an email attachment alike.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}
.feature{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.chart{font-size:11px}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px}
.ERROR{color:#b00020;font-weight:600}.WARNING{color:#a66300}.ok{color:#2e7d32}
.muted{color:#777;font-size:12px}
"""


def esc(value: object) -> str:
    """HTML-escape ``str(value)``."""
    return html.escape(str(value))


def fmt(value: object) -> str:
    """Format a figure for a table cell."""
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return esc(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)


def page(title: str, body: str) -> str:
    """A complete HTML document."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1>{body}</body></html>")


def table(header: Sequence[str], rows: Sequence[Sequence[object]], left_columns: int = 1) -> str:
    """An HTML table; the first ``left_columns`` columns are left-aligned."""
    head = "".join(f"<th class='{'l' if i < left_columns else ''}'>{esc(h)}</th>"
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(
        f"<td class='{'l' if i < left_columns else ''}'>{fmt(cell)}</td>"
        for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def legend(series: Sequence[str]) -> str:
    """A colour legend for ``series`` names."""
    return "<div class='legend muted'>" + "".join(
        f"<span style='background:{PALETTE[i % len(PALETTE)]}'></span>{esc(name)} "
        for i, name in enumerate(series)) + "</div>"


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str = "",
              width: int = 360, height: int = 150, horizontal: bool = False) -> str:
    """Grouped bar chart as inline SVG; one colour per series (e.g. per split).

    Args:
        labels: Category of each group of bars (bucket range, value).
        series: Series name -> one value per label; values are normalised per series so
            splits of different sizes compare by shape.
        title: Caption above the chart.
        width, height: Size in pixels.
        horizontal: Bars grow to the right, labels on the left (for top-k values).

    Raises:
        ValueError: A series does not hold exactly one value per label (callers align
            per-split categories first).
    """
    for name, values in series.items():
        if len(values) != len(labels):
            raise ValueError(f"bar_chart({title!r}): series {name!r} has {len(values)} values "
                             f"for {len(labels)} labels; align every series to the labels.")
    names = list(series)
    shares = {name: _shares(values) for name, values in series.items()}
    body = _horizontal_bars(labels, names, shares, width) if horizontal else \
        _vertical_bars(labels, names, shares, width, height)
    return f"<div class='chart'><div>{esc(title)}</div>{body}</div>"


def _shares(values: Sequence[float]) -> list[float]:
    total = float(sum(values))
    return [v / total if total else 0.0 for v in values]


def _vertical_bars(labels, names, shares, width, height) -> str:
    groups = max(1, len(labels))
    group_width = (width - 10) / groups
    bar_width = max(1.0, group_width * 0.8 / max(1, len(names)))
    top = max([max(v, default=0.0) for v in shares.values()] + [1e-12])
    parts = []
    for g, label in enumerate(labels):
        for s, name in enumerate(names):
            value = shares[name][g]
            h = (height - 30) * value / top
            x = 5 + g * group_width + s * bar_width
            parts.append(f"<rect x='{x:.1f}' y='{height - 20 - h:.1f}' width='{bar_width:.1f}' "
                         f"height='{h:.1f}' fill='{PALETTE[s % len(PALETTE)]}'>"
                         f"<title>{esc(name)} {esc(label)}: {value:.2%}</title></rect>")
    first, last = (labels[0], labels[-1]) if labels else ("", "")
    parts.append(f"<text x='5' y='{height - 5}'>{esc(first)}</text>")
    parts.append(f"<text x='{width - 5}' y='{height - 5}' text-anchor='end'>{esc(last)}</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"font-size='10'>{''.join(parts)}</svg>")


def _horizontal_bars(labels, names, shares, width) -> str:
    row = 6 * max(1, len(names)) + 6
    height = row * len(labels) + 4
    label_width = 110
    top = max([max(v, default=0.0) for v in shares.values()] + [1e-12])
    parts = []
    for g, label in enumerate(labels):
        y0 = 2 + g * row
        text = str(label) if len(str(label)) <= 18 else str(label)[:17] + "…"
        parts.append(f"<text x='{label_width - 4}' y='{y0 + row / 2 + 3:.1f}' "
                     f"text-anchor='end'>{esc(text)}</text>")
        for s, name in enumerate(names):
            value = shares[name][g]
            w = (width - label_width - 50) * value / top
            parts.append(f"<rect x='{label_width}' y='{y0 + s * 6:.1f}' width='{w:.1f}' "
                         f"height='5' fill='{PALETTE[s % len(PALETTE)]}'><title>{esc(name)} "
                         f"{esc(label)}: {value:.2%}</title></rect>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"font-size='10'>{''.join(parts)}</svg>")
