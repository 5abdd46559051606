"""Fairness metrics per sensitive feature, and the gate that can refuse the blessing.

Definitions (those of fairlearn, computed on the overall slice, the same rows the metrics
use): for each group ``g`` of a sensitive feature, with ``y = label is the positive class``
and ``p = prediction is the positive class``,

* selection rate ``P(p | g)``; true positive rate ``P(p | y, g)``; false positive rate
  ``P(p | not y, g)``.
* ``demographic_parity_difference`` = max - min of the selection rates over groups,
  ``demographic_parity_ratio`` = min / max.
* ``equal_opportunity_difference`` / ``_ratio``: the same over true positive rates.
* ``equalized_odds_difference`` = the larger of the TPR and FPR differences;
  ``equalized_odds_ratio`` = the smaller of the TPR and FPR ratios.

A group where a rate is undefined (no positive labels for the TPR, no negatives for the FPR)
is left out of that rate's difference and named in ``undefined``; with fewer than two defined
groups the metric is ``None`` (and a threshold on it fails). A null sensitive value is its own
group, ``"<null>"``. A ratio with a zero maximum is ``None``.

Binary models: the positive class is ``FairnessSpec.positive_class`` or the bundle's second
class. Multiclass: one-vs-rest for ``positive_class``, which is then required. Regression:
refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from gristmill.components.evaluator.config import FairnessSpec, GenericValueThreshold
from gristmill.components.evaluator.validation import OVERALL, ThresholdCheck, ValidationResult
from gristmill.metadata.errors import ConfigError

NULL_GROUP = "<null>"
ARRAY_PREFIX = "sensitive/"


def positive_index(spec: FairnessSpec, task: str, classes: Sequence[Any]) -> int:
    """Index of the positive class in ``classes``.

    Raises:
        ConfigError: Regression model; multiclass without ``positive_class``; a
            ``positive_class`` that is not one of the classes.
    """
    names = [str(c) for c in classes]
    if task != "classification":
        raise ConfigError("Evaluator: fairness metrics need a classification model; this one "
                          "is a regression model.",
                          fix="remove EvalConfig(fairness=...) or slice the regression metrics "
                              "by the sensitive feature (SlicingSpec(feature_keys=[...]))")
    if spec.positive_class is not None:
        if spec.positive_class not in names:
            raise ConfigError(f"Evaluator: FairnessSpec(positive_class={spec.positive_class!r}) "
                              f"is not one of the model's classes {names}.",
                              fix=f"set positive_class to one of {names}")
        return names.index(spec.positive_class)
    if len(names) != 2:
        raise ConfigError(f"Evaluator: fairness on a {len(names)}-class model needs "
                          f"FairnessSpec(positive_class=...) (classes {names}); the metrics are "
                          "then one-vs-rest for that class.",
                          fix=f"set positive_class to one of {names}")
    return 1


def check_sensitive_columns(files: Sequence[str], spec: FairnessSpec | None) -> None:
    """Refuse sensitive features that are not columns of the eval files, before scoring.

    Raises:
        ConfigError: naming the missing columns, the file, a close match and the fix.
    """
    import pyarrow.parquet as pq

    from gristmill.metadata.errors import did_you_mean

    if spec is None:
        return
    for path in files:
        present = pq.read_schema(path).names
        missing = [c for c in spec.sensitive_features if c not in present]
        if missing:
            hint = "".join(did_you_mean(c, present) for c in missing)
            raise ConfigError(
                f"Evaluator: FairnessSpec sensitive feature(s) {missing} are not in the eval "
                f"examples ({path} has {present}).{hint}",
                fix="name raw columns of the eval examples in "
                    "FairnessSpec(sensitive_features=[...])")


def _rate(hits: np.ndarray, among: np.ndarray) -> float | None:
    n = int(among.sum())
    return float(hits[among].mean()) if n else None


def group_rates(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray
                ) -> dict[str, dict[str, Any]]:
    """Per group: ``count``, ``positives``, ``selection_rate``, ``tpr``, ``fpr`` (``None`` when
    undefined). ``y_true``/``y_pred`` are booleans (is the positive class)."""
    out = {}
    for group in sorted(set(groups.tolist())):
        rows = groups == group
        out[group] = {"count": int(rows.sum()), "positives": int((y_true & rows).sum()),
                      "selection_rate": _rate(y_pred, rows),
                      "tpr": _rate(y_pred, rows & y_true),
                      "fpr": _rate(y_pred, rows & ~y_true)}
    return out


def _spread(rates: dict[str, dict[str, Any]], key: str) -> tuple[float | None, float | None,
                                                                  list[str]]:
    defined = {g: r[key] for g, r in rates.items() if r[key] is not None}
    undefined = sorted(g for g in rates if g not in defined)
    if len(defined) < 2:
        return None, None, undefined
    high, low = max(defined.values()), min(defined.values())
    return high - low, (low / high if high > 0 else None), undefined


def _worst(a: float | None, b: float | None, pick) -> float | None:
    return None if a is None or b is None else pick(a, b)


def feature_metrics(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray
                    ) -> dict[str, Any]:
    """Every metric of :data:`~.config.FAIRNESS_METRICS` for one sensitive feature, with
    the per-group rates and the groups left out of each rate."""
    rates = group_rates(y_true, y_pred, groups)
    dp_diff, dp_ratio, _ = _spread(rates, "selection_rate")
    tpr_diff, tpr_ratio, no_positives = _spread(rates, "tpr")
    fpr_diff, fpr_ratio, no_negatives = _spread(rates, "fpr")
    metrics = {"demographic_parity_difference": dp_diff, "demographic_parity_ratio": dp_ratio,
               "equal_opportunity_difference": tpr_diff, "equal_opportunity_ratio": tpr_ratio,
               "equalized_odds_difference": _worst(tpr_diff, fpr_diff, max),
               "equalized_odds_ratio": _worst(tpr_ratio, fpr_ratio, min)}
    return {"metrics": metrics, "groups": rates,
            "undefined": {"tpr (no positive labels)": no_positives,
                          "fpr (no negative labels)": no_negatives}}


def group_values(column: Any) -> np.ndarray:
    """A sensitive column (Arrow) as an object array of group names, nulls as ``"<null>"``."""
    values = column.to_pylist()
    return np.array([NULL_GROUP if v is None else _text(v) for v in values], dtype=object)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def fairness_of_slice(arrays: dict[str, np.ndarray], positive: int,
                      classes: Sequence[Any]) -> dict[str, Any]:
    """Fairness of the candidate on one slice's arrays (``labels``, ``candidate_pred`` and
    one ``sensitive/<feature>`` array per sensitive feature)."""
    y_true = arrays["labels"] == positive
    y_pred = arrays["candidate_pred"] == positive
    features = {name[len(ARRAY_PREFIX):]: feature_metrics(y_true, y_pred, values)
                for name, values in arrays.items() if name.startswith(ARRAY_PREFIX)}
    return {"positive_class": str(classes[positive]),
            "one_vs_rest": len(classes) > 2, "features": features}


def logged_metrics(fairness: dict[str, Any] | None) -> dict[str, float]:
    """MLflow metrics ``fairness_<metric>/<feature>``, finite values only."""
    out = {}
    for feature, info in ((fairness or {}).get("features") or {}).items():
        for metric, value in info["metrics"].items():
            if value is not None and math.isfinite(value):
                out[f"fairness_{metric}/{feature}"] = float(value)
    return out


def _check(feature: str, metric: str, value: float | None,
           bound: GenericValueThreshold) -> ThresholdCheck:
    spec = bound.model_dump(exclude_none=True)
    words = metric.replace("_", " ")
    name = f"fairness_{metric}/{feature}"
    if value is None:
        return ThresholdCheck(OVERALL, name, "fairness", False, None, None, spec,
                              f"{words} for {feature} could not be computed (fewer than two "
                              f"groups with a defined rate), so its threshold {spec} fails")
    if bound.upper_bound is not None and value > bound.upper_bound:
        return ThresholdCheck(OVERALL, name, "fairness", False, value, None, spec,
                              f"{words} {value:.2f} for {feature} exceeds {bound.upper_bound:.2f}")
    if bound.lower_bound is not None and value < bound.lower_bound:
        return ThresholdCheck(OVERALL, name, "fairness", False, value, None, spec,
                              f"{words} {value:.2f} for {feature} is below "
                              f"{bound.lower_bound:.2f}")
    return ThresholdCheck(OVERALL, name, "fairness", True, value, None, spec,
                          f"{words} {value:.4g} for {feature} is within {spec}")


def apply_fairness_gate(result: ValidationResult, fairness: dict[str, Any] | None,
                        spec: FairnessSpec | None) -> ValidationResult:
    """Add one check per (sensitive feature, thresholded metric); a failure refuses the
    blessing with reasons such as ``equal opportunity difference 0.14 for sex exceeds 0.10``."""
    if spec is None or not spec.thresholds or fairness is None:
        return result
    checks = [_check(feature, metric, info["metrics"].get(metric), bound)
              for feature, info in fairness["features"].items()
              for metric, bound in spec.thresholds.items()]
    failed = [c.message for c in checks if c.passed is False]
    if failed:
        reasons = failed if result.blessed else [*result.reasons, *failed]
        return replace(result, blessed=False, checks=[*result.checks, *checks], reasons=reasons)
    reasons = [*result.reasons, f"{len(checks)} fairness check(s) passed"]
    return replace(result, checks=[*result.checks, *checks], reasons=reasons)
