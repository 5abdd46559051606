"""Fairness metrics and gates: hand computations (fairlearn's definitions, with pandas) and the
Evaluator refusing a blessing on a fairness threshold."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from bundles import penguin_like_table, train_bundle, write_examples

from gristmill.components.evaluator.config import (
    EvalConfig,
    EvaluatorParameters,
    FairnessSpec,
    GenericValueThreshold,
    ModelSpec,
    SlicingSpec,
)
from gristmill.components.evaluator.executor import EvaluatorExecutor
from gristmill.components.evaluator.fairness import feature_metrics, positive_index
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import ModelBlessing, ModelEvaluation

pytestmark = pytest.mark.integration


def biased_table(n: int, seed: int) -> pa.Table:
    """Binary label ``approved``; group F's features are noisier, so its TPR is lower."""
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.4, "F", "M")
    income = rng.normal(size=n)
    approved = income + 0.3 * rng.normal(size=n) > 0
    noisy = np.where(sex == "F", income + rng.normal(scale=1.5, size=n), income)
    return pa.table({"income": noisy, "debt": rng.normal(size=n), "sex": sex,
                     "approved": np.where(approved, "yes", "no")})


def hand_metrics(frame: pd.DataFrame, feature: str, positive: str) -> dict[str, float]:
    """fairlearn's definitions, independently: rates per group, then max-min and min/max."""
    frame = frame.assign(y=frame["label"] == positive, p=frame["pred"] == positive)
    sel = frame.groupby(feature)["p"].mean()
    tpr = frame[frame["y"]].groupby(feature)["p"].mean()
    fpr = frame[~frame["y"]].groupby(feature)["p"].mean()
    return {"demographic_parity_difference": sel.max() - sel.min(),
            "demographic_parity_ratio": sel.min() / sel.max(),
            "equal_opportunity_difference": tpr.max() - tpr.min(),
            "equal_opportunity_ratio": tpr.min() / tpr.max(),
            "equalized_odds_difference": max(tpr.max() - tpr.min(), fpr.max() - fpr.min()),
            "equalized_odds_ratio": min(tpr.min() / tpr.max(), fpr.min() / fpr.max())}


@pytest.mark.unit
def test_feature_metrics_match_hand_computation_and_name_undefined_groups():
    rng = np.random.default_rng(3)
    groups = rng.choice(["a", "b", "c"], 400).astype(object)
    y_true, y_pred = rng.random(400) < 0.5, rng.random(400) < 0.4
    got = feature_metrics(y_true, y_pred, groups)
    frame = pd.DataFrame({"g": groups, "label": np.where(y_true, "1", "0"),
                          "pred": np.where(y_pred, "1", "0")})
    for name, value in hand_metrics(frame, "g", "1").items():
        assert got["metrics"][name] == pytest.approx(value), name
    # A group without positive labels has no TPR: left out of the TPR difference, and named.
    groups2 = np.array(["a", "a", "b", "b", "z"], dtype=object)
    y2, p2 = np.array([1, 0, 1, 0, 0], bool), np.array([1, 0, 0, 1, 1], bool)
    got = feature_metrics(y2, p2, groups2)
    assert got["undefined"]["tpr (no positive labels)"] == ["z"]
    assert got["metrics"]["equal_opportunity_difference"] == 1.0  # a: 1.0, b: 0.0
    assert got["metrics"]["equal_opportunity_ratio"] == 0.0
    assert got["metrics"]["demographic_parity_difference"] == pytest.approx(0.5)  # .5 .5 1
    one = feature_metrics(y2[:2], p2[:2], groups2[:2])
    assert one["metrics"]["equal_opportunity_difference"] is None


@pytest.mark.unit
def test_positive_class_rules():
    spec = FairnessSpec(sensitive_features=["sex"])
    assert positive_index(spec, "classification", ["no", "yes"]) == 1
    with pytest.raises(ConfigError, match="3-class model needs"):
        positive_index(spec, "classification", ["a", "b", "c"])
    spec_b = FairnessSpec(sensitive_features=["sex"], positive_class="b")
    assert positive_index(spec_b, "classification", ["a", "b", "c"]) == 1
    with pytest.raises(ConfigError, match="is not one of the model's classes"):
        positive_index(FairnessSpec(sensitive_features=["s"], positive_class="x"),
                       "classification", ["a", "b"])
    with pytest.raises(ConfigError, match="regression"):
        positive_index(spec, "regression", [])
    with pytest.raises(ValueError, match="unknown fairness metric"):
        FairnessSpec(sensitive_features=["s"], thresholds={
            "equal_oportunity_difference": GenericValueThreshold(upper_bound=0.1)})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fair")
    eval_table = biased_table(600, seed=1)
    examples = write_examples(str(root / "examples"), {"eval": eval_table}, files_per_split=2)
    model = train_bundle(str(root / "model"), biased_table(800, seed=0), label_key="approved",
                         model_id=21)
    return {"root": root, "examples": examples, "model": model, "table": eval_table}


class Recorder:
    def __init__(self):
        self.metrics = {}

    def log_metrics(self, metrics, step=None):
        self.metrics.update(metrics)

    def __getattr__(self, name):
        return lambda *a, **k: None


def evaluate(world, name, fairness, label_key="approved"):
    out = world["root"] / name
    evaluation, blessing = (ModelEvaluation(str(out / "evaluation")),
                            ModelBlessing(str(out / "blessing")))
    for artifact in (evaluation, blessing):
        os.makedirs(artifact.uri)
    (out / "tmp").mkdir()
    reporter = Recorder()
    config = EvalConfig(model_specs=[ModelSpec(label_key=label_key)],
                        slicing_specs=[SlicingSpec()], fairness=fairness)
    EvaluatorExecutor(ExecutionContext(component_id="Evaluator", tmp_dir=str(out / "tmp"),
                                       reporter=reporter)).Do(
        {"examples": [world["examples"]], "model": [world["model"]]},
        {"evaluation": [evaluation], "blessing": [blessing]},
        EvaluatorParameters(eval_config=config))
    read = {}
    for artifact, file in ((evaluation, "metrics.json"), (blessing, "blessing.json")):
        with open(os.path.join(artifact.uri, file)) as f:
            read[file] = json.load(f)
    with open(os.path.join(evaluation.uri, "report.html"), encoding="utf-8") as f:
        read["report"] = f.read()
    return read, reporter.metrics, blessing


def expected(world) -> dict[str, float]:
    from gristmill.engine.serving import load_bundle

    table = world["table"]
    pred = load_bundle(world["model"].uri).predict(table)["prediction"].to_pylist()
    frame = pd.DataFrame({"sex": table["sex"].to_pylist(), "pred": pred,
                          "label": table["approved"].to_pylist()})
    return hand_metrics(frame, "sex", "yes")


def test_evaluator_reports_fairness_equal_to_hand_computation_and_logs_it(world):
    read, metrics, blessing = evaluate(world, "report", FairnessSpec(sensitive_features=["sex"]))
    want = expected(world)
    got = read["metrics.json"]["fairness"]
    assert got["positive_class"] == "yes" and not got["one_vs_rest"]
    for name, value in want.items():
        assert got["features"]["sex"]["metrics"][name] == pytest.approx(value), name
        assert metrics[f"fairness_{name}/sex"] == pytest.approx(value)
    assert want["equal_opportunity_difference"] > 0.05  # the data is built to be unfair
    groups = got["features"]["sex"]["groups"]
    assert {g: r["count"] for g, r in groups.items()} == {
        "F": world["table"]["sex"].to_pylist().count("F"),
        "M": world["table"]["sex"].to_pylist().count("M")}
    assert "Fairness (positive class yes)" in read["report"]
    assert read["blessing.json"]["blessed"] is True  # no fairness threshold: reported only


def test_a_fairness_threshold_refuses_the_blessing_with_a_readable_reason(world):
    eod = expected(world)["equal_opportunity_difference"]
    bound = round(eod - 0.02, 2)
    read, metrics, blessing = evaluate(world, "gate", FairnessSpec(
        sensitive_features=["sex"],
        thresholds={"equal_opportunity_difference": GenericValueThreshold(upper_bound=bound)}))
    verdict = read["blessing.json"]
    assert verdict["blessed"] is False
    assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))
    reason = f"equal opportunity difference {eod:.2f} for sex exceeds {bound:.2f}"
    assert reason in verdict["reasons"]
    assert reason in blessing.get_custom_property("blessing_message")
    assert reason in read["report"]
    fairness_checks = [c for c in verdict["checks"] if c["kind"] == "fairness"]
    assert [(c["metric"], c["passed"]) for c in fairness_checks] == [
        ("fairness_equal_opportunity_difference/sex", False)]
    assert metrics["blessed"] == 0.0


def test_a_fairness_threshold_that_holds_blesses(world):
    eod = expected(world)["equal_opportunity_difference"]
    read, _, blessing = evaluate(world, "pass", FairnessSpec(
        sensitive_features=["sex"],
        thresholds={"equal_opportunity_difference":
                    GenericValueThreshold(upper_bound=round(eod + 0.02, 2))}))
    assert read["blessing.json"]["blessed"] is True
    assert "1 fairness check(s) passed" in read["blessing.json"]["reasons"]


def test_a_missing_sensitive_column_is_refused_by_name(world):
    with pytest.raises(ConfigError, match=r"FairnessSpec sensitive feature\(s\) \['gender'\]"):
        evaluate(world, "missing", FairnessSpec(sensitive_features=["gender"]))


def test_multiclass_is_one_vs_rest_for_the_named_class(world, tmp_path):
    from gristmill.engine.serving import load_bundle

    table = penguin_like_table(300, seed=4)
    penguins = {"root": tmp_path, "table": table,
                "examples": write_examples(str(tmp_path / "ex"), {"eval": table}),
                "model": train_bundle(str(tmp_path / "m"), penguin_like_table(300, seed=0),
                                      good=False, model_id=22)}
    with pytest.raises(ConfigError, match="3-class model needs"):
        evaluate(penguins, "refused", FairnessSpec(sensitive_features=["island"]), "species")
    read, metrics, _ = evaluate(penguins, "ovr", FairnessSpec(
        sensitive_features=["island"], positive_class="Gentoo"), "species")
    got = read["metrics.json"]["fairness"]
    assert got["positive_class"] == "Gentoo" and got["one_vs_rest"] is True
    pred = load_bundle(penguins["model"].uri).predict(table)["prediction"].to_pylist()
    frame = pd.DataFrame({"island": table["island"].to_pylist(), "pred": pred,
                          "label": table["species"].to_pylist()})
    for name, value in hand_metrics(frame, "island", "Gentoo").items():
        assert got["features"]["island"]["metrics"][name] == pytest.approx(value), name
        assert metrics[f"fairness_{name}/island"] == pytest.approx(value)
