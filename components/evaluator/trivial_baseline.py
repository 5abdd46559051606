"""The trivial baseline: what a model that ignores every feature scores on the same slices.

Classification: always the training set's majority class, with the training class shares as
probabilities; regression: always the training mean of the label. Both come from the
bundle's label record (``bundle.json`` ``label.class_counts`` / ``label.target_mean``), so
the trivial predictor is one that could have been deployed, not one fitted on the eval data.

Its metrics are reported beside the model's on every slice (``metrics.json``
``slices[].trivial_baseline``, ``report.html``, MLflow ``eval_trivial_baseline_<metric>``),
which makes a model that predicts one constant obvious at a glance.

The gate (``Options.trivial_baseline_gate``, on by default): a model that is no better than
the trivial baseline on the overall slice is NOT blessed, whatever the thresholds say.
"No better" means: classification, accuracy not above the trivial accuracy *and* AUC not
above 0.5 (a constant score ranks nothing); regression, RMSE not below the trivial RMSE.
With the gate off the finding is a warning in the blessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gristmill.components.evaluator.validation import OVERALL, ThresholdCheck, ValidationResult

#: Metrics logged to MLflow as ``eval_trivial_baseline_<name>``.
LOGGED = {"classification": ("accuracy", "auc", "log_loss", "f1"),
          "regression": ("rmse", "mae", "mse", "r2")}
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class TrivialPredictor:
    """A feature-blind predictor built from the training label distribution.

    Attributes:
        task: ``classification`` or ``regression``.
        class_index: The majority class (index into the bundle's classes).
        probabilities: Training class shares, in class order.
        mean: Training label mean (regression).
        description: One line for reports, e.g. ``always 'Adelie' (44% of training)``.
    """

    task: str
    class_index: int = 0
    probabilities: tuple[float, ...] = ()
    mean: float = 0.0
    description: str = ""

    @classmethod
    def from_bundle(cls, config: dict[str, Any]) -> TrivialPredictor | None:
        """From ``bundle.json``; ``None`` when the bundle did not record its label counts."""
        label = config.get("label") or {}
        if config["task"] == "regression":
            mean = label.get("target_mean")
            if mean is None:
                return None
            return cls("regression", mean=float(mean),
                       description=f"always the training mean {float(mean):.6g}")
        counts = np.asarray(label.get("class_counts") or [], dtype=np.float64)
        classes = list(config.get("classes") or [])
        if counts.size != len(classes) or counts.sum() <= 0:
            return None
        shares = counts / counts.sum()
        index = int(shares.argmax())
        return cls("classification", index, tuple(float(p) for p in shares),
                   description=f"always {classes[index]!r} ({shares[index]:.1%} of training), "
                               f"training class shares as probabilities")

    def arrays(self, rows: int, num_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``(predictions, probabilities)`` for ``rows`` examples, as the Evaluator's arrays."""
        if self.task == "regression":
            return np.full(rows, self.mean, np.float64), None
        probs = np.zeros((rows, num_classes))
        probs[:, : len(self.probabilities)] = self.probabilities
        return np.full(rows, self.class_index, np.int64), probs


def compare(overall: dict[str, Any], task: str) -> ThresholdCheck | None:
    """The gate check on the overall slice; ``None`` when there is no trivial baseline."""
    trivial = (overall.get("trivial_baseline") or {}).get("metrics")
    model = overall["candidate"]["metrics"]
    if not trivial:
        return None
    if task == "regression":
        value, bound = model.get("rmse"), trivial.get("rmse")
        better = _finite(value) and _finite(bound) and value < bound * (1 - _TOLERANCE)
        said = f"RMSE {_fmt(value)} vs the trivial baseline's {_fmt(bound)}"
        metric = "rmse"
    else:
        value, bound = model.get("accuracy"), trivial.get("accuracy")
        auc = model.get("auc")
        better = ((_finite(value) and _finite(bound) and value > bound + _TOLERANCE)
                  or (_finite(auc) and auc > 0.5 + _TOLERANCE))
        said = (f"accuracy {_fmt(value)} vs the trivial baseline's {_fmt(bound)}, AUC "
                f"{_fmt(auc)} vs 0.5")
        metric = "accuracy"
    verdict = "better than" if better else "NO better than"
    message = (f"{metric} on slice {OVERALL}: the model is {verdict} the trivial baseline "
               f"({said})")
    if not better:
        message += ("; a model that ignores its features scores as well. Check that the "
                    "Evaluator reads raw examples with every feature, and the training data")
    return ThresholdCheck(OVERALL, metric, "trivial_baseline", bool(better), value, bound,
                          {"better_than_trivial_baseline": True}, message)


def apply_gate(result: ValidationResult, overall: dict[str, Any], task: str,
               enabled: bool) -> ValidationResult:
    """Add the trivial-baseline check to ``result``: refuse the blessing (``enabled``) or warn."""
    check = compare(overall, task)
    if check is None:
        note = "no trivial baseline: the bundle does not record its training label counts"
        return replace(result, warnings=[*result.warnings, note])
    checks = [*result.checks, check]
    if check.passed:
        return replace(result, checks=checks)
    if not enabled:
        return replace(result, checks=checks,
                       warnings=[*result.warnings, f"{check.message} (gate off: "
                                                   "Options(trivial_baseline_gate=False))"])
    reasons = [check.message] if result.blessed else [*result.reasons, check.message]
    return replace(result, blessed=False, checks=checks, reasons=reasons)


def logged_metrics(overall: dict[str, Any], task: str) -> dict[str, float]:
    """``eval_trivial_baseline_<metric>`` values of the overall slice, finite ones only."""
    trivial = (overall.get("trivial_baseline") or {}).get("metrics") or {}
    return {f"eval_trivial_baseline_{m}": float(trivial[m]) for m in LOGGED[task]
            if _finite(trivial.get(m))}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if _finite(value) else "undefined"
