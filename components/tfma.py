"""TFMA's config API over the Evaluator's: ``import gristmill.components.tfma as tfma``.

TFX pipeline files build ``tfma.EvalConfig(...)`` from protobuf-shaped values:
``GenericValueThreshold(lower_bound={'value': 0.6})``, ``ModelSpec(signature_name=...,
preprocessing_function_names=[...])``, ``MetricsSpec(thresholds={...})``. The functions here
accept those shapes verbatim and return the Evaluator's own frozen models
(:mod:`gristmill.components.evaluator.config`), so nothing downstream knows the difference.
What Gristmill cannot honour is refused with a :class:`ConfigError` naming the field and what
to write instead, never a raw pydantic message and never silently dropped.

Example (TFX's taxi EvalConfig, unchanged)::

    import gristmill.components.tfma as tfma

    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="tips_xf",
                                    preprocessing_function_names=["transform_features"])],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["trip_start_hour"])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="BinaryAccuracy", threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.6}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -1e-10})))])])
"""

from __future__ import annotations

import types
from typing import Any

import pydantic

from gristmill.components.evaluator import config as ev
from gristmill.components.evaluator.config import MetricDirection
from gristmill.metadata.errors import ConfigError

#: Signatures a Gristmill bundle answers to (it has one prediction entry point).
SERVING_SIGNATURES = ("", "serving_default", "serve_tf_examples_fn")
#: The TFX name of the signature that applies the fitted transform to raw examples.
TRANSFORM_FUNCTION = "transform_features"
#: TFMA plot/metric class names that are Gristmill metrics under another name.
_METRIC_NAMES = {"CalibrationPlot": "calibration", "Calibration": "calibration"}
#: TFMA names Gristmill does not compute, with what to use instead.
_REFUSED_METRICS = {
    "ConfusionMatrixPlot": "use Precision and Recall (the report shows the confusion counts)",
    "MultiClassConfusionMatrixPlot": "use SparseCategoricalAccuracy, Precision and Recall",
    "WeightedExampleCount": "example weights are not supported; use ExampleCount",
    "FairnessIndicators": "read slice_gaps.json of the evaluation (worst slices against "
                          "overall)",
}


def _unwrap(value: Any, where: str) -> Any:
    """TFMA's wrapper messages (``{'value': 0.6}``) -> the plain value."""
    if isinstance(value, dict):
        if set(value) != {"value"}:
            raise ConfigError(f"tfma.{where}: expected a number or {{'value': number}}, got "
                              f"{value!r}.", fix=f"write {where}={{'value': 0.6}} or 0.6")
        return value["value"]
    return value


def _build(cls: type[pydantic.BaseModel], where: str, **fields: Any) -> Any:
    """``cls(**fields)`` with pydantic's complaints turned into a ConfigError."""
    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except pydantic.ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'value'}: "
                             f"{err['msg'].removeprefix('Value error, ')} (got "
                             f"{err.get('input')!r})" for err in e.errors())
        raise ConfigError(f"tfma.{where}: {problems}.",
                          fix=f"correct {where}'s fields (see docs/tfx_migration.md)") from None


def _no_others(where: str, others: dict[str, Any], fixes: dict[str, str]) -> None:
    for key, value in others.items():
        if value in (None, [], {}, "", False):
            continue  # TFX's defaults mean the same here
        raise ConfigError(f"tfma.{where}({key}=...): not supported by Gristmill.",
                          fix=fixes.get(key, f"drop {key}; see docs/tfx_migration.md"))


def GenericValueThreshold(lower_bound: Any = None, upper_bound: Any = None,  # noqa: N802
                          ) -> ev.GenericValueThreshold:
    """Bounds on the metric value; ``{'value': x}`` or ``x``."""
    return _build(ev.GenericValueThreshold, "GenericValueThreshold",
                  lower_bound=_unwrap(lower_bound, "GenericValueThreshold.lower_bound"),
                  upper_bound=_unwrap(upper_bound, "GenericValueThreshold.upper_bound"))


def GenericChangeThreshold(direction: Any = None, absolute: Any = None,  # noqa: N802
                           relative: Any = None) -> ev.GenericChangeThreshold:
    """Bounds on ``candidate - baseline``; ``{'value': x}`` or ``x``."""
    if direction is None:
        raise ConfigError("tfma.GenericChangeThreshold: direction is required.",
                          fix="pass direction=tfma.MetricDirection.HIGHER_IS_BETTER")
    return _build(ev.GenericChangeThreshold, "GenericChangeThreshold", direction=direction,
                  absolute=_unwrap(absolute, "GenericChangeThreshold.absolute"),
                  relative=_unwrap(relative, "GenericChangeThreshold.relative"))


def MetricThreshold(value_threshold: Any = None, change_threshold: Any = None,  # noqa: N802
                    ) -> ev.MetricThreshold:
    """A value threshold, a change threshold, or both."""
    return _build(ev.MetricThreshold, "MetricThreshold", value_threshold=value_threshold,
                  change_threshold=change_threshold)


def PerSliceMetricThreshold(slicing_specs: list, threshold: Any,  # noqa: N802
                            ) -> ev.PerSliceMetricThreshold:
    """A threshold applied to every slice of ``slicing_specs``."""
    return _build(ev.PerSliceMetricThreshold, "PerSliceMetricThreshold",
                  slicing_specs=slicing_specs, threshold=threshold)


def MetricConfig(class_name: str, threshold: Any = None,  # noqa: N802 - TFMA's name
                 per_slice_thresholds: list | None = None, config: str = "",
                 module: str = "", **others: Any) -> ev.MetricConfig:
    """One metric by TFMA/Keras class name (``BinaryAccuracy``, ``AUC``, ``ExampleCount`` ...).

    Raises:
        ConfigError: A metric Gristmill does not compute, a ``config`` JSON (metric options)
            or a custom ``module``.
    """
    if class_name in _REFUSED_METRICS:
        raise ConfigError(f"tfma.MetricConfig(class_name={class_name!r}): not computed by "
                          "Gristmill.", fix=_REFUSED_METRICS[class_name])
    _no_others("MetricConfig", {"config": config, "module": module, **others},
               {"config": "metric options (thresholds, top_k, num_thresholds) are not "
                          "supported; drop config", "module": "custom metrics are not "
                          "supported; use a built-in class_name"})
    return _build(ev.MetricConfig, "MetricConfig",
                  class_name=_METRIC_NAMES.get(class_name, class_name), threshold=threshold,
                  per_slice_thresholds=per_slice_thresholds)


def MetricsSpec(metrics: list | None = None, thresholds: dict | None = None,  # noqa: N802
                per_slice_thresholds: dict | None = None, model_names: list | None = None,
                output_names: list | None = None, **others: Any) -> ev.MetricsSpec:
    """A group of metrics; TFMA's ``thresholds={'binary_accuracy': MetricThreshold(...)}``
    attaches a threshold to that metric (added when not listed in ``metrics``)."""
    _no_others("MetricsSpec", {"model_names": model_names, "output_names": output_names,
                               "per_slice_thresholds": per_slice_thresholds, **others},
               {"model_names": "one candidate model per Evaluator; drop model_names",
                "output_names": "single-output models only; drop output_names",
                "per_slice_thresholds": "use MetricConfig(per_slice_thresholds=[...])"})
    configs = list(metrics or [])
    for name, threshold in (thresholds or {}).items():
        canonical = ev.canonical_metric_name(_METRIC_NAMES.get(name, name))
        same = [i for i, m in enumerate(configs) if m.name == canonical]
        if same:
            configs[same[0]] = configs[same[0]].model_copy(update={"threshold": threshold})
        else:
            configs.append(MetricConfig(class_name=name, threshold=threshold))
    return _build(ev.MetricsSpec, "MetricsSpec", metrics=configs)


def SlicingSpec(feature_keys: list | None = None,  # noqa: N802 - TFMA's name
                feature_values: dict | None = None, slice_keys_sql: str = "",
                ) -> ev.SlicingSpec:
    """Overall (no keys), or one slice per value (combination) of ``feature_keys``."""
    _no_others("SlicingSpec", {"slice_keys_sql": slice_keys_sql},
               {"slice_keys_sql": "compute the slice column in preprocessing_fn or the "
                                  "examples and use feature_keys=[...]"})
    return _build(ev.SlicingSpec, "SlicingSpec", feature_keys=feature_keys,
                  feature_values={k: str(v) for k, v in (feature_values or {}).items()})


def ModelSpec(name: str = "", signature_name: str = "",  # noqa: N802 - TFMA's name
              label_key: str | None = None, preprocessing_function_names: list | None = None,
              **others: Any) -> ev.ModelSpec:
    """Which column holds the label, and whether the fitted transform makes it.

    ``preprocessing_function_names=['transform_features']`` (TFX's taxi and penguin examples)
    means: apply the model's fitted transform to the raw eval examples first, so a label made
    in ``preprocessing_fn`` (``tips_xf``) is available.
    """
    if signature_name not in SERVING_SIGNATURES:
        raise ConfigError(f"tfma.ModelSpec(signature_name={signature_name!r}): a Gristmill "
                          "bundle has one prediction signature.",
                          fix="use signature_name='serving_default' or leave it out")
    functions = list(preprocessing_function_names or [])
    unknown = [f for f in functions if f != TRANSFORM_FUNCTION]
    if unknown:
        raise ConfigError(f"tfma.ModelSpec(preprocessing_function_names={unknown}): the only "
                          "preprocessing function is the fitted transform.",
                          fix=f"use preprocessing_function_names=[{TRANSFORM_FUNCTION!r}]")
    _no_others("ModelSpec", others, {
        "label_keys": "multi-output models are not supported; use label_key",
        "prediction_key": "drop it: predictions come from the bundle",
        "example_weight_key": "example weights are not supported; drop example_weight_key",
        "is_baseline": "pass the baseline as Evaluator(baseline_model=...)",
        "model_type": "drop it: the bundle knows its task"})
    return _build(ev.ModelSpec, "ModelSpec", name=name, label_key=label_key,
                  preprocessing_function_names=functions)


def Options(compute_confidence_intervals: Any = None,  # noqa: N802 - TFMA's name
            min_slice_size: Any = None, **others: Any) -> ev.Options:
    """Evaluation options; TFMA's ``{'value': x}`` wrappers accepted."""
    _no_others("Options", others, {})
    return _build(ev.Options, "Options", compute_confidence_intervals=_unwrap(
        compute_confidence_intervals, "Options.compute_confidence_intervals"),
        min_slice_size=_unwrap(min_slice_size, "Options.min_slice_size"))


def EvalConfig(model_specs: list | None = None,  # noqa: N802 - TFMA's name
               slicing_specs: list | None = None, metrics_specs: list | None = None,
               options: Any = None, **others: Any) -> ev.EvalConfig:
    """The Evaluator's ``eval_config``."""
    _no_others("EvalConfig", others, {"cross_slicing_specs": "list the crossed keys in one "
                                      "SlicingSpec(feature_keys=[a, b])"})
    return _build(ev.EvalConfig, "EvalConfig", model_specs=model_specs,
                  slicing_specs=slicing_specs, metrics_specs=metrics_specs, options=options)


#: ``tfma.config.MetricThreshold`` and friends, as older TFX files spell them.
config = types.SimpleNamespace(
    EvalConfig=EvalConfig, ModelSpec=ModelSpec, SlicingSpec=SlicingSpec,
    MetricsSpec=MetricsSpec, MetricConfig=MetricConfig, MetricThreshold=MetricThreshold,
    GenericValueThreshold=GenericValueThreshold, GenericChangeThreshold=GenericChangeThreshold,
    PerSliceMetricThreshold=PerSliceMetricThreshold, MetricDirection=MetricDirection,
    Options=Options)

__all__ = ["EvalConfig", "ModelSpec", "SlicingSpec", "MetricsSpec", "MetricConfig",
           "MetricThreshold", "GenericValueThreshold", "GenericChangeThreshold",
           "PerSliceMetricThreshold", "MetricDirection", "Options", "config"]
