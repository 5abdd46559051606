"""Permutation importance of each raw feature, with bootstrap intervals, at a bounded cost.

How (see :class:`~gristmill.components.evaluator.config.AttributionsSpec`):

1. Sample at most ``max_rows`` labelled rows of the eval split, uniformly without replacement
   (seeded). Rows without a usable label (null, or a class the model does not know) are not
   sampled and are counted in ``skipped_rows``.
2. Serve the sample through the bundle (the serving path, as the metrics do) and keep each
   row's loss: 0/1 error for classification (so the importance is an accuracy drop), squared
   error for regression (an MSE increase).
3. For each raw column the model reads, shuffle that column ``num_repeats`` times (the other
   columns untouched), serve again, and average each row's loss increase over the repeats.
   The importance is the mean of those per-row increases; its 95% interval is the percentile
   bootstrap of that mean over rows (``num_bootstrap_samples`` resamples).

A feature the model ignores gets exactly 0 with an interval ``[0, 0]``; an informative one a
clearly positive value. The result reports ``rows_used``, ``rows_available``, the number of
predictions and ``seconds`` so the cost is on the record. Per slice (the ``slicing_specs``)
the same per-row increases are averaged over the slice's sampled rows, at no extra
prediction; a slice with fewer than ``MIN_SLICE_ROWS`` sampled rows only has its count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from gristmill.components.evaluator.config import AttributionsSpec

#: Slices with fewer sampled rows get no per-slice importance (their count is reported).
MIN_SLICE_ROWS = 30


def sample_rows(files: Sequence[str], columns: Sequence[str], max_rows: int, seed: int
                ) -> tuple[Any, int]:
    """A uniform sample (seeded, without replacement) of at most ``max_rows`` rows of
    ``columns`` across ``files``, and the number of rows available."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sizes = [pq.ParquetFile(path).metadata.num_rows for path in files]
    total = int(sum(sizes))
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(total, size=min(max_rows, total), replace=False))
    pieces, start = [], 0
    for path, size in zip(files, sizes, strict=True):
        local = chosen[(chosen >= start) & (chosen < start + size)] - start
        if local.size:
            pieces.append(pq.read_table(path, columns=list(columns)).take(pa.array(local)))
        start += size
    return pa.concat_tables(pieces).combine_chunks(), total


def _labels(table: Any, label_key: str, task: str, classes: Sequence[Any]
            ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    from gristmill.components.evaluator.slicing import class_indices

    if task == "classification":
        labels = class_indices(table[label_key], classes)
        skipped = {"null label": int((labels == -2).sum()),
                   "label not among the model's classes": int((labels == -1).sum())}
        return labels, labels >= 0, {k: v for k, v in skipped.items() if v}
    values = pc.cast(table[label_key], pa.float64()).to_numpy(zero_copy_only=False)
    keep = ~np.isnan(values)
    return values, keep, ({"null label": int((~keep).sum())} if (~keep).any() else {})


def _row_loss(bundle: Any, table: Any, labels: np.ndarray, task: str,
              classes: Sequence[Any]) -> np.ndarray:
    from gristmill.components.evaluator.beam_pipeline import bundle_outputs

    predicted, _ = bundle_outputs(bundle, table, classes)
    if task == "classification":
        return (predicted != labels).astype(np.float64)
    return (np.asarray(predicted, dtype=np.float64) - labels) ** 2


def bootstrap_mean(values: np.ndarray, samples: int, rng: np.random.Generator
                   ) -> dict[str, float]:
    """Mean of ``values`` with its 95% percentile-bootstrap interval and standard error."""
    n = values.shape[0]
    means = values[rng.integers(0, n, size=(samples, n))].mean(axis=1)
    return {"importance": float(values.mean()), "lower": float(np.percentile(means, 2.5)),
            "upper": float(np.percentile(means, 97.5)), "std_error": float(means.std(ddof=1))}


def _loss_increase(bundle, table, labels, base, column, task, classes, spec, rng):
    """Per-row loss increase when ``column`` is shuffled, averaged over the repeats."""
    import pyarrow as pa

    position = table.column_names.index(column)
    increase = np.zeros_like(base)
    for _ in range(spec.num_repeats):
        shuffled = table[column].take(pa.array(rng.permutation(table.num_rows)))
        loss = _row_loss(bundle, table.set_column(position, column, shuffled), labels, task,
                         classes)
        increase += (loss - base) / spec.num_repeats
    return increase


def _ranked(increases: dict[str, np.ndarray], rows: np.ndarray, samples: int,
            rng: np.random.Generator) -> dict[str, dict[str, float]]:
    found = {c: bootstrap_mean(v[rows], samples, rng) for c, v in increases.items()}
    return dict(sorted(found.items(), key=lambda kv: -kv[1]["importance"]))


def per_slice(table: Any, increases: dict[str, np.ndarray], slicing_specs: Sequence[Any],
              spec: AttributionsSpec, rng: np.random.Generator) -> dict[str, Any]:
    """Importance per slice from the same per-row increases (no extra predictions): slices
    with fewer than ``MIN_SLICE_ROWS`` sampled rows are listed with their count only."""
    from gristmill.components.evaluator.slicing import slice_rows
    from gristmill.components.evaluator.validation import slice_name

    out: dict[str, Any] = {}
    for key, rows in slice_rows(table, slicing_specs)[0]:
        if not key:
            continue
        entry: dict[str, Any] = {"rows": int(rows.size)}
        if rows.size >= MIN_SLICE_ROWS:
            entry["features"] = _ranked(increases, rows, spec.num_bootstrap_samples, rng)
        out[slice_name(list(key))] = entry
    return out


def permutation_importance(files: Sequence[str], model_uri: str, label_key: str, task: str,
                           classes: Sequence[Any], spec: AttributionsSpec,
                           slicing_specs: Sequence[Any] = ()) -> dict[str, Any]:
    """Permutation importance of every raw column the model reads (see the module doc).

    Returns:
        ``{"method", "loss", "rows_used", "rows_available", "skipped_rows", "num_repeats",
        "num_bootstrap_samples", "predictions", "seconds", "features": {column:
        {"importance", "lower", "upper", "std_error"}}, "slices": {slice: {"rows",
        "features"?}}}``, features by importance, highest first; ``rows_used == 0`` when no
        sampled row has a usable label.
    """
    from gristmill.engine.serving import load_bundle, required_columns

    started = time.perf_counter()
    features = required_columns(model_uri)
    wanted = list(dict.fromkeys([*features, label_key,
                                 *(c for s in slicing_specs for c in s.columns)]))
    table, available = sample_rows(files, wanted, spec.max_rows, spec.seed)
    labels, keep, skipped = _labels(table, label_key, task, classes)
    import pyarrow as pa

    table, labels = table.filter(pa.array(keep)), labels[keep]
    out: dict[str, Any] = {
        "method": "permutation", "rows_available": available, "rows_used": table.num_rows,
        "skipped_rows": skipped, "num_repeats": spec.num_repeats,
        "num_bootstrap_samples": spec.num_bootstrap_samples, "seed": spec.seed,
        "loss": ("0/1 error: importance = accuracy drop" if task == "classification"
                 else "squared error: importance = MSE increase"), "features": {},
        "slices": {}, "min_slice_rows": MIN_SLICE_ROWS}
    if table.num_rows:
        bundle = load_bundle(model_uri)
        rng = np.random.default_rng(spec.seed)
        base = _row_loss(bundle, table, labels, task, classes)
        increases = {c: _loss_increase(bundle, table, labels, base, c, task, classes, spec, rng)
                     for c in features}
        everything = np.arange(table.num_rows)
        out["features"] = _ranked(increases, everything, spec.num_bootstrap_samples, rng)
        out["slices"] = per_slice(table, increases, slicing_specs, spec, rng)
    out["predictions"] = (1 + len(features) * spec.num_repeats) if table.num_rows else 0
    out["seconds"] = round(time.perf_counter() - started, 3)
    return out


def logged_metrics(attributions: dict[str, Any] | None) -> dict[str, float]:
    """MLflow metrics ``attribution_<feature>`` (importance) and ``attribution_seconds``."""
    if not attributions or "features" not in attributions:
        return {}
    out = {f"attribution_{name}": float(v["importance"])
           for name, v in attributions["features"].items() if math.isfinite(v["importance"])}
    out["attribution_seconds"] = float(attributions["seconds"])
    out["attribution_rows_used"] = float(attributions["rows_used"])
    return out
