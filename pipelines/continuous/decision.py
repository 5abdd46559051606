"""The continuous pipeline's own nodes: the previous span's statistics, and whether to retrain.

:class:`PreviousSpanStrategy` is a Resolver strategy: the newest statistics of a span older
than the one this run ingested (TFX would use a span-range resolver; "the span before" is
what a drift check needs). :func:`RetrainDecision` is a small ``@component`` that turns the
drift check, the schedule and the presence of a blessed model into one custom property,
``retrain`` (1/0) with a ``reason``, which a ``Cond`` reads.
"""

from __future__ import annotations

import json
import os

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import ExampleAnomalies, Examples, Model
from gristmill.metadata.types import Artifact
from gristmill.orchestrator.resolver import ResolverStrategy


class PreviousSpanStrategy(ResolverStrategy):
    """Inputs ``statistics`` (free channel: every LIVE ExampleStatistics of the pipeline) and
    ``current`` (this run's StatisticsGen output): picks the newest statistics whose span is
    below the current one; none on the first span."""

    def resolve(self, candidates, store):
        current = candidates.get("current") or []
        span = current[0].get_property("span") if current else None
        older = [s for s in candidates.get("statistics", [])
                 if span is not None and s.get_property("span") is not None
                 and s.get_property("span") < span]
        older.sort(key=lambda s: (s.get_property("span"), s.id or 0), reverse=True)
        return {"statistics": older[:1], "current": current}


@component
def RetrainDecision(examples: InputArtifact[Examples], drift: InputArtifact[ExampleAnomalies],
                    decision: OutputArtifact[Artifact],
                    base_model: InputArtifact[Model] = None,
                    retrain_every_spans: Parameter[int] = 4,
                    drift_split: Parameter[str] = "train") -> dict:
    """Retrain when there is no blessed model yet, when the span drifted from the previous
    one (the DistributionValidator did not bless ``drift_split``), or when the span number is
    a multiple of ``retrain_every_spans`` (the schedule). Writes ``decision.json`` and the
    custom properties ``retrain`` (1/0), ``reason``, ``span``, ``drifted`` (1/0)."""
    span = examples.get_property("span")
    blessed = (drift.get_custom_property("blessed") or {}).get(drift_split)
    if blessed is None:
        raise ConfigError(f"RetrainDecision: the drift check has no split {drift_split!r} "
                          f"(blessed: {drift.get_custom_property('blessed')}).",
                          fix="set drift_split to a split the DistributionValidator compared")
    drifted = blessed == 0
    reasons = []
    if base_model is None:
        reasons.append("no blessed model yet")
    if drifted:
        reasons.append(f"span {span} drifted from the previous span")
    if span is not None and span % retrain_every_spans == 0:
        reasons.append(f"scheduled: span {span} is a multiple of {retrain_every_spans}")
    retrain = bool(reasons)
    reason = "; ".join(reasons) if retrain else (
        f"span {span}: no drift, not scheduled (every {retrain_every_spans} spans), "
        f"blessed model {base_model.id} kept")
    record = {"retrain": int(retrain), "reason": reason, "span": span, "drifted": int(drifted),
              "base_model_id": base_model.id if base_model is not None else None}
    with open(os.path.join(decision.uri, "decision.json"), "w") as f:
        json.dump(record, f, indent=1)
    for key, value in record.items():
        decision.set_custom_property(key, value)
    return {"retrain": float(retrain), "drifted": float(drifted)}
