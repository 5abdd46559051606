"""The continuous pipeline's own nodes: the previous span's statistics and the retrain rule."""

from __future__ import annotations

import json
import os
import sys

import pytest
from pipeline_runs import REPO

sys.path.insert(0, str(REPO / "pipelines" / "continuous"))
from decision import PreviousSpanStrategy, RetrainDecision  # noqa: E402

from gristmill.components.framework.executor import ExecutionContext  # noqa: E402
from gristmill.metadata.errors import ConfigError  # noqa: E402
from gristmill.metadata.standard_artifacts import (  # noqa: E402
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    Model,
)
from gristmill.metadata.types import Artifact  # noqa: E402

pytestmark = pytest.mark.unit


def _stats(artifact_id: int, span: int) -> ExampleStatistics:
    return ExampleStatistics(f"/s/{artifact_id}", id=artifact_id, properties={"span": span})


def test_previous_span_is_the_newest_statistics_of_an_older_span():
    current = _stats(9, 5)
    found = PreviousSpanStrategy().resolve(
        {"current": [current], "statistics": [current, _stats(8, 5), _stats(7, 4),
                                              _stats(6, 4), _stats(3, 2)]}, store=None)
    assert [s.id for s in found["statistics"]] == [7]
    first = PreviousSpanStrategy().resolve({"current": [_stats(1, 1)],
                                            "statistics": [_stats(1, 1)]}, store=None)
    assert first["statistics"] == []


def _decide(tmp_path, span: int, blessed: dict, base_model: Model | None, every: int = 4):
    examples = Examples("/e", id=1, properties={"span": span})
    drift = ExampleAnomalies("/a", id=2, custom_properties={"blessed": blessed})
    out = Artifact(str(tmp_path / f"decision-{span}"))
    os.makedirs(out.uri)
    component = RetrainDecision
    executor = component.EXECUTOR(ExecutionContext(component_id="RetrainDecision"))
    inputs = {"examples": [examples], "drift": [drift],
              "base_model": [base_model] if base_model else []}
    executor.Do(inputs, {"decision": [out]},
                component.PARAMETERS(retrain_every_spans=every, drift_split="train"))
    with open(os.path.join(out.uri, "decision.json")) as f:
        assert json.load(f)["retrain"] == out.get_custom_property("retrain")
    return out.get_custom_property("retrain"), out.get_custom_property("reason")


def test_retrain_on_no_model_drift_or_schedule_only(tmp_path):
    model = Model("/m", id=6)
    assert _decide(tmp_path, 1, {"train": 1}, None) == (1, "no blessed model yet")
    assert _decide(tmp_path, 2, {"train": 1}, model) == (
        0, "span 2: no drift, not scheduled (every 4 spans), blessed model 6 kept")
    assert _decide(tmp_path, 3, {"train": 0}, model) == (
        1, "span 3 drifted from the previous span")
    assert _decide(tmp_path, 8, {"train": 1}, model) == (
        1, "scheduled: span 8 is a multiple of 4")


def test_a_drift_check_without_the_split_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no split 'train'"):
        _decide(tmp_path, 2, {"eval": 1}, Model("/m", id=6))
