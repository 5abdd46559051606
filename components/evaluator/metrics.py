"""Model-quality metrics as pure functions of per-example arrays.

The Evaluator's Beam pipeline gathers, per slice, the labels and the serving bundle's
predictions; these functions turn them into numbers. They are exact (AUC from sorted scores,
not a histogram) and deterministic (bootstrap intervals use a fixed seed).

Classification arrays: ``labels`` are class indices into ``classes``, ``predicted`` the index
of the class the bundle predicted, ``probabilities`` an ``(n, k)`` matrix in class order.
With two classes, precision/recall/F1/AUC are those of the positive class ``classes[1]``;
with more, they are macro averages over classes (AUC one-vs-rest).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

_EPS = 1e-15


def binary_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve, exactly, via the rank-sum (Mann-Whitney) identity.

    Ties in ``scores`` count one half, as in scikit-learn. NaN when either class is absent.
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Each run of equal values gets the mean of the ranks it spans.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], values.size]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``(k, k)`` counts; rows are true classes, columns predicted classes."""
    flat = np.asarray(labels, dtype=np.int64) * num_classes + np.asarray(predicted, np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes,
                                                                          num_classes)


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 when undefined)."""
    true_pos = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, support, out=np.zeros_like(true_pos), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_pos),
                   where=denominator > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean negative log probability of the true class (probabilities clipped at 1e-15)."""
    if labels.size == 0:
        return math.nan
    chosen = probabilities[np.arange(labels.size), labels]
    return float(-np.mean(np.log(np.clip(chosen, _EPS, 1.0))))


def calibration_table(labels: np.ndarray, probabilities: np.ndarray,
                      bins: int) -> list[dict[str, float]]:
    """Reliability table of the top-label confidence: per bin, count, mean confidence, accuracy."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    index = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    correct_sum = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    table = []
    for b in range(bins):
        n = int(counts[b])
        table.append({"lower": b / bins, "upper": (b + 1) / bins, "count": n,
                      "mean_confidence": conf_sum[b] / n if n else math.nan,
                      "accuracy": correct_sum[b] / n if n else math.nan})
    return table


def expected_calibration_error(table: list[dict[str, float]]) -> float:
    """Count-weighted mean gap between confidence and accuracy over the calibration bins."""
    total = sum(row["count"] for row in table)
    if total == 0:
        return math.nan
    return float(sum(row["count"] * abs(row["mean_confidence"] - row["accuracy"])
                     for row in table if row["count"]) / total)


#: Most points kept per ROC / PR curve (evenly spaced over the distinct thresholds; the first
#: and last always kept): enough to draw, small enough for metrics.json with many slices.
MAX_CURVE_POINTS = 101


def _curve_indices(count: int, cap: int) -> np.ndarray:
    if count <= cap:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, cap)).astype(np.int64))


def _round(values: np.ndarray) -> list[float]:
    return [float(f"{v:.6g}") for v in values.tolist()]


def curve_points(positive: np.ndarray, scores: np.ndarray,
                 max_points: int = MAX_CURVE_POINTS) -> dict[str, Any] | None:
    """ROC and precision-recall points of one score against one positive class.

    One point per distinct score, as ``sklearn.metrics.roc_curve(drop_intermediate=False)``
    computes it: a row counts as predicted positive when its score is ``>= threshold``.
    Beyond ``max_points`` distinct scores an evenly spaced subset of those exact points is
    kept. The ROC curve starts at (0, 0) with threshold ``None`` (no row above it).

    Args:
        positive: Whether each row is of the positive class.
        scores: The positive class's probability per row.
        max_points: Cap on the points per curve.

    Returns:
        ``{"thresholds", "fpr", "tpr", "precision", "recall", "positives", "negatives"}``
        (thresholds decreasing; ``thresholds[0]`` is ``None``; ``precision[0]`` is 1 by
        convention), or ``None`` when either class is absent (no curve is defined).
    """
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, hits = scores[order], positive[order]
    last = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), hits.size - 1]
    tps = np.cumsum(hits)[last].astype(np.float64)
    fps = (last + 1) - tps
    keep = _curve_indices(last.size, max(2, max_points - 1))
    tps, fps, thresholds = tps[keep], fps[keep], sorted_scores[last][keep]
    precision = tps / (tps + fps)
    return {"thresholds": [None, *_round(thresholds)],
            "fpr": [0.0, *_round(fps / n_neg)], "tpr": [0.0, *_round(tps / n_pos)],
            "precision": [1.0, *_round(precision)], "recall": [0.0, *_round(tps / n_pos)],
            "positives": n_pos, "negatives": n_neg}


def classification_curves(labels: np.ndarray, probabilities: np.ndarray,
                          classes: list[str]) -> dict[str, Any]:
    """ROC and PR curves: of the positive class ``classes[1]`` with two classes, of every
    class one-vs-rest with more (see :func:`curve_points`).

    Returns:
        ``{"one_vs_rest": bool, "classes": {class: curve points or None}}``.
    """
    k = probabilities.shape[1]
    chosen = [1] if k == 2 else range(k)
    return {"one_vs_rest": k > 2,
            "classes": {str(classes[c]): curve_points(labels == c, probabilities[:, c])
                        for c in chosen}}


def classification_scalars(labels: np.ndarray, predicted: np.ndarray,
                           probabilities: np.ndarray) -> dict[str, float]:
    """The scalar classification metrics of one slice (those that get confidence intervals)."""
    k = probabilities.shape[1]
    n = labels.size
    matrix = confusion_matrix(labels, predicted, k)
    scores = per_class_scores(matrix)
    if k == 2:
        precision, recall, f1 = (float(scores[m][1]) for m in ("precision", "recall", "f1"))
        auc = binary_auc(labels == 1, probabilities[:, 1])
        label_mean = float(np.mean(labels == 1)) if n else math.nan
        calibration = float(np.mean(probabilities[:, 1]) / label_mean) if label_mean else math.nan
    else:
        present = scores["support"] > 0
        precision, recall, f1 = (float(scores[m][present].mean()) if present.any() else math.nan
                                 for m in ("precision", "recall", "f1"))
        aucs = [binary_auc(labels == c, probabilities[:, c]) for c in range(k)]
        defined = [a for a in aucs if not math.isnan(a)]
        auc = float(np.mean(defined)) if defined else math.nan
        calibration = math.nan
    return {"example_count": float(n),
            "accuracy": float(np.trace(matrix) / n) if n else math.nan,
            "precision": precision, "recall": recall, "f1": f1, "auc": auc,
            "log_loss": log_loss(labels, probabilities), "calibration": calibration}


def classification_metrics(labels: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray,
                           classes: list[str], bins: int = 10) -> dict[str, Any]:
    """All classification results of one slice: scalars, confusion matrix, per-class, calibration.

    Args:
        labels: True class indices, shape ``(n,)``.
        predicted: Predicted class indices, shape ``(n,)``.
        probabilities: Class probabilities, shape ``(n, len(classes))``.
        classes: Class labels in probability order.
        bins: Calibration bins.

    Returns:
        ``{"metrics": {name: float}, "confusion_matrix": {...}, "per_class": {...},
        "calibration": [...], "curves": {...}}`` (``curves``: :func:`classification_curves`).
    """
    scalars = classification_scalars(labels, predicted, probabilities)
    table = calibration_table(labels, probabilities, bins)
    scalars["expected_calibration_error"] = expected_calibration_error(table)
    matrix = confusion_matrix(labels, predicted, len(classes))
    scores = per_class_scores(matrix)
    per_class = {str(c): {m: float(scores[m][i]) for m in scores} for i, c in enumerate(classes)}
    return {"metrics": scalars,
            "confusion_matrix": {"labels": [str(c) for c in classes],
                                 "counts": matrix.tolist()},
            "per_class": per_class, "calibration": table,
            "curves": classification_curves(labels, probabilities, classes)}


def regression_scalars(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """MSE, RMSE, MAE, R², mean label and mean prediction of one slice."""
    n = labels.size
    if n == 0:
        return {"example_count": 0.0, **dict.fromkeys(
            ("mse", "rmse", "mae", "r2", "mean_label", "mean_prediction"), math.nan)}
    error = predictions - labels
    mse = float(np.mean(error ** 2))
    total = float(np.sum((labels - labels.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error ** 2)) / total if total > 0 else math.nan
    return {"example_count": float(n), "mse": mse, "rmse": math.sqrt(mse),
            "mae": float(np.mean(np.abs(error))), "r2": r2,
            "mean_label": float(labels.mean()), "mean_prediction": float(predictions.mean())}


def bootstrap_intervals(scalars: Callable[..., dict[str, float]], arrays: tuple[np.ndarray, ...],
                        num_samples: int, seed: int) -> dict[str, dict[str, float]]:
    """95% percentile-bootstrap intervals for every metric ``scalars(*arrays)`` returns.

    Rows are resampled with replacement ``num_samples`` times from a fixed-seed generator, so
    the intervals are reproducible. A resample where a metric is undefined (e.g. AUC with one
    class) is left out of that metric's interval; ``samples`` says how many counted.
    """
    n = arrays[0].shape[0]
    if n == 0:
        return {}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(num_samples):
        rows = rng.integers(0, n, size=n)
        for name, value in scalars(*(a[rows] for a in arrays)).items():
            draws.setdefault(name, []).append(value)
    intervals = {}
    for name, values in draws.items():
        finite = np.array([v for v in values if not math.isnan(v)])
        if name == "example_count" or finite.size < 2:
            continue
        intervals[name] = {"lower": float(np.percentile(finite, 2.5)),
                           "upper": float(np.percentile(finite, 97.5)),
                           "std_error": float(finite.std(ddof=1)), "samples": int(finite.size)}
    return intervals
