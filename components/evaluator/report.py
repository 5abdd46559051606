"""The Evaluator's HTML report: verdict, metrics per slice, confusion matrix, calibration, gaps.

One self-contained HTML file (no scripts, no external assets) so it renders as an MLflow
artifact and from disk alike.
"""

from __future__ import annotations

import html
from typing import Any

_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.ok{color:#176b2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}.warn{color:#8a5a00}"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict(validation: dict[str, Any]) -> str:
    cls, word = ("ok", "BLESSED") if validation["blessed"] else ("bad", "NOT BLESSED")
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in validation["reasons"])
    warnings = "".join(f"<li class=warn>{html.escape(w)}</li>" for w in validation["warnings"])
    checks = [[c["slice"], c["metric"], c["kind"], c["value"], c["baseline"], str(c["bound"]),
               {True: "pass", False: "FAIL", None: "skipped"}[c["passed"]]]
              for c in validation["checks"]]
    table = _table(["slice", "metric", "threshold", "candidate", "baseline", "bound", "result"],
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


def _slice_tables(summary: dict[str, Any]) -> str:
    slices = summary["slices"]
    names = [k for k in slices[0]["candidate"]["metrics"]]
    rows = [[s["slice"], *(s["candidate"]["metrics"].get(m) for m in names)] for s in slices]
    out = "<h2>Metrics per slice (candidate)</h2>" + _table(["slice", *names], rows)
    if any("baseline" in s for s in slices):
        rows = [[s["slice"], *(s.get("baseline", {}).get("metrics", {}).get(m) for m in names)]
                for s in slices]
        out += "<h2>Metrics per slice (baseline)</h2>" + _table(["slice", *names], rows)
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


def _classification_tables(overall: dict[str, Any]) -> str:
    matrix = overall.get("confusion_matrix")
    if not matrix:
        return ""
    labels = matrix["labels"]
    rows = [[f"true {label}", *counts]
            for label, counts in zip(labels, matrix["counts"], strict=True)]
    out = "<h2>Confusion matrix (overall)</h2>" + _table(["", *labels], rows)
    rows = [[c, v["precision"], v["recall"], v["f1"], v["support"]]
            for c, v in overall["per_class"].items()]
    out += "<h2>Per class</h2>" + _table(["class", "precision", "recall", "f1", "support"], rows)
    rows = [[f"{b['lower']:.2f}–{b['upper']:.2f}", b["count"], b["mean_confidence"],
             b["accuracy"]] for b in overall["calibration"] if b["count"]]
    out += ("<h2>Calibration (top-label confidence)</h2>"
            + _table(["confidence", "examples", "mean confidence", "accuracy"], rows))
    return out


def _gap_tables(gaps: dict[str, Any]) -> str:
    rows = []
    for metric, info in gaps["metrics"].items():
        for w in info["worst_slices"][:3]:
            rows.append([metric, info["overall"], w["slice"], w["example_count"], w["value"],
                         w["gap"], w["shortfall"]])
    if not rows:
        return ""
    return ("<h2>Slice gaps (worst slices against overall)</h2>"
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


def render_evaluation_report(summary: dict[str, Any], validation: dict[str, Any],
                             gaps: dict[str, Any]) -> str:
    """The report as an HTML string.

    Args:
        summary: The content of ``metrics.json``.
        validation: The content of ``validations.json``.
        gaps: The content of ``slice_gaps.json``.
    """
    model = summary["candidate_model"]
    baseline = summary["baseline_model"]
    note = summary.get("baseline_note")
    compared = (f"{html.escape(str(baseline))} (not comparable: {html.escape(note)})"
                if baseline and note else html.escape(str(baseline)) if baseline
                else "none (first run)")
    intro = (f"<p>Candidate model {html.escape(str(model))}; baseline {compared}; task "
             f"{html.escape(summary['task'])}; label {html.escape(str(summary['label_key']))}; "
             f"splits {html.escape(str(summary['example_splits']))}.</p>")
    body = (_verdict(validation) + intro + _trivial_table(summary) + _slice_tables(summary)
            + _classification_tables(summary["slices"][0]["candidate"]) + _gap_tables(gaps)
            + _fairness_tables(summary.get("fairness"))
            + _attribution_table(summary.get("attributions")))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Evaluation</title>"
            f"<style>{_STYLE}</style></head><body><h1>Model evaluation</h1>{body}</body></html>")


def write_evaluation_report(path: str, summary: dict[str, Any], validation: dict[str, Any],
                            gaps: dict[str, Any]) -> str:
    """Write :func:`render_evaluation_report` to ``path`` and return ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_evaluation_report(summary, validation, gaps))
    return path
