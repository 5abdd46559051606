"""Per-batch work of the Evaluator, as pure functions: labels, predictions, slices, scores.

The Beam pipeline (:mod:`gristmill.components.evaluator.beam_pipeline`) calls these on Arrow
batches;
keeping them free of Beam makes them testable in isolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.components.evaluator import metrics as em
from gristmill.components.evaluator.config import Options, SlicingSpec
from gristmill.components.evaluator.validation import slice_name
from gristmill.metadata.errors import DataError

#: A slice key: sorted-by-spec ``(feature, value)`` pairs; ``()`` is the overall slice.
SliceKey = tuple[tuple[str, str], ...]
NULL_LABEL = -2
UNKNOWN_LABEL = -1


def _value_text(value: Any) -> str:
    # Integral floats print as ints so a float label column matches integer classes.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def class_indices(column: pa.Array | pa.ChunkedArray, classes: Sequence[Any]) -> np.ndarray:
    """Map label values to class indices: ``-1`` for a value not in ``classes``, ``-2`` for null.

    Values are compared as text (``1``, ``1.0`` and ``"1"`` all match class ``1``).
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_floating(column.type):
        as_int = pc.cast(column, pa.int64(), safe=False)
        integral = pc.fill_null(pc.equal(pc.cast(as_int, column.type), column), False)
        text = pc.if_else(integral, pc.cast(as_int, pa.string()), pc.cast(column, pa.string()))
    else:
        text = pc.cast(column, pa.string())
    index = pc.index_in(text, value_set=pa.array([_value_text(c) for c in classes], pa.string()))
    out = index.to_numpy(zero_copy_only=False)
    out = np.where(np.isnan(out.astype(np.float64)), UNKNOWN_LABEL, out).astype(np.int64)
    out[np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = NULL_LABEL
    return out


def probability_matrix(column: pa.Array | pa.ChunkedArray, num_classes: int) -> np.ndarray:
    """A ``list<float>`` column of class probabilities as an ``(n, k)`` float64 matrix.

    Raises:
        ValueError: A row does not hold exactly ``num_classes`` probabilities.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if len(column) and (column.null_count or not np.all(lengths == num_classes)):
        raise ValueError(f"expected {num_classes} probabilities per row, got lengths "
                         f"{sorted(set(lengths.tolist()))} (nulls: {column.null_count})")
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float64)
    return flat.reshape(len(column), num_classes)


def slice_rows(table: pa.Table, specs: Sequence[SlicingSpec]
               ) -> tuple[list[tuple[SliceKey, np.ndarray]], dict[str, int]]:
    """Group the rows of ``table`` by every slicing spec.

    The overall slice is always produced. Rows whose slicing value is null are left out of
    that spec's slices and counted under ``"<spec>: null value"``.

    Returns:
        ``([(slice key, row indices)], {reason: rows skipped})``.
    """
    rows = np.arange(table.num_rows)
    out: list[tuple[SliceKey, np.ndarray]] = [((), rows)]
    skipped: dict[str, int] = {}
    for spec in specs:
        columns = spec.columns
        if not columns:
            continue
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise DataError(f"Evaluator: slicing column(s) {missing} are not in the data "
                            f"(columns: {table.column_names}).",
                            fix="slice on raw columns of the eval examples")
        grouped = (pa.table({**{c: table[c] for c in columns}, "__row": pa.array(rows)})
                   .group_by(columns, use_threads=False).aggregate([("__row", "list")]))
        for group in grouped.to_pylist():
            values = [group[c] for c in columns]
            indices = np.asarray(group["__row_list"], dtype=np.int64)
            if any(v is None for v in values):
                reason = f"{'+'.join(columns)}: null value"
                skipped[reason] = skipped.get(reason, 0) + len(indices)
                continue
            key = tuple((c, _value_text(v)) for c, v in zip(columns, values, strict=True))
            if all(dict(key)[c] == str(v) for c, v in spec.feature_values.items()):
                out.append((key, indices))
    return out, skipped


def score_slice(key: SliceKey, arrays: dict[str, np.ndarray], task: str,
                classes: Sequence[Any], options: Options) -> dict[str, Any]:
    """Metrics of one slice for the candidate (and the baseline, when its arrays are present).

    Args:
        key: The slice key.
        arrays: ``labels``, ``candidate_pred`` (+ ``candidate_probs`` for classification) and
            optionally ``baseline_pred``/``baseline_probs`` and ``trivial_pred``/
            ``trivial_probs`` (the trivial baseline).
        task: ``"classification"`` or ``"regression"``.
        classes: Class labels (classification).
        options: ``min_slice_size``, confidence-interval and calibration settings.

    Returns:
        ``{"slice", "features", "example_count", "candidate", "baseline"?,
        "trivial_baseline"?, "omitted"?}``; a slice under ``min_slice_size`` is returned
        with ``omitted=True`` and no metrics.
    """
    n = int(arrays["labels"].shape[0])
    result: dict[str, Any] = {"slice": slice_name(list(key)), "features": [list(f) for f in key],
                              "example_count": n}
    if n < options.min_slice_size:
        result["omitted"] = True
        return result
    for model in ("candidate", "baseline"):
        if f"{model}_pred" in arrays:
            result[model] = _score_model(arrays, model, task, classes, options)
    if "trivial_pred" in arrays:  # the feature-blind predictor: metrics only, no intervals
        plain = options.model_copy(update={"compute_confidence_intervals": False})
        result["trivial_baseline"] = {"metrics": _score_model(arrays, "trivial", task, classes,
                                                              plain)["metrics"]}
    return result


def _score_model(arrays: dict[str, np.ndarray], model: str, task: str, classes: Sequence[Any],
                 options: Options) -> dict[str, Any]:
    labels, predicted = arrays["labels"], arrays[f"{model}_pred"]
    if task == "classification":
        probs = arrays[f"{model}_probs"]
        out = em.classification_metrics(labels, predicted, probs, [str(c) for c in classes],
                                        options.calibration_bins)
        args, scalars = (labels, predicted, probs), em.classification_scalars
    else:
        out = {"metrics": em.regression_scalars(labels, predicted)}
        args, scalars = (labels, predicted), em.regression_scalars
    if options.compute_confidence_intervals:
        out["confidence_intervals"] = em.bootstrap_intervals(
            scalars, args, options.num_bootstrap_samples, options.bootstrap_seed)
    return out


def json_ready(value: Any) -> Any:
    """Replace NaN/inf floats by ``None`` recursively, so ``json.dump`` writes valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value
