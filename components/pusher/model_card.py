"""The model card: one self-contained HTML page per pushed model (``model_card.html``).

The Pusher never reads the metadata store, so the card is built from what it is given: the
``model`` (its ``bundle.json`` and, when the export wrote one, ``edge_report.json``), the
``model_blessing`` and any manual blessing (:mod:`.manual_override`), and the optional
inputs ``evaluation`` (``metrics.json``, ``validations.json``), ``statistics``, ``schema``
and ``examples``, plus the intended-use fields of :class:`~.config.ModelCardInfo`. Every
section an input was not wired for says so on the card instead of disappearing.

An evaluation of another model than the pushed one is not shown as this model's figures:
the card names the mismatch (a wrong number without a word is worse than none).

:func:`gather_card_facts` collects the facts (a JSON-ready dict, also written as
``model_card.json``); :mod:`.model_card_html` renders them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from gristmill.components.pusher.config import ModelCardInfo
from gristmill.metadata.types import Artifact

CARD_FILE = "model_card.html"
FACTS_FILE = "model_card.json"
EDGE_REPORT_FILE = "edge_report.json"
#: The Pusher's inputs the card reads, in the order its lineage table lists them.
CARD_INPUTS = ("model", "model_blessing", "infra_blessing", "evaluation", "statistics",
               "schema", "examples")


def _read_json(path: str) -> Any:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _first(input_dict: dict[str, list[Artifact]], key: str) -> Artifact | None:
    return (input_dict.get(key) or [None])[0]


def model_facts(model: Artifact) -> dict[str, Any]:
    """Task, label, classes, raw features and training figures from ``bundle.json``."""
    bundle = _read_json(os.path.join(model.uri, "bundle.json")) or {}
    return {"id": model.id, "uri": model.uri, "task": bundle.get("task"),
            "label_key": bundle.get("label_key"), "classes": bundle.get("classes") or [],
            "raw_features": bundle.get("raw_features") or [],
            "model_class": (bundle.get("model") or {}).get("class"),
            "exports": sorted(bundle.get("exports") or {}),
            "export_errors": bundle.get("export_errors") or {},
            "training_metrics": bundle.get("metrics") or {},
            "training": bundle.get("training") or {},
            "edge_report": _read_json(os.path.join(model.uri, EDGE_REPORT_FILE))}


def evaluation_facts(evaluation: Artifact | None, model: Artifact) -> dict[str, Any] | None:
    """Per-slice metrics, fairness, attributions and checks from the evaluation.

    Returns ``None`` when no evaluation was wired, ``{"mismatch": text}`` when it evaluated
    another model (its figures are then not shown).
    """
    if evaluation is None:
        return None
    metrics = _read_json(os.path.join(evaluation.uri, "metrics.json"))
    if metrics is None:
        return {"problem": f"evaluation artifact {evaluation.id} at {evaluation.uri} has no "
                           "metrics.json"}
    candidate = (metrics.get("candidate_model") or {}).get("id")
    if model.id is not None and candidate is not None and candidate != model.id:
        return {"problem": f"evaluation artifact {evaluation.id} scored model {candidate}, "
                           f"not the pushed model {model.id}: its figures are not shown"}
    validations = _read_json(os.path.join(evaluation.uri, "validations.json")) or {}
    return {"id": evaluation.id, "example_splits": metrics.get("example_splits"),
            "baseline_model": metrics.get("baseline_model"),
            "baseline_note": metrics.get("baseline_note"),
            "trivial_baseline": metrics.get("trivial_baseline"),
            "slices": [{"slice": s["slice"], "example_count": s.get("example_count"),
                        "metrics": s.get("candidate", {}).get("metrics", {}),
                        "baseline_metrics": (s.get("baseline") or {}).get("metrics")}
                       for s in metrics.get("slices", [])],
            "omitted_slices": metrics.get("omitted_slices") or [],
            "skipped_examples": metrics.get("skipped_examples") or {},
            "fairness": metrics.get("fairness"), "attributions": metrics.get("attributions"),
            "checks": validations.get("checks") or validations.get("results") or [],
            "reasons": validations.get("reasons") or []}


def statistics_facts(statistics: Artifact | None) -> dict[str, Any] | None:
    """Rows per split and a summary per feature (presence, centre, spread, top value)."""
    if statistics is None:
        return None
    from gristmill.components.framework.statistics_model import load_statistics

    splits = []
    for split in statistics.splits:
        stats = load_statistics(statistics.split_uri(split))
        splits.append({"split": split, "num_examples": stats.num_examples,
                       "features": [_feature_summary(f) for f in stats.features]})
    return {"id": statistics.id, "splits": splits}


def _feature_summary(feature: Any) -> dict[str, Any]:
    total = feature.num_present + feature.num_missing
    summary: dict[str, Any] = {"name": feature.name, "type": feature.type,
                               "present": feature.num_present,
                               "missing_fraction": feature.num_missing / total if total else None}
    if feature.numeric is not None:
        n = feature.numeric
        summary.update(mean=n.mean, std_dev=n.std_dev, min=n.min, max=n.max)
    if feature.string is not None:
        s = feature.string
        top = s.top_values[0] if s.top_values else None
        summary.update(unique=s.unique, top_value=top.value if top else None,
                       top_count=top.count if top else None)
    return summary


def schema_facts(schema: Artifact | None) -> dict[str, Any] | None:
    """Each schema feature: type, required presence, domain or range."""
    if schema is None:
        return None
    from gristmill.components.framework.data_schema import load_schema

    loaded = load_schema(schema.uri)
    features = []
    for f in loaded.features:
        domain = (f"{len(f.domain)} values: " + ", ".join(f.domain[:8])
                  + (" ..." if len(f.domain) > 8 else "")) if f.domain else None
        value_range = (f"[{f.range.min}, {f.range.max}]" if f.range is not None else None)
        features.append({"name": f.name, "type": f.type,
                         "min_presence": f.presence.min_fraction,
                         "domain": domain or value_range or "", "description": f.description})
    return {"id": schema.id, "features": features}


def blessing_facts(blessing: Artifact | None, manual: dict[str, Any] | None
                   ) -> dict[str, Any]:
    """The Evaluator's verdict (with its reasons) and the manual decision, if any."""
    verdict = None
    if blessing is not None:
        payload = _read_json(os.path.join(blessing.uri, "blessing.json")) or {}
        verdict = {"id": blessing.id, "blessed": blessing.get_custom_property("blessed"),
                   "reasons": payload.get("reasons") or [],
                   "message": blessing.get_custom_property("blessing_message")}
    return {"evaluator": verdict, "manual": manual}


def lineage_facts(input_dict: dict[str, list[Artifact]], context: Any) -> dict[str, Any]:
    """Which artifacts (and their producing nodes) fed this push, and the push itself."""
    rows = []
    for key in CARD_INPUTS:
        for artifact in input_dict.get(key) or []:
            rows.append({"input": key, "type": artifact.type_name, "id": artifact.id,
                         "producer": artifact.producer_component,
                         "output_key": artifact.output_key, "uri": artifact.uri,
                         "fingerprint": artifact.fingerprint})
    return {"inputs": rows, "pipeline": context.pipeline_name, "run_id": context.run_id,
            "pusher": context.component_id, "execution_id": context.execution_id}


def gather_card_facts(input_dict: dict[str, list[Artifact]], push: dict[str, Any],
                      info: ModelCardInfo, context: Any,
                      manual: dict[str, Any] | None) -> dict[str, Any]:
    """Everything the card shows, as a JSON-ready dict.

    Args:
        input_dict: The Pusher's resolved inputs.
        push: The push result (``pushed``, ``pushed_destination``, ``reason`` ...).
        info: The pipeline's intended-use fields.
        context: The Pusher's ``ExecutionContext``.
        manual: The newest manual blessing record for the model, or ``None``.
    """
    model = input_dict["model"][0]
    examples = _first(input_dict, "examples")
    return {"model": model_facts(model), "push": push, "info": info.model_dump(),
            "examples": None if examples is None else {
                "id": examples.id, "row_counts": examples.get_property("row_counts"),
                "span": examples.get_property("span")},
            "statistics": statistics_facts(_first(input_dict, "statistics")),
            "schema": schema_facts(_first(input_dict, "schema")),
            "evaluation": evaluation_facts(_first(input_dict, "evaluation"), model),
            "blessing": blessing_facts(_first(input_dict, "model_blessing"), manual),
            "lineage": lineage_facts(input_dict, context)}


def write_model_card(directory: str, facts: dict[str, Any]) -> str:
    """Write (or atomically replace) ``model_card.html`` and ``model_card.json`` in
    ``directory``; return the HTML path."""
    from gristmill.components.pusher.model_card_html import render_model_card

    path = os.path.join(directory, CARD_FILE)
    _replace(path, render_model_card(facts))
    _replace(os.path.join(directory, FACTS_FILE), json.dumps(facts, indent=1, default=str))
    return path


def _replace(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling, so no reader sees half."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
