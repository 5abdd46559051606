"""Evaluator with ModelSpec(model_type="onnx_int8"): the quantized edge model is the candidate,
its own predictions decide the metrics and the blessing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from bundles import penguin_like_table, train_bundle, write_examples

from gristmill.components.evaluator.config import (
    EvalConfig,
    EvaluatorParameters,
    GenericValueThreshold,
    MetricConfig,
    MetricsSpec,
    MetricThreshold,
    ModelSpec,
    SlicingSpec,
)
from gristmill.components.evaluator.executor import EvaluatorExecutor
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Model, ModelBlessing, ModelEvaluation

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from gristmill.engine.serving import save_bundle
    from gristmill.engine.tabular import raw_feature_spec, train_tabular
    from gristmill.engine.training import TrainConfig

    root = tmp_path_factory.mktemp("eval_int8")
    table = penguin_like_table(240, seed=1)
    examples = write_examples(str(root / "examples"), {"eval": table})
    train = penguin_like_table(300, seed=0)
    result = train_tabular(train, None, "species", config=TrainConfig(epochs=30, batch_size=32),
                           device="cpu", task="classification")
    edge = str(root / "edge")
    save_bundle(edge, result.model, result.prepared.encoder, result.prepared.label,
                raw_feature_spec(train.schema, ["species"]), exports=("onnx_int8",))
    plain = train_bundle(str(root / "plain"), train, model_id=12)
    return {"root": root, "examples": examples, "table": table,
            "edge": Model(edge, id=11), "plain": plain}


def _evaluate(world, name, model, lower_bound, model_type):
    out = world["root"] / name
    evaluation, blessing = ModelEvaluation(str(out / "ev")), ModelBlessing(str(out / "bl"))
    for a in (evaluation, blessing):
        os.makedirs(a.uri)
    os.makedirs(out / "tmp")
    accuracy = MetricConfig(class_name="Accuracy", threshold=MetricThreshold(
        value_threshold=GenericValueThreshold(lower_bound=lower_bound)))
    config = EvalConfig(model_specs=[ModelSpec(label_key="species", model_type=model_type)],
                        slicing_specs=[SlicingSpec()],
                        metrics_specs=[MetricsSpec(metrics=[accuracy])])
    EvaluatorExecutor(ExecutionContext(component_id="Evaluator", tmp_dir=str(out / "tmp"))).Do(
        {"examples": [world["examples"]], "model": [model]},
        {"evaluation": [evaluation], "blessing": [blessing]},
        EvaluatorParameters(eval_config=config))
    with open(os.path.join(evaluation.uri, "metrics.json")) as f:
        return json.load(f), os.path.exists(os.path.join(blessing.uri, "BLESSED"))


def int8_accuracy(world) -> float:
    from gristmill.engine.onnx_runtime import load_raw_onnx

    table = world["table"]
    predicted = load_raw_onnx(world["edge"].uri, "onnx_int8").predict(table)
    return float(np.mean(np.array(predicted["prediction"].to_pylist()) ==
                         np.array(table["species"].to_pylist())))


def test_int8_candidate_is_scored_on_its_own_predictions_and_gated(world):
    expected = int8_accuracy(world)
    metrics, blessed = _evaluate(world, "pass", world["edge"], expected - 0.05, "onnx_int8")
    overall = metrics["slices"][0]
    assert metrics["candidate_model_type"] == "onnx_int8"
    assert overall["candidate"]["metrics"]["accuracy"] == pytest.approx(expected)
    assert blessed
    # a threshold the int8 model misses refuses the blessing
    _, blessed = _evaluate(world, "fail", world["edge"], expected + 1e-6, "onnx_int8")
    assert not blessed


def test_model_without_int8_export_is_refused_by_name(world):
    with pytest.raises(ConfigError, match=r"model_int8\.onnx.*not requested at training"):
        _evaluate(world, "missing", world["plain"], 0.5, "onnx_int8")
