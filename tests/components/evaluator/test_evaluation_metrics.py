"""Metrics, thresholds, slicing and gap logic of the Evaluator, as pure functions."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from gristmill.components.evaluator import metrics as em
from gristmill.components.evaluator.config import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    EvalConfig,
    GenericChangeThreshold,
    GenericValueThreshold,
    MetricConfig,
    MetricsSpec,
    MetricThreshold,
    Options,
    PerSliceMetricThreshold,
    SlicingSpec,
    canonical_metric_name,
)
from gristmill.components.evaluator.slice_gaps import slice_gap_report
from gristmill.components.evaluator.slicing import class_indices, score_slice, slice_rows
from gristmill.components.evaluator.validation import check_metric_names, validate
from gristmill.metadata.errors import ConfigError

pytestmark = pytest.mark.unit


def _random_multiclass(n=300, k=3, seed=1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probs.argmax(axis=1), probs


def test_binary_auc_matches_hand_count_with_ties():
    # pairs (pos, neg): 0.9>0.1, 0.9>0.4, 0.4=0.4 (half), 0.4>0.1 -> (1+1+0.5+1)/4
    assert em.binary_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.4, 0.4, 0.1])) == 0.875
    assert math.isnan(em.binary_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_multiclass_metrics_match_sklearn():
    labels, predicted, probs = _random_multiclass()
    got = em.classification_scalars(labels, predicted, probs)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert got["precision"] == pytest.approx(skm.precision_score(labels, predicted,
                                                                 average="macro"))
    assert got["recall"] == pytest.approx(skm.recall_score(labels, predicted, average="macro"))
    assert got["f1"] == pytest.approx(skm.f1_score(labels, predicted, average="macro"))
    assert got["auc"] == pytest.approx(skm.roc_auc_score(labels, probs, multi_class="ovr",
                                                         average="macro"))
    assert got["log_loss"] == pytest.approx(skm.log_loss(labels, probs))
    assert em.confusion_matrix(labels, predicted, 3).tolist() == \
        skm.confusion_matrix(labels, predicted).tolist()


def test_binary_metrics_are_those_of_the_positive_class():
    labels = np.array([1, 1, 0, 0, 1, 0])
    p1 = np.array([0.8, 0.3, 0.6, 0.1, 0.9, 0.2])
    probs = np.stack([1 - p1, p1], axis=1)
    predicted = (p1 >= 0.5).astype(int)
    got = em.classification_scalars(labels, predicted, probs)
    # TP=2 (0.8, 0.9), FP=1 (0.6), FN=1 (0.3)
    assert got["precision"] == pytest.approx(2 / 3)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["auc"] == pytest.approx(skm.roc_auc_score(labels, p1))
    assert got["calibration"] == pytest.approx(p1.mean() / 0.5)


def test_regression_metrics_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.0, 5.0])
    got = em.regression_scalars(y, p)
    assert got["mse"] == pytest.approx((0.25 + 0 + 1 + 1) / 4)
    assert got["rmse"] == pytest.approx(math.sqrt(2.25 / 4))
    assert got["mae"] == pytest.approx(2.5 / 4)
    assert got["r2"] == pytest.approx(1 - 2.25 / 5.0)


def test_calibration_table_and_ece():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.95, 0.05], [0.65, 0.35], [0.4, 0.6], [0.7, 0.3]])
    table = em.calibration_table(labels, probs, bins=10)
    by_bin = {round(r["lower"], 1): r for r in table if r["count"]}
    assert by_bin[0.9]["count"] == 1 and by_bin[0.9]["accuracy"] == 1.0
    assert by_bin[0.6]["count"] == 2 and by_bin[0.6]["accuracy"] == 1.0
    assert by_bin[0.7]["count"] == 1 and by_bin[0.7]["accuracy"] == 0.0
    expected = (abs(0.95 - 1) + 2 * abs(0.625 - 1) + abs(0.7 - 0)) / 4
    assert em.expected_calibration_error(table) == pytest.approx(expected)


def test_bootstrap_is_reproducible_and_brackets_the_estimate():
    labels, predicted, probs = _random_multiclass(n=200)
    args = (labels, predicted, probs)
    first = em.bootstrap_intervals(em.classification_scalars, args, 50, seed=7)
    second = em.bootstrap_intervals(em.classification_scalars, args, 50, seed=7)
    assert first == second
    point = em.classification_scalars(*args)["accuracy"]
    assert first["accuracy"]["lower"] < point < first["accuracy"]["upper"]
    assert "example_count" not in first


def test_class_indices_handles_text_ints_floats_and_nulls():
    classes = [0, 1]
    got = class_indices(pa.array([1.0, 0.0, None, 2.0, 1.5]), classes)
    assert got.tolist() == [1, 0, -2, -1, -1]
    got = class_indices(pa.array(["b", "a", None, "z"]), ["a", "b"])
    assert got.tolist() == [1, 0, -2, -1]


def test_slices_by_value_and_cross_with_nulls_counted():
    table = pa.table({"island": ["A", "B", "A", None, "B"], "sex": ["m", "f", "f", "m", "f"]})
    specs = [SlicingSpec(feature_keys=["island"]), SlicingSpec(feature_keys=["island", "sex"]),
             SlicingSpec(feature_values={"sex": "m"})]
    pieces, skipped = slice_rows(table, specs)
    got = {k: v.tolist() for k, v in pieces}
    assert got[()] == [0, 1, 2, 3, 4]
    assert got[(("island", "A"),)] == [0, 2]
    assert got[(("island", "B"), ("sex", "f"))] == [1, 4]
    assert got[(("sex", "m"),)] == [0, 3]
    assert (("sex", "f"),) not in got
    assert skipped == {"island: null value": 1, "island+sex: null value": 1}


def test_slice_metrics_equal_hand_computation_and_min_size_omits():
    labels = np.array([0, 1, 1, 0, 1])
    predicted = np.array([0, 1, 0, 0, 1])
    probs = np.eye(2)[predicted] * 0.8 + 0.1
    key = (("island", "A"),)
    arrays = {"labels": labels, "candidate_pred": predicted, "candidate_probs": probs}
    out = score_slice(key, arrays, "classification", ["0", "1"], Options(min_slice_size=3))
    assert out["slice"] == "island=A" and out["example_count"] == 5
    assert out["candidate"]["metrics"]["accuracy"] == pytest.approx(4 / 5)
    assert out["candidate"]["metrics"]["recall"] == pytest.approx(2 / 3)
    assert out["candidate"]["confusion_matrix"]["counts"] == [[2, 0], [1, 2]]
    small = score_slice(key, {k: v[:2] for k, v in arrays.items()}, "classification", ["0", "1"],
                        Options(min_slice_size=3))
    assert small["omitted"] and "candidate" not in small


def _slice(name, features, cand, base=None):
    out = {"slice": name, "features": features, "example_count": 10,
           "candidate": {"metrics": cand}}
    if base is not None:
        out["baseline"] = {"metrics": base}
    return out


def _config(threshold, per_slice=()):
    return EvalConfig(metrics_specs=[MetricsSpec(metrics=[MetricConfig(
        class_name="SparseCategoricalAccuracy", threshold=threshold,
        per_slice_thresholds=list(per_slice))])])


def test_value_threshold_only_on_first_run():
    threshold = MetricThreshold(
        value_threshold=GenericValueThreshold(lower_bound=0.6),
        change_threshold=GenericChangeThreshold(direction=HIGHER_IS_BETTER, absolute=-1e-10))
    result = validate(_config(threshold), [_slice("Overall", [], {"accuracy": 0.7})],
                      has_baseline=False)
    assert result.blessed
    assert [c.passed for c in result.checks] == [True, None]
    assert "skipped" in result.warnings[0]
    low = validate(_config(threshold), [_slice("Overall", [], {"accuracy": 0.5})], False)
    assert not low.blessed and "0.5 is outside" in low.reasons[0]


def test_change_threshold_against_baseline_both_directions():
    worse = [_slice("Overall", [], {"accuracy": 0.80}, {"accuracy": 0.90})]
    higher = MetricThreshold(change_threshold=GenericChangeThreshold(
        direction=HIGHER_IS_BETTER, absolute=-1e-10))
    result = validate(_config(higher), worse, has_baseline=True)
    assert not result.blessed and "diff -0.1" in result.reasons[0]
    relative = MetricThreshold(change_threshold=GenericChangeThreshold(
        direction=HIGHER_IS_BETTER, relative=-0.2))
    assert validate(_config(relative), worse, True).blessed  # -11% >= -20%
    lower = MetricThreshold(change_threshold=GenericChangeThreshold(
        direction=LOWER_IS_BETTER, absolute=0.0))
    assert validate(_config(lower), worse, True).blessed  # 0.8 - 0.9 <= 0


def test_no_thresholds_blesses_with_warning_and_nan_fails():
    result = validate(EvalConfig(), [_slice("Overall", [], {"accuracy": 0.1})], False)
    assert result.blessed and "no thresholds configured" in result.warnings[0]
    nan = validate(_config(MetricThreshold(value_threshold=GenericValueThreshold(
        lower_bound=0.5))), [_slice("Overall", [], {"accuracy": None})], False)
    assert not nan.blessed and "could not be computed" in nan.reasons[0]


def test_per_slice_thresholds_apply_to_matching_slices_only():
    per_slice = PerSliceMetricThreshold(
        slicing_specs=[SlicingSpec(feature_keys=["island"])],
        threshold=MetricThreshold(value_threshold=GenericValueThreshold(lower_bound=0.5)))
    slices = [_slice("Overall", [], {"accuracy": 0.9}),
              _slice("island=A", [["island", "A"]], {"accuracy": 0.4}),
              _slice("island=A, sex=m", [["island", "A"], ["sex", "m"]], {"accuracy": 0.1})]
    result = validate(_config(None, [per_slice]), slices, False)
    assert not result.blessed
    assert [c.slice for c in result.checks] == ["island=A"]


def test_metric_names_map_tfma_classes_and_refuse_wrong_task():
    assert canonical_metric_name("MeanSquaredError") == "mse"
    assert canonical_metric_name("AUC") == "auc"
    with pytest.raises(ConfigError, match="unknown metric.*Did you mean"):
        MetricConfig(class_name="Acuracy")
    config = EvalConfig(metrics_specs=[MetricsSpec(metrics=[MetricConfig(class_name="mse")])])
    with pytest.raises(ConfigError, match="does not apply to a classification model"):
        check_metric_names(config, "classification")


def test_gap_report_ranks_worst_slices_in_metric_direction():
    slices = [_slice("Overall", [], {"accuracy": 0.8, "log_loss": 0.5}),
              _slice("a=1", [["a", "1"]], {"accuracy": 0.6, "log_loss": 0.4}),
              _slice("a=2", [["a", "2"]], {"accuracy": 0.9, "log_loss": 0.9})]
    report = slice_gap_report(slices)["metrics"]
    assert report["accuracy"]["worst_slices"][0]["slice"] == "a=1"
    assert report["accuracy"]["max_shortfall"] == pytest.approx(0.2)
    assert report["log_loss"]["worst_slices"][0]["slice"] == "a=2"
    assert report["log_loss"]["max_shortfall"] == pytest.approx(0.4)
