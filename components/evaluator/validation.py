"""Judge evaluated metrics against the thresholds of an :class:`EvalConfig`.

The rules, TFMA's plus one fix:

* A value threshold bounds the candidate's metric (bounds inclusive).
* A change threshold compares the candidate with the baseline (see
  :class:`~gristmill.components.evaluator.config.GenericChangeThreshold`). Without a baseline (the
  first run), or with a baseline that is not comparable (another label space, task or label:
  :mod:`.baseline_compat`), change thresholds are skipped, the reason is said, and only value
  thresholds decide.
* A metric that could not be computed (NaN, e.g. AUC on a one-class slice) fails its threshold.
* With no thresholds at all the model is blessed explicitly, with a warning saying so (TFX
  silently produces no blessing, tensorflow/tfx#5148) -- unless the trivial-baseline gate
  refuses it (:mod:`.trivial_baseline`, applied by the executor after these rules).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from gristmill.components.evaluator.config import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    EvalConfig,
    GenericChangeThreshold,
    GenericValueThreshold,
    MetricDirection,
    SlicingSpec,
)
from gristmill.metadata.errors import ConfigError

OVERALL = "Overall"


@dataclass(frozen=True)
class ThresholdCheck:
    """One threshold applied to one metric on one slice.

    Attributes:
        passed: True/False, or ``None`` when skipped (a change threshold without baseline).
    """

    slice: str
    metric: str
    kind: str
    passed: bool | None
    value: float | None
    baseline: float | None
    bound: dict[str, Any]
    message: str


@dataclass
class ValidationResult:
    """The verdict: blessed or not, and why."""

    blessed: bool
    reasons: list[str]
    checks: list[ThresholdCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    has_baseline: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as written to ``blessing.json``."""
        return {"blessed": self.blessed, "reasons": self.reasons, "warnings": self.warnings,
                "has_baseline": self.has_baseline, "checks": [asdict(c) for c in self.checks]}


def slice_name(features: list[tuple[str, Any]]) -> str:
    """``"Overall"`` or ``"island=Biscoe, sex=male"`` (feature order as given)."""
    if not features:
        return OVERALL
    return ", ".join(f"{k}={v}" for k, v in features)


def slice_matches(spec: SlicingSpec, features: list[tuple[str, Any]]) -> bool:
    """Whether a slice with these ``(feature, value)`` pairs is one that ``spec`` produces."""
    values = dict(features)
    if sorted(values) != sorted(spec.columns):
        return False
    return all(str(values[k]) == str(v) for k, v in spec.feature_values.items())


def check_metric_names(config: EvalConfig, task: str) -> None:
    """Refuse metrics that the model's task cannot produce (MSE of a classifier ...).

    Raises:
        ConfigError: naming the metric, the task and the metrics that apply.
    """
    allowed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    for metric in config.metric_configs:
        if metric.name not in allowed:
            raise ConfigError(f"Evaluator: metric {metric.class_name!r} ({metric.name}) does not "
                              f"apply to a {task} model.",
                              fix=f"use one of {list(allowed)}")


def validate(config: EvalConfig, slices: list[dict[str, Any]], has_baseline: bool,
             baseline_note: str | None = None) -> ValidationResult:
    """Apply every configured threshold to the evaluated slices.

    Args:
        config: The evaluation config.
        slices: Evaluated slices, each ``{"slice": name, "features": [[k, v], ...],
            "candidate": {"metrics": {...}}, "baseline": {"metrics": {...}} | None}``.
        has_baseline: Whether a baseline model was evaluated.
        baseline_note: Why change thresholds are skipped when a baseline model was given
            but is not comparable (default: no baseline model, the first run).

    Returns:
        The :class:`ValidationResult`.
    """
    warnings = [baseline_note] if baseline_note else []
    if not config.has_thresholds:
        warning = ("no thresholds configured in eval_config: the model is blessed explicitly "
                   "without any quality check; add MetricThreshold(...) to gate pushes")
        return ValidationResult(True, [warning], warnings=[*warnings, warning],
                                has_baseline=has_baseline)
    checks: list[ThresholdCheck] = []
    why = baseline_note or "no baseline"
    for metric in config.metric_configs:
        for piece in slices:
            features = [tuple(f) for f in piece["features"]]
            for threshold in _thresholds_for(metric, features):
                checks.extend(_check(piece, metric.name, threshold, has_baseline, why))
    failed = [c for c in checks if c.passed is False]
    skipped = [c for c in checks if c.passed is None]
    if skipped:
        cause = (f"the baseline model is not comparable ({baseline_note})" if baseline_note
                 else "no baseline model (first run)")
        warnings.append(f"{len(skipped)} change threshold(s) skipped: {cause}, so only value "
                        "thresholds decided")
    if failed:
        return ValidationResult(False, [c.message for c in failed], checks, warnings, has_baseline)
    passed = len(checks) - len(skipped)
    reason = f"all {passed} threshold check(s) passed"
    if skipped:
        reason += (f"; {len(skipped)} change check(s) skipped: "
                   f"{'baseline not comparable' if baseline_note else 'no baseline'}")
    return ValidationResult(True, [reason], checks, warnings, has_baseline)


def _thresholds_for(metric, features):
    if not features:
        if metric.threshold is not None:
            yield metric.threshold
        return
    for per_slice in metric.per_slice_thresholds:
        if any(slice_matches(spec, features) for spec in per_slice.slicing_specs):
            yield per_slice.threshold


def _check(piece: dict[str, Any], metric: str, threshold, has_baseline: bool,
           why: str = "no baseline") -> list[ThresholdCheck]:
    value = _metric(piece.get("candidate"), metric)
    out = []
    if threshold.value_threshold is not None:
        out.append(_check_value(piece["slice"], metric, value, threshold.value_threshold))
    if threshold.change_threshold is not None:
        baseline = _metric(piece.get("baseline"), metric) if has_baseline else None
        out.append(_check_change(piece["slice"], metric, value, baseline,
                                 threshold.change_threshold, has_baseline, why))
    return out


def _metric(result: dict[str, Any] | None, metric: str) -> float | None:
    if not result:
        return None
    value = result.get("metrics", {}).get(metric)
    return None if value is None or math.isnan(value) else float(value)


def _check_value(slice_: str, metric: str, value: float | None,
                 bound: GenericValueThreshold) -> ThresholdCheck:
    spec = bound.model_dump(exclude_none=True)
    if value is None:
        return ThresholdCheck(slice_, metric, "value", False, None, None, spec,
                              f"{metric} on slice {slice_}: could not be computed, so its value "
                              f"threshold {spec} fails")
    ok = ((bound.lower_bound is None or value >= bound.lower_bound)
          and (bound.upper_bound is None or value <= bound.upper_bound))
    verdict = "within" if ok else "outside"
    return ThresholdCheck(slice_, metric, "value", ok, value, None, spec,
                          f"{metric} on slice {slice_}: {value:.6g} is {verdict} {spec}")


def _check_change(slice_: str, metric: str, value: float | None, baseline: float | None,
                  bound: GenericChangeThreshold, has_baseline: bool,
                  why: str = "no baseline") -> ThresholdCheck:
    spec = bound.model_dump(exclude_none=True, mode="json")
    if not has_baseline:
        return ThresholdCheck(slice_, metric, "change", None, value, None, spec,
                              f"{metric} on slice {slice_}: change threshold skipped, {why}")
    if value is None or baseline is None:
        which = "candidate" if value is None else "baseline"
        return ThresholdCheck(slice_, metric, "change", False, value, baseline, spec,
                              f"{metric} on slice {slice_}: {which} value could not be computed, "
                              f"so the change threshold {spec} fails")
    diff = value - baseline
    ratio = diff / baseline if baseline != 0 else math.nan
    higher = bound.direction == MetricDirection.HIGHER_IS_BETTER
    ok = True
    if bound.absolute is not None:
        ok &= diff >= bound.absolute if higher else diff <= bound.absolute
    if bound.relative is not None:
        ok &= (not math.isnan(ratio)) and (ratio >= bound.relative if higher
                                           else ratio <= bound.relative)
    verdict = "meets" if ok else "violates"
    return ThresholdCheck(slice_, metric, "change", bool(ok), value, baseline, spec,
                          f"{metric} on slice {slice_}: candidate {value:.6g} vs baseline "
                          f"{baseline:.6g} (diff {diff:+.6g}) {verdict} {spec}")
