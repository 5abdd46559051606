"""Evaluator executor on Beam with real serving bundles."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from bundles import penguin_like_table, train_bundle, write_examples

from gristmill.components.evaluator.component import Evaluator
from gristmill.components.evaluator.config import (
    HIGHER_IS_BETTER,
    EvalConfig,
    EvaluatorParameters,
    GenericChangeThreshold,
    GenericValueThreshold,
    MetricConfig,
    MetricsSpec,
    MetricThreshold,
    ModelSpec,
    Options,
    SlicingSpec,
)
from gristmill.components.evaluator.executor import EvaluatorExecutor
from gristmill.components.framework.base import Channel
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import (
    Examples,
    Model,
    ModelBlessing,
    ModelEvaluation,
    Schema,
)

pytestmark = pytest.mark.integration

THRESHOLD = MetricThreshold(
    value_threshold=GenericValueThreshold(lower_bound=0.8),
    change_threshold=GenericChangeThreshold(direction=HIGHER_IS_BETTER, absolute=-1e-10))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    eval_table = penguin_like_table(240, seed=1)
    examples = write_examples(str(root / "examples"), {"eval": eval_table}, files_per_split=2)
    train = penguin_like_table(300, seed=0)
    good = train_bundle(str(root / "good"), train, good=True, model_id=11)
    bad = train_bundle(str(root / "bad"), train, good=False, model_id=12)
    return {"root": root, "examples": examples, "good": good, "bad": bad, "table": eval_table}


def _evaluate(world, name, model, baseline=None, **params):
    out = world["root"] / name
    evaluation, blessing = ModelEvaluation(str(out / "evaluation")), ModelBlessing(
        str(out / "blessing"))
    for a in (evaluation, blessing):
        os.makedirs(a.uri)
    tmp = out / "tmp"
    tmp.mkdir()
    inputs = {"examples": [world["examples"]], "model": [model]}
    if baseline is not None:
        inputs["baseline_model"] = [baseline]
    EvaluatorExecutor(ExecutionContext(component_id="Evaluator", tmp_dir=str(tmp))).Do(
        inputs, {"evaluation": [evaluation], "blessing": [blessing]},
        EvaluatorParameters(**params))
    with open(os.path.join(evaluation.uri, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(blessing.uri, "blessing.json")) as f:
        verdict = json.load(f)
    return evaluation, blessing, metrics, verdict


def _config(**options):
    return EvalConfig(model_specs=[ModelSpec(label_key="species")],
                      slicing_specs=[SlicingSpec(), SlicingSpec(feature_keys=["island"])],
                      metrics_specs=[MetricsSpec(metrics=[
                          MetricConfig(class_name="SparseCategoricalAccuracy", threshold=THRESHOLD),
                          MetricConfig(class_name="AUC")])],
                      options=Options(**options))


def test_first_run_blesses_on_value_thresholds_and_slices_match_hand_counts(world):
    from gristmill.engine.serving import load_bundle

    evaluation, blessing, metrics, verdict = _evaluate(world, "first", world["good"],
                                                       eval_config=_config())
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))
    assert blessing.get_custom_property("blessed") == 1
    assert blessing.get_custom_property("current_model_id") == 11
    assert blessing.get_custom_property("baseline_model_id") is None
    assert [(c["kind"], c["passed"]) for c in verdict["checks"]] == [
        ("value", True), ("change", None), ("trivial_baseline", True)]
    # Hand computation from the bundle's own predictions.
    table = world["table"]
    predicted = np.array(load_bundle(world["good"].uri).predict(table)["prediction"].to_pylist())
    truth = np.array(table["species"].to_pylist())
    island = np.array(table["island"].to_pylist())
    by_slice = {s["slice"]: s for s in metrics["slices"]}
    assert by_slice["Overall"]["example_count"] == 240
    assert by_slice["Overall"]["candidate"]["metrics"]["accuracy"] == pytest.approx(
        np.mean(predicted == truth))
    for name in ("Biscoe", "Dream", "Torgersen"):
        rows = island == name
        got = by_slice[f"island={name}"]
        assert got["example_count"] == int(rows.sum())
        assert got["candidate"]["metrics"]["accuracy"] == pytest.approx(
            np.mean(predicted[rows] == truth[rows]))
    counts = by_slice["Overall"]["candidate"]["confusion_matrix"]["counts"]
    assert counts[0][0] == int(np.sum((truth == "Adelie") & (predicted == "Adelie")))
    assert sum(map(sum, counts)) == 240
    assert os.path.getsize(os.path.join(evaluation.uri, "report.html")) > 1000
    with open(os.path.join(evaluation.uri, "slice_gaps.json")) as f:
        gaps = json.load(f)
    assert set(gaps["metrics"]) >= {"accuracy", "auc", "log_loss"}


def test_worse_candidate_is_not_blessed_against_the_baseline(world):
    _, blessing, metrics, verdict = _evaluate(world, "worse", world["bad"],
                                              baseline=world["good"], eval_config=_config())
    assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))
    assert blessing.get_custom_property("blessed") == 0
    assert blessing.get_custom_property("baseline_model_id") == 11
    overall = metrics["slices"][0]
    assert overall["candidate"]["metrics"]["accuracy"] < overall["baseline"]["metrics"]["accuracy"]
    failed = [c for c in verdict["checks"] if c["passed"] is False]
    assert {c["kind"] for c in failed} == {"value", "change"}
    assert "accuracy on slice Overall" in blessing.get_custom_property("blessing_message")


def test_no_thresholds_blesses_with_warning_min_slice_size_and_intervals(world):
    config = EvalConfig(slicing_specs=[SlicingSpec(feature_keys=["island", "bill_length_mm"])],
                        options=Options(min_slice_size=2, compute_confidence_intervals=True,
                                        num_bootstrap_samples=20))
    _, blessing, metrics, verdict = _evaluate(world, "nothresh", world["bad"], eval_config=config)
    assert blessing.get_custom_property("blessed") == 1
    assert "no thresholds configured" in verdict["warnings"][0]
    # Crossing with a continuous column makes 240 one-example slices, all under the minimum.
    assert [s["slice"] for s in metrics["slices"]] == ["Overall"]
    assert len(metrics["omitted_slices"]) == 240
    interval = metrics["slices"][0]["candidate"]["confidence_intervals"]["accuracy"]
    assert interval["lower"] <= metrics["slices"][0]["candidate"]["metrics"]["accuracy"] \
        <= interval["upper"]


def test_regression_model_metrics_equal_hand_computation(world, tmp_path):
    from gristmill.engine.serving import load_bundle

    train, table = (penguin_like_table(200, seed=s, regression=True) for s in (0, 1))
    model = train_bundle(str(tmp_path / "reg"), train, label_key="body_mass_g", model_id=13)
    local = dict(world, examples=write_examples(str(tmp_path / "ex"), {"eval": table}),
                 root=tmp_path)
    config = EvalConfig(slicing_specs=[SlicingSpec(feature_values={"island": "Dream"})],
                        metrics_specs=[MetricsSpec(metrics=[MetricConfig(
                            class_name="MeanSquaredError", threshold=MetricThreshold(
                                value_threshold=GenericValueThreshold(upper_bound=1e6)))])])
    _, blessing, metrics, _ = _evaluate(local, "reg", model, eval_config=config)
    predicted = load_bundle(model.uri).predict(table)["prediction"].to_numpy()
    truth = table["body_mass_g"].to_numpy()
    dream = np.array(table["island"].to_pylist()) == "Dream"
    by_slice = {s["slice"]: s["candidate"]["metrics"] for s in metrics["slices"]}
    assert list(by_slice) == ["Overall", "island=Dream"]
    assert by_slice["Overall"]["mse"] == pytest.approx(np.mean((predicted - truth) ** 2))
    assert by_slice["island=Dream"]["mae"] == pytest.approx(
        np.mean(np.abs(predicted[dream] - truth[dream])))
    assert by_slice["Overall"]["r2"] > 0.5
    assert blessing.get_custom_property("blessed") == 1


def test_regression_metric_on_classifier_is_refused(world):
    config = EvalConfig(metrics_specs=[MetricsSpec(metrics=[MetricConfig(
        class_name="MeanSquaredError")])])
    with pytest.raises(ConfigError, match="does not apply to a classification model"):
        _evaluate(world, "wrongmetric", world["good"], eval_config=config)


def test_a_missing_slicing_column_is_refused_by_name_before_scoring(world):
    config = EvalConfig(model_specs=[ModelSpec(label_key="species")],
                        slicing_specs=[SlicingSpec(feature_keys=["islnd"])])
    with pytest.raises(ConfigError, match=r"slicing column\(s\) \['islnd'\].*Did you mean "
                                          r"'island'\?"):
        _evaluate(world, "badslice", world["good"], eval_config=config)


def test_component_checks_channel_types():
    examples, model = Channel(Examples), Channel(Model)
    evaluator = Evaluator(examples=examples, model=model, baseline_model=Channel(Model),
                          eval_config=_config())
    assert set(evaluator.outputs) == {"evaluation", "blessing"}
    assert evaluator.outputs["blessing"].type is ModelBlessing
    with pytest.raises(ConfigError, match="expected a Model channel, got Schema"):
        Evaluator(examples=examples, model=Channel(Schema))
