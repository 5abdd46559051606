"""Typed evaluation configuration with TFMA's names (``EvalConfig``, ``MetricThreshold`` ...).

Everything is a frozen pydantic model: a pipeline definition holds values, never JSON strings.
The structure follows ``tensorflow_model_analysis/proto/config.proto`` closely enough that a
TFX user can translate ``tfma.EvalConfig(...)`` by swapping the import::

    EvalConfig(
        model_specs=[ModelSpec(label_key="species")],
        slicing_specs=[SlicingSpec(), SlicingSpec(feature_keys=["island"])],
        metrics_specs=[MetricsSpec(metrics=[MetricConfig(
            class_name="SparseCategoricalAccuracy",
            threshold=MetricThreshold(
                value_threshold=GenericValueThreshold(lower_bound=0.6),
                change_threshold=GenericChangeThreshold(
                    direction=MetricDirection.HIGHER_IS_BETTER, absolute=-1e-10)))])])
"""

from __future__ import annotations

import enum
from typing import Literal

import pydantic

from gristmill.components.framework.base import Parameters
from gristmill.metadata.errors import ConfigError, did_you_mean


class _Frozen(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class MetricDirection(str, enum.Enum):
    """Which way a metric improves; needed to judge a change against the baseline."""

    HIGHER_IS_BETTER = "HIGHER_IS_BETTER"
    LOWER_IS_BETTER = "LOWER_IS_BETTER"


HIGHER_IS_BETTER = MetricDirection.HIGHER_IS_BETTER
LOWER_IS_BETTER = MetricDirection.LOWER_IS_BETTER


class GenericValueThreshold(_Frozen):
    """Bounds on the candidate's metric value, both inclusive; either may be left out."""

    lower_bound: float | None = None
    upper_bound: float | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> GenericValueThreshold:
        if self.lower_bound is None and self.upper_bound is None:
            raise ValueError("GenericValueThreshold needs lower_bound and/or upper_bound")
        if (self.lower_bound is not None and self.upper_bound is not None
                and self.lower_bound > self.upper_bound):
            raise ValueError(f"lower_bound {self.lower_bound} > upper_bound {self.upper_bound}")
        return self


class GenericChangeThreshold(_Frozen):
    """Bounds on ``candidate - baseline`` (``absolute``) and on its ratio to the baseline
    (``relative``), read in ``direction`` as TFMA does.

    With ``HIGHER_IS_BETTER`` the candidate passes when ``diff >= absolute`` and
    ``diff / baseline >= relative``; with ``LOWER_IS_BETTER`` when both are ``<=``. So
    ``absolute=-1e-10`` with ``HIGHER_IS_BETTER`` means "no worse than the baseline".
    """

    direction: MetricDirection
    absolute: float | None = None
    relative: float | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> GenericChangeThreshold:
        if self.absolute is None and self.relative is None:
            raise ValueError("GenericChangeThreshold needs absolute and/or relative")
        return self


class MetricThreshold(_Frozen):
    """A value threshold, a change threshold, or both."""

    value_threshold: GenericValueThreshold | None = None
    change_threshold: GenericChangeThreshold | None = None


class SlicingSpec(_Frozen):
    """One way to slice: no keys is the overall slice; several keys form a cross.

    Attributes:
        feature_keys: Raw feature columns whose values define slices (``["island", "sex"]``
            gives one slice per observed pair).
        feature_values: Keep only the slice with these values, e.g. ``{"island": "Biscoe"}``.
    """

    feature_keys: list[str] = []
    feature_values: dict[str, str] = {}

    @property
    def columns(self) -> list[str]:
        """Every column the spec reads, keys first."""
        return [*self.feature_keys, *(k for k in self.feature_values if k not in self.feature_keys)]


class PerSliceMetricThreshold(_Frozen):
    """A threshold that applies to every slice produced by ``slicing_specs``."""

    slicing_specs: list[SlicingSpec]
    threshold: MetricThreshold


class MetricConfig(_Frozen):
    """One metric, by TFMA/Keras class name or Gristmill name, with optional thresholds.

    ``threshold`` applies to the overall slice; ``per_slice_thresholds`` to other slices.
    """

    class_name: str
    threshold: MetricThreshold | None = None
    per_slice_thresholds: list[PerSliceMetricThreshold] = []

    @pydantic.field_validator("class_name")
    @classmethod
    def _known(cls, value: str) -> str:
        canonical_metric_name(value)
        return value

    @property
    def name(self) -> str:
        """The Gristmill metric name this config computes, e.g. ``"accuracy"``."""
        return canonical_metric_name(self.class_name)


class MetricsSpec(_Frozen):
    """A group of metrics (TFMA allows several groups; they are simply merged)."""

    metrics: list[MetricConfig] = []


class ModelSpec(_Frozen):
    """Which column holds the label. ``None`` takes the label key from the serving bundle.

    ``preprocessing_function_names=["transform_features"]`` (TFMA's name): the label is an
    output of the model's fitted transform, computed from the raw eval examples.

    ``model_type`` (TFMA's ``model_type``, e.g. ``tf_lite``) picks what is evaluated as the
    candidate: ``bundle`` (the Python serving bundle, default), ``onnx`` (the raw-record
    ``model.onnx``) or ``onnx_int8`` (``model_int8.onnx``, an edge model): with
    ``onnx_int8`` the quantized model is blessed only if it meets the thresholds itself. The
    baseline is always evaluated as its Python bundle.
    """

    name: str = ""
    label_key: str | None = None
    preprocessing_function_names: list[str] = []
    model_type: Literal["bundle", "onnx", "onnx_int8"] = "bundle"


class Options(_Frozen):
    """Evaluation options.

    Attributes:
        min_slice_size: Slices with fewer examples are listed as omitted, not scored.
        compute_confidence_intervals: Bootstrap 95% intervals for every scalar metric.
        num_bootstrap_samples: Resamples for the intervals.
        bootstrap_seed: Fixed seed, so reruns give identical intervals.
        calibration_bins: Bins of the calibration (reliability) table.
        max_examples_per_slice: Exact metrics keep every example of a slice in memory;
            a slice above this bound is refused rather than approximated silently.
        trivial_baseline_gate: Refuse the blessing to a model no better than the trivial
            baseline (majority class / training mean) on the overall slice; ``False`` turns
            the refusal into a warning (see :mod:`.trivial_baseline`).
    """

    min_slice_size: int = pydantic.Field(default=1, ge=1)
    compute_confidence_intervals: bool = False
    num_bootstrap_samples: int = pydantic.Field(default=100, ge=2)
    bootstrap_seed: int = 0
    calibration_bins: int = pydantic.Field(default=10, ge=1)
    max_examples_per_slice: int = pydantic.Field(default=2_000_000, ge=1)
    trivial_baseline_gate: bool = True


#: Fairness metrics reported per sensitive feature (:mod:`.fairness`); a ``_difference`` is
#: ``max - min`` over the feature's groups (lower is fairer), a ``_ratio`` is ``min / max``
#: (higher is fairer).
FAIRNESS_METRICS = ("demographic_parity_difference", "demographic_parity_ratio",
                    "equal_opportunity_difference", "equal_opportunity_ratio",
                    "equalized_odds_difference", "equalized_odds_ratio")


class FairnessSpec(_Frozen):
    """Fairness metrics per sensitive feature, with thresholds that can refuse the blessing.

    Classification only. Binary: the positive class is ``positive_class`` or, when unset, the
    bundle's second class. Multiclass: ``positive_class`` is required and the metrics are
    one-vs-rest for that class (refused without it). Regression models are refused.

    Attributes:
        sensitive_features: Raw columns of the eval examples whose values form the groups
            (a null value is its own group, ``"<null>"``).
        positive_class: The class whose selection counts as the favourable outcome.
        thresholds: Bounds per metric name (one of ``FAIRNESS_METRICS``), applied to every
            sensitive feature, e.g. ``{"equal_opportunity_difference":
            GenericValueThreshold(upper_bound=0.1)}``. A metric that cannot be computed
            (fewer than two groups with a defined rate) fails its threshold.

    Example::

        FairnessSpec(sensitive_features=["sex"], thresholds={
            "equal_opportunity_difference": GenericValueThreshold(upper_bound=0.10),
            "demographic_parity_ratio": GenericValueThreshold(lower_bound=0.8)})
    """

    sensitive_features: list[str] = pydantic.Field(min_length=1)
    positive_class: str | None = None
    thresholds: dict[str, GenericValueThreshold] = {}

    @pydantic.field_validator("thresholds")
    @classmethod
    def _known_metrics(cls, value: dict[str, GenericValueThreshold]
                       ) -> dict[str, GenericValueThreshold]:
        for name in value:
            if name not in FAIRNESS_METRICS:
                raise ValueError(f"unknown fairness metric {name!r}"
                                 f"{did_you_mean(name, list(FAIRNESS_METRICS))}; use one of "
                                 f"{list(FAIRNESS_METRICS)}")
        return value


class AttributionsSpec(_Frozen):
    """Permutation importance of every raw feature on a bounded sample of the eval split.

    Each raw column the model reads is shuffled ``num_repeats`` times over ``max_rows``
    sampled rows (seeded); its importance is the mean increase of the per-row loss (0/1
    error for classification, so accuracy drop; squared error for regression, so MSE
    increase). The 95% interval bootstraps the per-row differences over rows. Cost: about
    ``1 + features * num_repeats`` predictions of ``max_rows`` rows; the seconds taken and
    the rows used are reported.

    Attributes:
        max_rows: Rows sampled (uniformly, without replacement) from the eval split.
        num_repeats: Shuffles per feature.
        num_bootstrap_samples: Resamples of the interval.
        seed: Fixes the sample, the shuffles and the resamples.
    """

    max_rows: int = pydantic.Field(default=5000, ge=10)
    num_repeats: int = pydantic.Field(default=5, ge=1)
    num_bootstrap_samples: int = pydantic.Field(default=200, ge=10)
    seed: int = 0


class EvalConfig(_Frozen):
    """Everything the Evaluator needs to score and judge a model.

    ``fairness`` (off by default) adds fairness metrics and gates (:class:`FairnessSpec`);
    ``attributions`` (off by default) adds permutation importance (:class:`AttributionsSpec`).
    """

    model_specs: list[ModelSpec] = [ModelSpec()]
    slicing_specs: list[SlicingSpec] = [SlicingSpec()]
    metrics_specs: list[MetricsSpec] = []
    options: Options = Options()
    fairness: FairnessSpec | None = None
    attributions: AttributionsSpec | None = None

    @property
    def metric_configs(self) -> list[MetricConfig]:
        """All configured metrics, across every ``MetricsSpec``."""
        return [m for spec in self.metrics_specs for m in spec.metrics]

    @property
    def has_thresholds(self) -> bool:
        """Whether any metric carries a threshold (otherwise blessing is a rubber stamp)."""
        return (any(m.threshold is not None or m.per_slice_thresholds
                    for m in self.metric_configs)
                or bool(self.fairness and self.fairness.thresholds))


CLASSIFICATION_METRICS = ("example_count", "accuracy", "precision", "recall", "f1", "auc",
                          "log_loss", "expected_calibration_error", "calibration")
REGRESSION_METRICS = ("example_count", "mse", "rmse", "mae", "r2", "mean_label",
                      "mean_prediction")
#: Metrics whose value gets better as it goes down (for the slice-gap report).
LOWER_IS_BETTER_METRICS = frozenset({"log_loss", "expected_calibration_error", "mse", "rmse",
                                     "mae"})

_ALIASES = {
    "accuracy": "accuracy", "binaryaccuracy": "accuracy", "categoricalaccuracy": "accuracy",
    "sparsecategoricalaccuracy": "accuracy", "auc": "auc", "precision": "precision",
    "recall": "recall", "f1": "f1", "f1score": "f1", "logloss": "log_loss",
    "binarycrossentropy": "log_loss", "categoricalcrossentropy": "log_loss",
    "sparsecategoricalcrossentropy": "log_loss", "calibration": "calibration",
    "expectedcalibrationerror": "expected_calibration_error", "mse": "mse",
    "meansquarederror": "mse", "rmse": "rmse", "rootmeansquarederror": "rmse", "mae": "mae",
    "meanabsoluteerror": "mae", "r2": "r2", "rsquared": "r2", "examplecount": "example_count",
    "meanlabel": "mean_label", "meanprediction": "mean_prediction",
}


def canonical_metric_name(class_name: str) -> str:
    """Map a TFMA/Keras class name or a Gristmill name to the Gristmill metric name.

    Raises:
        ConfigError: The name is not a metric Gristmill computes.
    """
    key = class_name.replace("_", "").replace(" ", "").lower()
    if key not in _ALIASES:
        known = sorted(set(CLASSIFICATION_METRICS + REGRESSION_METRICS))
        raise ConfigError(f"MetricConfig(class_name={class_name!r}): unknown metric."
                          f"{did_you_mean(class_name, [*known, 'Accuracy', 'AUC'])}",
                          fix=f"use one of {known} or a TFMA class name such as "
                              "'SparseCategoricalAccuracy', 'AUC', 'MeanSquaredError'")
    return _ALIASES[key]


class EvaluatorParameters(Parameters):
    """Evaluator parameters.

    Attributes:
        eval_config: Label, slices, metrics and thresholds.
        example_splits: Splits to evaluate on, together; default ``["eval"]``.
    """

    eval_config: EvalConfig = EvalConfig()
    example_splits: list[str] = ["eval"]
