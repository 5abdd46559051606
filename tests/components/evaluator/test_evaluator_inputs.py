"""Evaluator: eval data without the raw columns, the trivial baseline and its gate, and a
baseline model on another label space. Real bundles, real Beam runs."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest
from bundles import SPECIES, penguin_like_table, train_bundle, write_examples

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
)
from gristmill.components.evaluator.executor import EvaluatorExecutor
from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import Examples, ModelBlessing, ModelEvaluation

pytestmark = pytest.mark.integration

ACCURACY = MetricConfig(class_name="Accuracy", threshold=MetricThreshold(
    value_threshold=GenericValueThreshold(lower_bound=0.3),
    change_threshold=GenericChangeThreshold(direction=HIGHER_IS_BETTER, absolute=-1e-10)))


class RecordingReporter(Reporter):
    def __init__(self):
        self.metrics: dict[str, float] = {}

    def log_metrics(self, metrics, step=None):
        self.metrics.update(metrics)


def constant_bundle(directory: str, table: pa.Table, favourite: int, model_id: int):
    """A real bundle whose head ignores its inputs: it predicts one class for every row."""
    import torch
    from safetensors.torch import load_file, save_file

    model = train_bundle(directory, table, good=False, model_id=model_id)
    path = os.path.join(directory, "weights.safetensors")
    state = load_file(path)
    state["head.weight"] = torch.zeros_like(state["head.weight"])
    state["head.bias"] = torch.nn.functional.one_hot(torch.tensor(favourite), 3).float()
    save_file(state, path)
    return model


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_inputs")
    train, evaluation = penguin_like_table(300, seed=0), penguin_like_table(240, seed=1)
    shares = np.unique(np.array(train["species"].to_pylist()), return_counts=True)
    majority = int(np.argmax(shares[1]))
    return {"root": root, "train": train, "table": evaluation, "majority": majority,
            "examples": write_examples(str(root / "examples"), {"eval": evaluation}),
            "good": train_bundle(str(root / "good"), train, model_id=21),
            "constant": constant_bundle(str(root / "constant"), train, majority, 22)}


def evaluate(world, name, model, examples=None, baseline=None, **params):
    out = world["root"] / name
    evaluation = ModelEvaluation(str(out / "evaluation"))
    blessing = ModelBlessing(str(out / "blessing"))
    for artifact in (evaluation, blessing):
        os.makedirs(artifact.uri)
    inputs = {"examples": [examples or world["examples"]], "model": [model]}
    if baseline is not None:
        inputs["baseline_model"] = [baseline]
    reporter = RecordingReporter()
    context = ExecutionContext(component_id="Evaluator", tmp_dir=str(out), reporter=reporter)
    EvaluatorExecutor(context).Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]},
                                  EvaluatorParameters(**params))
    with open(os.path.join(evaluation.uri, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(blessing.uri, "blessing.json")) as f:
        verdict = json.load(f)
    with open(os.path.join(evaluation.uri, "report.html")) as f:
        report = f.read()
    return blessing, metrics, verdict, reporter.metrics, report


def config(**options):
    return EvalConfig(model_specs=[ModelSpec(label_key="species")],
                      metrics_specs=[MetricsSpec(metrics=[ACCURACY, MetricConfig(
                          class_name="AUC")])], options=Options(**options))


def test_examples_without_the_raw_columns_are_refused(world):
    # Transform's transformed_examples: transformed columns and the label, no raw columns.
    table = world["table"]
    transformed = pa.table({"bill_length_mm_z": table["bill_length_mm"],
                            "island_id": pa.array(np.zeros(table.num_rows, np.int64)),
                            "species": table["species"]})
    examples = write_examples(str(world["root"] / "transformed"), {"eval": transformed})
    examples = Examples(examples.uri, id=2, output_key="transformed_examples")
    examples.splits = ["eval"]
    with pytest.raises(ConfigError, match=r"lack raw column\(s\) \['bill_length_mm', "
                                          r"'flipper_length_mm', 'island'\] that model 21 "
                                          r"reads.*transformed_examples.*Fix: wire the raw "
                                          r"examples"):
        evaluate(world, "transformed", world["good"], examples, eval_config=config())
    partial = write_examples(str(world["root"] / "partial"),
                             {"eval": table.drop_columns(["island"])})
    with pytest.raises(ConfigError, match=r"lack raw column\(s\) \['island'\]"):
        evaluate(world, "partial", world["good"], partial, eval_config=config())


def test_a_constant_model_is_shown_beside_the_trivial_baseline_and_not_blessed(world):
    blessing, metrics, verdict, logged, report = evaluate(world, "constant", world["constant"],
                                                          eval_config=config())
    overall = metrics["slices"][0]
    truth = np.array(world["table"]["species"].to_pylist())
    share = float(np.mean(truth == SPECIES[world["majority"]]))
    assert overall["candidate"]["metrics"]["accuracy"] == pytest.approx(share)
    assert overall["candidate"]["metrics"]["auc"] == pytest.approx(0.5)
    trivial = overall["trivial_baseline"]["metrics"]
    assert trivial["accuracy"] == pytest.approx(share) and trivial["auc"] == pytest.approx(0.5)
    counts = np.unique(np.array(world["train"]["species"].to_pylist()), return_counts=True)[1]
    prior = counts / counts.sum()
    labels = np.searchsorted(SPECIES, truth)
    assert trivial["log_loss"] == pytest.approx(-np.mean(np.log(prior[labels])))
    assert logged["eval_trivial_baseline_accuracy"] == pytest.approx(share)
    assert logged["eval_accuracy"] == pytest.approx(share)
    # The value threshold (0.3) passes, but the gate refuses the blessing and says why.
    assert blessing.get_custom_property("blessed") == 0
    assert "NO better than the trivial baseline" in blessing.get_custom_property(
        "blessing_message")
    assert [c["passed"] for c in verdict["checks"] if c["kind"] == "trivial_baseline"] == [False]
    assert "Model vs trivial baseline (overall)" in report and "always &#x27;" in report
    # With the gate off, it is blessed on its thresholds with a loud warning.
    blessing, _, verdict, _, _ = evaluate(world, "constant_nogate", world["constant"],
                                          eval_config=config(trivial_baseline_gate=False))
    assert blessing.get_custom_property("blessed") == 1
    assert any("NO better than the trivial baseline" in w for w in verdict["warnings"])


def test_a_trained_model_beats_the_trivial_baseline(world):
    blessing, metrics, verdict, logged, _ = evaluate(world, "good", world["good"],
                                                     eval_config=config())
    assert blessing.get_custom_property("blessed") == 1
    gate = [c for c in verdict["checks"] if c["kind"] == "trivial_baseline"][0]
    assert gate["passed"] and gate["value"] > gate["baseline"] + 0.3
    for name in metrics["slices"][0]["trivial_baseline"]["metrics"]:
        if name in ("accuracy", "auc", "log_loss", "f1"):
            assert f"eval_trivial_baseline_{name}" in logged


def test_regression_trivial_baseline_is_the_training_mean(world, tmp_path):
    train, table = (penguin_like_table(200, seed=s, regression=True) for s in (0, 1))
    model = train_bundle(str(tmp_path / "reg"), train, label_key="body_mass_g", model_id=23)
    local = dict(world, root=tmp_path)
    examples = write_examples(str(tmp_path / "ex"), {"eval": table})
    _, metrics, verdict, logged, _ = evaluate(local, "reg", model, examples,
                                              eval_config=EvalConfig())
    truth = table["body_mass_g"].to_numpy()
    mean = float(np.mean(train["body_mass_g"].to_numpy()))
    trivial = metrics["slices"][0]["trivial_baseline"]["metrics"]
    assert trivial["rmse"] == pytest.approx(np.sqrt(np.mean((truth - mean) ** 2)))
    assert logged["eval_trivial_baseline_rmse"] == pytest.approx(trivial["rmse"])
    assert [c["passed"] for c in verdict["checks"] if c["kind"] == "trivial_baseline"] == [True]


def test_a_baseline_on_another_label_space_is_not_compared(world):
    renamed = world["train"].set_column(
        world["train"].schema.get_field_index("species"), "species",
        pa.array([{"Adelie": "A", "Chinstrap": "C", "Gentoo": "G"}[s]
                  for s in world["train"]["species"].to_pylist()]))
    other = train_bundle(str(world["root"] / "other_labels"), renamed, good=False, model_id=24)
    blessing, metrics, verdict, _, report = evaluate(world, "other", world["good"],
                                                     baseline=other, eval_config=config())
    note = metrics["baseline_note"]
    assert "baseline model 24 predicts class(es) ['A', 'C', 'G'] that the candidate does not " \
           "know" in note
    assert metrics["baseline_comparable"] is False
    assert "baseline" not in metrics["slices"][0]  # no accuracy counted as class 0
    change = [c for c in verdict["checks"] if c["kind"] == "change"][0]
    assert change["passed"] is None and "predicts class(es)" in change["message"]
    assert any("baseline model is not comparable" in w for w in verdict["warnings"])
    # Value thresholds decide: the good model passes them.
    assert blessing.get_custom_property("blessed") == 1
    assert blessing.get_custom_property("baseline_model_id") == 24
    assert "not comparable" in report


def test_an_empty_eval_split_is_said_with_examplegens_reason(world):
    # Gauntlet (openintro/stent365, psych/Dwyer): hash splitting left eval empty and the
    # Evaluator said "no labelled examples ... (skipped: {})", which hid the cause.
    empty = write_examples(str(world["root"] / "empty"), {"eval": world["table"].slice(0, 0)})
    empty.set_custom_property("split_warnings", ["ExampleGen: split 'eval' is empty (expected "
                                                 "about 40 of 119 rows): ..."])
    with pytest.raises(DataError, match=r"splits \['eval'\] of Examples #1 have 0 rows, so "
                                        r"there is nothing to evaluate\. ExampleGen said: "
                                        r"ExampleGen: split 'eval' is empty.*Fix: evaluate on "
                                        r"a split that has rows"):
        evaluate(world, "empty", world["good"], empty, eval_config=config())
    unlabelled = world["table"].set_column(
        world["table"].schema.get_field_index("species"), "species",
        pa.nulls(world["table"].num_rows, pa.string()))
    nulls = write_examples(str(world["root"] / "nulls"), {"eval": unlabelled})
    with pytest.raises(DataError, match=r"no labelled examples in splits \['eval'\] \(240 rows, "
                                        r"skipped: \{'null label': 240\}\)"):
        evaluate(world, "nulls", world["good"], nulls, eval_config=config())
