"""The Evaluator's HTML report, at TFMA's level: verdict with readable thresholds, per-slice
bars with a metric selector, a sortable slice table, baseline vs candidate per slice, ROC /
PR curves and the calibration plot (from the curve points the evaluator computed and stored
in ``metrics.json``), a confusion-matrix heatmap, the slice-gap table, fairness and
attributions.

One self-contained HTML file (inline style and script, no network) so it renders as an
MLflow artifact (its viewer allows scripts) and from disk alike. Tables a reader must see
without a script are rendered here; charts are drawn from the embedded JSON
(:mod:`.report_script`).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from gristmill.components.evaluator.config import LOWER_IS_BETTER_METRICS
from gristmill.components.evaluator.report_script import SCRIPT, STYLE, embed_json
from gristmill.components.evaluator.slicing import json_ready

#: Metrics the slice chart shows first, when the task has them.
_DEFAULT_METRICS = ("accuracy", "auc", "rmse", "mae")
#: Columns whose figures are counts: printed as integers with separators, never 8.4e+01.
_COUNT_WORDS = ("count", "examples", "support", "rows", "positives")


def _fmt(value: Any, count: bool = False) -> str:
    """A table cell: counts as ``1,234``, other numbers with 4 decimals (``0.9762``, never
    ``9.762e-01``; only magnitudes under 0.0001 use an exponent)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (count and isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value != 0 and abs(value) < 1e-4:
            return f"{value:.2e}"
        return f"{value:,.4f}"
    return html.escape(str(value))


def _number(value: float) -> str:
    """A bound as written in a config (``0.6``, ``-0.0000000001``), no exponent."""
    return np.format_float_positional(float(value), trim="-")


def threshold_text(metric: str, kind: str, bound: dict[str, Any]) -> str:
    """A threshold as a reader writes it: ``accuracy >= 0.6``, ``0.5 <= auc <= 0.9``,
    ``accuracy - baseline >= -0.0000000001``."""
    if kind == "value":
        low, high = bound.get("lower_bound"), bound.get("upper_bound")
        if low is not None and high is not None:
            return f"{_number(low)} <= {metric} <= {_number(high)}"
        return f"{metric} >= {_number(low)}" if low is not None else \
            f"{metric} <= {_number(high)}"
    sign = "<=" if bound.get("direction") == "LOWER_IS_BETTER" else ">="
    parts = []
    if bound.get("absolute") is not None:
        parts.append(f"{metric} - baseline {sign} {_number(bound['absolute'])}")
    if bound.get("relative") is not None:
        parts.append(f"({metric} - baseline) / baseline {sign} {_number(bound['relative'])}")
    return " and ".join(parts) or f"{metric}: {bound}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    counts = [any(w in h.lower() for w in _COUNT_WORDS) for h in header]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c, counts[i])}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict(validation: dict[str, Any]) -> str:
    cls, word = ("ok", "BLESSED") if validation["blessed"] else ("bad", "NOT BLESSED")
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in validation["reasons"])
    warnings = "".join(f"<li class=warn>{html.escape(w)}</li>" for w in validation["warnings"])
    checks = [[c["slice"], threshold_text(c["metric"], c["kind"], c["bound"]), c["value"],
               c["baseline"], {True: "pass", False: "FAIL", None: "skipped"}[c["passed"]]]
              for c in validation["checks"]]
    table = _table(["slice", "threshold", "candidate", "baseline", "result"],
                   checks) if checks else ""
    return f"<h2 class={cls}>{word}</h2><ul>{reasons}{warnings}</ul>{table}"


def _trivial_table(summary: dict[str, Any]) -> str:
    """Model beside the trivial baseline (overall): a constant model is obvious here."""
    overall = summary["slices"][0]
    trivial = (overall.get("trivial_baseline") or {}).get("metrics")
    if not trivial:
        return "<p class=warn>No trivial baseline: the bundle records no label counts.</p>"
    model = overall["candidate"]["metrics"]
    rows = [[m, model.get(m), trivial.get(m)] for m in model if m != "example_count"]
    return (f"<h2>Model vs trivial baseline (overall)</h2><p>Trivial baseline: "
            f"{html.escape(str(summary.get('trivial_baseline')))}.</p>"
            + _table(["metric", "model", "trivial baseline"], rows))


def _interactive_sections(summary: dict[str, Any]) -> str:
    """Placeholders the script fills: slice bars + metric selector, sortable slice table,
    baseline vs candidate, and the curves with slice and class selectors."""
    out = ("<h2>Metrics per slice</h2><div class=controls><label>metric <select id=metric>"
           "</select></label><span class=muted>bars: <span style='color:#4e79a7'>&#9632;"
           "</span> candidate"
           + (" <span style='color:#f28e2b'>&#9632;</span> baseline"
              if _has_baseline(summary) else "") + "</span></div><div id=slice-bars></div>"
           "<h3>Baseline vs candidate (metric above)</h3><div id=compare></div>"
           "<h3>All metrics of the candidate (click a column to sort)</h3>"
           "<table id=slice-table></table>")
    if _curve_classes(summary):
        how = ("one-vs-rest per class" if summary["slices"][0]["candidate"]["curves"]
               ["one_vs_rest"] else "of the positive class")
        out += ("<h2>ROC and precision-recall curves, calibration</h2><div class=controls>"
                "<label>slice <select id=curve-slice></select></label><label>class <select "
                f"id=curve-class></select></label><span class=muted>curves {how}; "
                "calibration: top-label confidence per bin against accuracy, dot size by "
                "examples</span></div><div id=curves></div>")
    return out


def _has_baseline(summary: dict[str, Any]) -> bool:
    return any("baseline" in s for s in summary["slices"])


def _curve_classes(summary: dict[str, Any]) -> list[str]:
    curves = summary["slices"][0]["candidate"].get("curves") or {}
    return list(curves.get("classes") or {})


def _script_data(summary: dict[str, Any]) -> dict[str, Any]:
    """What the script draws: each scored slice's candidate/baseline metrics, curves and
    calibration bins (figures as the evaluator stored them in ``metrics.json``)."""
    names = list(summary["slices"][0]["candidate"]["metrics"])
    keep = ("metrics", "curves", "calibration")
    slices = [{"slice": s["slice"], "example_count": s["example_count"],
               **{m: {k: s[m][k] for k in keep if k in s[m]}
                  for m in ("candidate", "baseline") if m in s}} for s in summary["slices"]]
    default = next((m for m in _DEFAULT_METRICS if m in names), names[0] if names else None)
    return json_ready({"metrics": names, "default_metric": default, "slices": slices,
                       "has_baseline": _has_baseline(summary),
                       "lower_is_better": sorted(LOWER_IS_BETTER_METRICS),
                       "curve_classes": _curve_classes(summary)})


def _slice_tables(summary: dict[str, Any]) -> str:
    slices = summary["slices"]
    names = list(slices[0]["candidate"]["metrics"])
    out = ""
    if any("trivial_baseline" in s for s in slices):
        rows = [[s["slice"], *(s.get("trivial_baseline", {}).get("metrics", {}).get(m)
                               for m in names)] for s in slices]
        out += ("<h2>Metrics per slice (trivial baseline)</h2>"
                + _table(["slice", *names], rows))
    intervals = slices[0]["candidate"].get("confidence_intervals")
    if intervals:
        rows = [[m, ci["lower"], ci["upper"], ci["std_error"]] for m, ci in intervals.items()]
        out += ("<h2>95% bootstrap intervals (overall)</h2>"
                + _table(["metric", "lower", "upper", "std error"], rows))
    if summary["omitted_slices"]:
        rows = [[s["slice"], s["example_count"]] for s in summary["omitted_slices"]]
        out += (f"<h2>Slices under min_slice_size={summary['min_slice_size']} (not scored)</h2>"
                + _table(["slice", "examples"], rows))
    if summary["skipped_examples"]:
        rows = [[k, v] for k, v in summary["skipped_examples"].items()]
        out += "<h2>Rows left out</h2>" + _table(["reason", "rows"], rows)
    return out


def confusion_heatmap(matrix: dict[str, Any]) -> str:
    """The confusion matrix as a table shaded by each true class's row share."""
    labels, counts = matrix["labels"], np.asarray(matrix["counts"], dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    head = "".join(f"<th>predicted {html.escape(str(c))}</th>" for c in labels)
    rows = []
    for i, label in enumerate(labels):
        cells = "".join(
            f"<td style='background:rgba({'46,125,50' if i == j else '176,0,32'},"
            f"{0.08 + 0.7 * shares[i, j]:.2f})' title='{shares[i, j]:.1%} of true "
            f"{html.escape(str(label))}'>{int(counts[i, j]):,} <span class=muted>"
            f"({shares[i, j]:.0%})</span></td>" for j in range(len(labels)))
        rows.append(f"<tr><th>true {html.escape(str(label))}</th>{cells}</tr>")
    return f"<table class=heatmap><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _classification_tables(overall: dict[str, Any]) -> str:
    matrix = overall.get("confusion_matrix")
    if not matrix:
        return ""
    out = ("<h2>Confusion matrix (overall)</h2><p class=muted>Rows: true class; shade: share "
           "of the row (green on the diagonal, red off it).</p>" + confusion_heatmap(matrix))
    rows = [[c, v["precision"], v["recall"], v["f1"], v["support"]]
            for c, v in overall["per_class"].items()]
    out += "<h2>Per class</h2>" + _table(["class", "precision", "recall", "f1", "support"], rows)
    rows = [[f"{b['lower']:.2f}–{b['upper']:.2f}", b["count"], b["mean_confidence"],
             b["accuracy"]] for b in overall["calibration"] if b["count"]]
    out += ("<h2>Calibration bins (top-label confidence, overall)</h2>"
            + _table(["confidence", "examples", "mean confidence", "accuracy"], rows))
    return out


def _gap_tables(gaps: dict[str, Any]) -> str:
    rows = []
    for metric, info in gaps["metrics"].items():
        arrow = "lower is better" if info["direction"] == "LOWER_IS_BETTER" else \
            "higher is better"
        for w in info["worst_slices"]:
            rows.append([f"{metric} ({arrow})", info["overall"], w["slice"], w["example_count"],
                         w["value"], w["gap"], w["shortfall"]])
    if not rows:
        return ""
    return ("<h2>Slice gaps (worst slices against overall)</h2><p class=muted>gap = slice "
            "&minus; overall; shortfall &gt; 0: the slice is worse than overall.</p>"
            + _table(["metric", "overall", "slice", "examples", "value", "gap", "shortfall"],
                     rows))


def _fairness_tables(fairness: dict[str, Any] | None) -> str:
    if not fairness:
        return ""
    how = " (one-vs-rest)" if fairness.get("one_vs_rest") else ""
    out = (f"<h2>Fairness (positive class {html.escape(fairness['positive_class'])}{how})</h2>"
           "<p>Differences are max − min over groups (lower is fairer); ratios are min / max "
           "(higher is fairer).</p>")
    for feature, info in fairness["features"].items():
        out += f"<h3>{html.escape(feature)}</h3>" + _table(
            ["metric", "value"], [[m, v] for m, v in info["metrics"].items()])
        out += _table(["group", "examples", "positives", "selection rate", "TPR", "FPR"],
                      [[g, r["count"], r["positives"], r["selection_rate"], r["tpr"], r["fpr"]]
                       for g, r in info["groups"].items()])
        left_out = [f"{rate}: {groups}" for rate, groups in info["undefined"].items() if groups]
        if left_out:
            out += (f"<p class=warn>Groups left out of a rate: "
                    f"{html.escape('; '.join(left_out))}.</p>")
    return out


def _attribution_table(attributions: dict[str, Any] | None) -> str:
    if not attributions:
        return ""
    if "skipped" in attributions:
        return (f"<h2>Feature attributions</h2><p class=warn>Skipped: "
                f"{html.escape(attributions['skipped'])}.</p>")
    rows = [[name, v["importance"], v["lower"], v["upper"]]
            for name, v in attributions["features"].items()]
    return (f"<h2>Feature attributions (permutation importance)</h2><p>Loss: "
            f"{html.escape(attributions['loss'])}; {attributions['rows_used']} of "
            f"{attributions['rows_available']} rows, {attributions['num_repeats']} shuffle(s) per "
            f"feature, 95% bootstrap intervals; {attributions['predictions']} predictions in "
            f"{attributions['seconds']} s.</p>"
            + _table(["feature", "importance", "lower", "upper"], rows)
            + _attribution_slices(attributions))


def _attribution_slices(attributions: dict[str, Any]) -> str:
    slices = attributions.get("slices") or {}
    if not slices:
        return ""
    names = list(attributions["features"])
    rows = [[name, info["rows"], *((info.get("features") or {}).get(f, {}).get("importance")
                                   for f in names)] for name, info in slices.items()]
    return (f"<h3>Per slice (importance; slices under {attributions['min_slice_rows']} "
            "sampled rows: count only)</h3>" + _table(["slice", "rows", *names], rows))


def _model_text(model: dict[str, Any] | None) -> str:
    """``#7 (/root/Trainer/model/7)`` for a model reference of ``metrics.json``."""
    if not isinstance(model, dict):
        return html.escape(str(model))
    return f"#{html.escape(str(model.get('id')))} ({html.escape(str(model.get('uri')))})"


def render_evaluation_report(summary: dict[str, Any], validation: dict[str, Any],
                             gaps: dict[str, Any], title: str = "Model evaluation") -> str:
    """The report as an HTML string.

    Args:
        summary: The content of ``metrics.json``.
        validation: The content of ``validations.json``.
        gaps: The content of ``slice_gaps.json``.
        title: The page's heading.
    """
    model = _model_text(summary["candidate_model"])
    baseline = summary["baseline_model"]
    note = summary.get("baseline_note")
    compared = (f"{_model_text(baseline)} (not comparable: {html.escape(note)})"
                if baseline and note else _model_text(baseline) if baseline
                else "none (first run)")
    intro = (f"<p>Candidate model {model}; baseline {compared}; task "
             f"{html.escape(summary['task'])}; label {html.escape(str(summary['label_key']))}; "
             f"splits {html.escape(str(summary['example_splits']))}.</p>")
    body = (_verdict(validation) + intro + _trivial_table(summary)
            + _interactive_sections(summary) + _slice_tables(summary)
            + _classification_tables(summary["slices"][0]["candidate"]) + _gap_tables(gaps)
            + _fairness_tables(summary.get("fairness"))
            + _attribution_table(summary.get("attributions")))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
            f"<script type='application/json' id='evaluation'>"
            f"{embed_json(_script_data(summary))}</script><script>{SCRIPT}</script>"
            "</body></html>")


def write_evaluation_report(path: str, summary: dict[str, Any], validation: dict[str, Any],
                            gaps: dict[str, Any]) -> str:
    """Write :func:`render_evaluation_report` to ``path`` and return ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_evaluation_report(summary, validation, gaps))
    return path
