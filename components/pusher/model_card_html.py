"""Render the model card's facts (:func:`.model_card.gather_card_facts`) as one HTML page.

Built from :mod:`gristmill.components.framework.html` (inline CSS, no script, no external
asset), so the card opens offline: from the pushed directory, the MLflow UI or an e-mail.
Each section is a ``<section id=...>``: ``use``, ``blessing``, ``data``, ``schema``,
``metrics``, ``fairness``, ``attributions``, ``edge``, ``lineage``.
"""

from __future__ import annotations

from typing import Any

from gristmill.components.framework.html import esc, page, table

NOT_STATED = "not stated"


def _section(section_id: str, title: str, body: str) -> str:
    return f"<section id='{section_id}'><h2>{esc(title)}</h2>{body}</section>"


def _note(text: str) -> str:
    return f"<p class='muted'>{esc(text)}</p>"


def _missing(what: str, wire: str) -> str:
    return _note(f"No {what}: the Pusher was not given {wire}.")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]``; lists of scalars are joined."""
    if isinstance(value, dict):
        return [row for k, v in value.items() for row in _flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return [(prefix.rstrip("."), value)]


def overview(facts: dict[str, Any]) -> str:
    """Model, task, label and the push outcome."""
    model, push = facts["model"], facts["push"]
    status = (f"pushed to {push.get('pushed_destination')} (version "
              f"{push.get('pushed_version')})" if push.get("pushed")
              else f"NOT pushed: {push.get('reason')}")
    rows = [("model artifact", model["id"]), ("task", model["task"]),
            ("label", model["label_key"]), ("classes", ", ".join(map(str, model["classes"]))),
            ("model class", model["model_class"]),
            ("raw features", ", ".join(f"{f['name']} ({f['type']})"
                                       for f in model["raw_features"])),
            ("exports", ", ".join(model["exports"]) or "none"), ("push", status)]
    rows += [(f"export error: {k}", v) for k, v in model["export_errors"].items()]
    rows += [(f"training {k}", v) for k, v in model["training_metrics"].items()]
    return _section("overview", "Model", table(["", "value"], rows))


def intended_use(info: dict[str, Any]) -> str:
    """The pipeline's own words: intended use, limitations, owners."""
    rows = [("intended use", info["intended_use"] or NOT_STATED),
            ("limitations", info["limitations"] or NOT_STATED),
            ("owners", ", ".join(info["owners"]) or NOT_STATED),
            ("ethical considerations", info["ethical_considerations"] or NOT_STATED)]
    return _section("use", "Intended use", table(["", ""], rows))


def blessing(facts: dict[str, Any]) -> str:
    """The Evaluator's verdict and any manual blessing (who, when, why)."""
    verdict, manual = facts["blessing"]["evaluator"], facts["blessing"]["manual"]
    parts = []
    if verdict is None:
        parts.append(_missing("Evaluator blessing", "a model_blessing"))
    else:
        word = "BLESSED" if verdict["blessed"] == 1 else "NOT blessed"
        parts.append(f"<p>Evaluator: <b>{word}</b> (blessing artifact {esc(verdict['id'])})</p>")
        parts.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in verdict["reasons"])
                     + "</ul>")
    if manual is not None:
        decision = "manual blessing" if manual["blessed"] else "manual blessing REVOKED"
        parts.append(f"<h3 id='manual'>{esc(decision)} (overrides the Evaluator)</h3>")
        parts.append(table(["", ""], [("decision", decision), ("by", manual["blessed_by"]),
                                      ("at", manual["blessed_at"]),
                                      ("reason", manual["reason"]),
                                      ("execution", manual.get("execution_id"))]))
    return _section("blessing", "Blessing", "".join(parts))


def data(facts: dict[str, Any]) -> str:
    """Row counts per split and the statistics summary per feature."""
    parts = []
    examples, stats = facts["examples"], facts["statistics"]
    if examples is not None:
        counts = examples["row_counts"] or {}
        parts.append(f"<h3>Examples (artifact {esc(examples['id'])}, span "
                     f"{esc(examples['span'])})</h3>")
        parts.append(table(["split", "rows"], sorted(counts.items())))
    if stats is None:
        parts.append(_missing("statistics", "statistics (StatisticsGen.outputs['statistics'])"))
    else:
        parts.append(f"<h3>Statistics (artifact {esc(stats['id'])})</h3>")
        parts.append(table(["split", "rows"], [(s["split"], s["num_examples"])
                                               for s in stats["splits"]]))
        rows = [(f["name"], s["split"], f["type"], f["present"], f["missing_fraction"],
                 f.get("mean"), f.get("std_dev"), f.get("min"), f.get("max"), f.get("unique"),
                 f.get("top_value"))
                for s in stats["splits"] for f in s["features"]]
        parts.append(table(["feature", "split", "type", "present", "missing", "mean", "std",
                            "min", "max", "unique", "top value"], rows, left_columns=3))
    return _section("data", "Data", "".join(parts))


def schema(facts: dict[str, Any]) -> str:
    """The schema's features."""
    found = facts["schema"]
    if found is None:
        return _section("schema", "Schema", _missing("schema", "a schema"))
    rows = [(f["name"], f["type"], f["min_presence"], f["domain"], f["description"])
            for f in found["features"]]
    return _section("schema", f"Schema (artifact {found['id']})", table(
        ["feature", "type", "min presence", "domain / range", "description"], rows,
        left_columns=2))


def metrics(evaluation: dict[str, Any] | None) -> str:
    """Metrics overall and per slice, the threshold checks, omitted slices."""
    if evaluation is None:
        return _section("metrics", "Metrics", _missing("evaluation", "an evaluation"))
    if "problem" in evaluation:
        return _section("metrics", "Metrics", f"<p class='ERROR'>{esc(evaluation['problem'])}</p>")
    names = [k for k in evaluation["slices"][0]["metrics"] if k != "example_count"] \
        if evaluation["slices"] else []
    rows = [[s["slice"], s["example_count"], *[s["metrics"].get(n) for n in names]]
            for s in evaluation["slices"]]
    parts = [_note(f"Evaluation artifact {evaluation['id']} on splits "
                   f"{evaluation['example_splits']}; baseline: "
                   f"{(evaluation['baseline_model'] or {}).get('id', 'none')}"
                   + (f" ({evaluation['baseline_note']})" if evaluation["baseline_note"] else "")),
             table(["slice", "examples", *names], rows)]
    if evaluation["omitted_slices"]:
        parts.append(_note("Slices below the minimum size (not scored): " + ", ".join(
            f"{s['slice']} ({s['example_count']})" for s in evaluation["omitted_slices"])))
    if evaluation["skipped_examples"]:
        parts.append(_note(f"Skipped examples: {evaluation['skipped_examples']}"))
    outcome = {True: "passed", False: "FAILED", None: "skipped"}
    checks = [(c.get("slice"), c.get("metric"), c.get("kind"), outcome[c.get("passed")],
               c.get("message")) for c in evaluation["checks"]]
    if checks:
        parts.append("<h3>Checks</h3>" + table(["slice", "metric", "kind", "result", "message"],
                                               checks, left_columns=5))
    return _section("metrics", "Metrics", "".join(parts))


def fairness(evaluation: dict[str, Any] | None) -> str:
    """Fairness metrics and group rates per sensitive feature."""
    found = (evaluation or {}).get("fairness")
    if not found:
        return _section("fairness", "Fairness", _note(
            "No fairness metrics: the evaluation named no sensitive features "
            "(EvalConfig(fairness=FairnessSpec(...)))."))
    parts = [_note(f"Positive class: {found.get('positive_class')}"
                   + (" (one vs rest)" if found.get("one_vs_rest") else ""))]
    for feature, result in found.get("features", {}).items():
        parts.append(f"<h3>{esc(feature)}</h3>")
        parts.append(table(["metric", "value"], list(result.get("metrics", {}).items())))
        groups = [(g, v.get("count"), v.get("positives"), v.get("selection_rate"), v.get("tpr"),
                   v.get("fpr")) for g, v in result.get("groups", {}).items()]
        parts.append(table(["group", "count", "positives", "selection rate", "TPR", "FPR"],
                           groups))
    return _section("fairness", "Fairness", "".join(parts))


def attributions(evaluation: dict[str, Any] | None) -> str:
    """Permutation importance overall and per slice, with intervals."""
    found = (evaluation or {}).get("attributions")
    if not found:
        return _section("attributions", "Feature attributions", _note(
            "No attributions: the evaluation did not compute them "
            "(EvalConfig(attributions=AttributionsSpec()))."))
    if "skipped" in found:
        return _section("attributions", "Feature attributions", _note(found["skipped"]))
    parts = [_note(f"{found.get('method')} importance ({found.get('loss')}) on "
                   f"{found.get('rows_used')} of {found.get('rows_available')} rows, "
                   f"{found.get('num_repeats')} shuffles, 95% bootstrap interval.")]
    rows = [("Overall", f, v["importance"], v["lower"], v["upper"])
            for f, v in found.get("features", {}).items()]
    rows += [(s, f, v["importance"], v["lower"], v["upper"])
             for s, per in sorted(found.get("slices", {}).items())
             for f, v in per.get("features", {}).items()]
    parts.append(table(["slice", "feature", "importance", "lower", "upper"], rows,
                       left_columns=2))
    return _section("attributions", "Feature attributions", "".join(parts))


def edge(model: dict[str, Any]) -> str:
    """The int8 edge model's size, accuracy delta and latency, when one was exported."""
    report = model.get("edge_report")
    if report is None:
        return _section("edge", "Edge model", _note(
            "no edge model: the model artifact holds no edge_report.json"))
    return _section("edge", "Edge model", table(["", "value"], _flatten(report)))


def lineage(found: dict[str, Any]) -> str:
    """The artifacts that fed this push, with their producing nodes."""
    rows = [(r["input"], r["type"], r["id"], r["producer"], r["output_key"], r["uri"],
             (r["fingerprint"] or "")[:24]) for r in found["inputs"]]
    head = _note(f"Pipeline {found['pipeline']}, run {found['run_id']}, node "
                 f"{found['pusher']} (execution {found['execution_id']}). Full graph: "
                 f"gristmill runs show {found['run_id']}")
    return _section("lineage", "Lineage", head + table(
        ["input", "type", "artifact", "produced by", "output", "uri", "fingerprint"], rows,
        left_columns=7))


def render_model_card(facts: dict[str, Any]) -> str:
    """The whole card as one HTML document."""
    evaluation = facts["evaluation"]
    body = "".join([overview(facts), intended_use(facts["info"]), blessing(facts), data(facts),
                    schema(facts), metrics(evaluation), fairness(evaluation),
                    attributions(evaluation), edge(facts["model"]),
                    lineage(facts["lineage"])])
    name = facts["lineage"]["pipeline"] or "model"
    return page(f"Model card: {name}, model {facts['model']['id']}", body)
