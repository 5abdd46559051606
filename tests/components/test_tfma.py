"""gristmill.components.tfma: TFX's EvalConfig shapes build the Evaluator's own config, and
what Gristmill cannot honour is refused naming the field and the fix."""

from __future__ import annotations

import pytest

import gristmill.components.tfma as tfma
from gristmill.components import (
    EvalConfig,
    GenericChangeThreshold,
    GenericValueThreshold,
    MetricConfig,
    MetricDirection,
    MetricsSpec,
    MetricThreshold,
    ModelSpec,
    SlicingSpec,
)
from gristmill.metadata.errors import ConfigError

pytestmark = pytest.mark.unit


def tfx_taxi_eval_config(lower_bound=None):
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="tips_xf",
                                    preprocessing_function_names=["transform_features"])],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["trip_start_hour"])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="BinaryAccuracy", threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(
                    lower_bound=lower_bound or {"value": 0.6}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -1e-10})))])])


def test_tfx_shapes_build_the_native_config():
    native = EvalConfig(
        model_specs=[ModelSpec(label_key="tips_xf",
                               preprocessing_function_names=["transform_features"])],
        slicing_specs=[SlicingSpec(), SlicingSpec(feature_keys=["trip_start_hour"])],
        metrics_specs=[MetricsSpec(metrics=[
            MetricConfig(class_name="ExampleCount"),
            MetricConfig(class_name="BinaryAccuracy", threshold=MetricThreshold(
                value_threshold=GenericValueThreshold(lower_bound=0.6),
                change_threshold=GenericChangeThreshold(
                    direction=MetricDirection.HIGHER_IS_BETTER, absolute=-1e-10)))])])
    assert tfx_taxi_eval_config() == native
    assert tfx_taxi_eval_config(lower_bound=0.6) == native  # a plain number works too
    assert [m.name for m in native.metric_configs] == ["example_count", "accuracy"]


def test_thresholds_dict_and_tfma_config_namespace():
    spec = tfma.MetricsSpec(thresholds={"binary_accuracy": tfma.config.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.7}))},
        metrics=[tfma.MetricConfig(class_name="BinaryAccuracy"),
                 tfma.MetricConfig(class_name="AUC")])
    assert [m.class_name for m in spec.metrics] == ["BinaryAccuracy", "AUC"]
    assert spec.metrics[0].threshold.value_threshold.lower_bound == 0.7
    added = tfma.MetricsSpec(thresholds={"auc": tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.5}))})
    assert added.metrics[0].name == "auc"


@pytest.mark.parametrize("class_name,name", [
    ("SparseCategoricalAccuracy", "accuracy"), ("AUC", "auc"), ("Precision", "precision"),
    ("Recall", "recall"), ("ExampleCount", "example_count"), ("MeanLabel", "mean_label"),
    ("MeanPrediction", "mean_prediction"), ("CalibrationPlot", "calibration"),
    ("BinaryCrossentropy", "log_loss"), ("MeanSquaredError", "mse")])
def test_keras_metric_names_of_the_tfx_examples(class_name, name):
    assert tfma.MetricConfig(class_name=class_name).name == name


@pytest.mark.parametrize("build,match", [
    (lambda: tfma.ModelSpec(signature_name="serving_raw"), r"signature_name='serving_raw'.*"
                                                           r"Fix: use signature_name="),
    (lambda: tfma.ModelSpec(preprocessing_function_names=["tft_layer"]),
     r"\['tft_layer'\].*Fix: use preprocessing_function_names=\['transform_features'\]"),
    (lambda: tfma.ModelSpec(example_weight_key="w"), r"ModelSpec\(example_weight_key=...\)"),
    (lambda: tfma.SlicingSpec(slice_keys_sql="SELECT 1"), r"slice_keys_sql=.*Fix: compute"),
    (lambda: tfma.MetricConfig(class_name="ConfusionMatrixPlot"), "Fix: use Precision"),
    (lambda: tfma.MetricConfig(class_name="AUC", config='{"num_thresholds": 5}'),
     r"MetricConfig\(config=...\)"),
    (lambda: tfma.GenericValueThreshold(lower_bound={"val": 0.6}),
     r"GenericValueThreshold.lower_bound: expected a number or \{'value': number\}"),
    (lambda: tfma.GenericValueThreshold(lower_bound={"value": 0.9},
                                        upper_bound={"value": 0.1}),
     r"tfma.GenericValueThreshold: value: lower_bound 0.9 > upper_bound 0.1"),
    (lambda: tfma.GenericChangeThreshold(absolute={"value": -1e-10}), "direction is required"),
    (lambda: tfma.MetricsSpec(model_names=["a", "b"]), r"MetricsSpec\(model_names=...\)"),
])
def test_refusals_name_the_field_and_the_fix(build, match):
    with pytest.raises(ConfigError, match=match) as raised:
        build()
    assert "validation error" not in str(raised.value)  # no raw pydantic text
