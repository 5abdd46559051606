"""Mergeable analyzer accumulators, fed with Arrow/NumPy batches.

Every analyzer of a ``preprocessing_fn`` reduces to one of these accumulators; all of a
phase's accumulators are combined in one Beam ``CombineFn`` pass. Each can be merged (Beam
combiner lifting, and spans from the analyzer cache) and saved as JSON (the cache).

Non-finite numbers (NaN, +-inf) and nulls are *missing* to every numeric accumulator; they are
counted, never silently folded into a mean.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.components.beam.quantile_sketch import QuantileSketch
from gristmill.engine.transform_kernels import as_array, as_float, as_string


def _finite(values: Any) -> tuple[np.ndarray, int]:
    x = as_float(values)
    ok = np.isfinite(x)
    return (x, 0) if ok.all() else (x[ok], int((~ok).sum()))


class Moments:
    """Count, sum, min, max, mean and (population) variance, merged with Chan's formula."""

    KIND = "moments"

    def __init__(self, params: dict[str, Any] | None = None):
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.min, self.max, self.missing = math.inf, -math.inf, 0

    def add(self, values: list[Any]) -> None:
        """Fold in one batch of the input column."""
        x, missing = _finite(values[0])
        self.missing += missing
        if len(x):
            other = Moments()
            other.n, other.mean = len(x), float(x.mean())
            other.m2 = float(((x - other.mean) ** 2).sum())
            other.min, other.max = float(x.min()), float(x.max())
            self.merge(other)

    def merge(self, other: Moments) -> None:
        """Fold in another accumulator of the same analyzer."""
        if other.n:
            n = self.n + other.n
            delta = other.mean - self.mean
            self.mean += delta * other.n / n
            self.m2 += other.m2 + delta * delta * self.n * other.n / n
            self.n = n
            self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.missing += other.missing

    @property
    def var(self) -> float:
        """Population variance (0 for fewer than two values)."""
        return self.m2 / self.n if self.n else 0.0

    @property
    def sum(self) -> float:
        """Sum of the present values."""
        return self.mean * self.n

    def to_json(self) -> dict[str, Any]:
        """JSON form (cache files)."""
        return {"n": self.n, "mean": self.mean, "m2": self.m2, "missing": self.missing,
                "min": self.min if self.n else None, "max": self.max if self.n else None}

    def load_json(self, d: dict[str, Any]) -> None:
        """Inverse of :meth:`to_json`."""
        self.n, self.mean, self.m2, self.missing = d["n"], d["mean"], d["m2"], d["missing"]
        self.min = math.inf if d["min"] is None else d["min"]
        self.max = -math.inf if d["max"] is None else d["max"]

    def summary(self) -> dict[str, Any]:
        """What the human-readable plan shows."""
        return {"count": self.n, "missing": self.missing, "mean": self.mean,
                "std": math.sqrt(self.var), "min": self.to_json()["min"],
                "max": self.to_json()["max"]}


class Quantiles:
    """A deterministic quantile sketch (:mod:`gristmill.components.beam.quantile_sketch`):
    the same data in the same order gives the same quantiles on every run."""

    KIND = "quantiles"

    def __init__(self, params: dict[str, Any] | None = None):
        self.k = int((params or {}).get("k", 400))
        self.sketch = QuantileSketch(self.k)
        self.missing = 0

    def add(self, values: list[Any]) -> None:
        """Fold in one batch of the input column."""
        x, missing = _finite(values[0])
        self.missing += missing
        self.sketch.update(x)

    def merge(self, other: Quantiles) -> None:
        """Fold in another accumulator of the same analyzer."""
        self.sketch.merge(other.sketch)
        self.missing += other.missing

    def quantiles(self, ranks: list[float]) -> list[float]:
        """Values at the given normalized ranks (empty sketch -> [])."""
        return self.sketch.quantiles(ranks)

    def to_json(self) -> dict[str, Any]:
        """JSON form (cache files)."""
        return {"k": self.k, "missing": self.missing, "quantile_sketch": self.sketch.to_json()}

    def load_json(self, d: dict[str, Any]) -> None:
        """Inverse of :meth:`to_json`; also reads the KLL sketches of older cache files."""
        self.k, self.missing = d["k"], d["missing"]
        if "quantile_sketch" in d:
            self.sketch = QuantileSketch.from_json(d["quantile_sketch"])
        else:
            self.sketch = _from_kll(d["sketch"], self.k)

    def __getstate__(self) -> dict[str, Any]:
        return self.to_json()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.load_json(state)

    def summary(self) -> dict[str, Any]:
        """What the human-readable plan shows."""
        return {"count": int(self.sketch.n), "missing": self.missing, "k": self.k,
                "median": (self.quantiles([0.5]) or [None])[0]}


def _from_kll(encoded: str, k: int) -> QuantileSketch:
    """A datasketches KLL sketch (an older cache file) as a :class:`QuantileSketch`: each
    retained item goes to the level of its weight (a power of two), so nothing is lost."""
    from datasketches import kll_doubles_sketch

    kll = kll_doubles_sketch.deserialize(base64.b64decode(encoded))
    sketch = QuantileSketch(k)
    if kll.is_empty():
        return sketch
    by_level: dict[int, list[float]] = {}
    for item, weight in kll:
        by_level.setdefault(int(weight).bit_length() - 1, []).append(item)
    for level, items in sorted(by_level.items()):
        sketch._add(level, np.asarray(items, np.float64))
    sketch.n, sketch.min, sketch.max = int(kll.n), kll.get_min_value(), kll.get_max_value()
    sketch._compact()
    return sketch


class Counts:
    """Exact value counts of a string (or integer) column: the vocabulary accumulator."""

    KIND = "counts"

    def __init__(self, params: dict[str, Any] | None = None):
        self.counts: dict[str, int] = {}
        self.missing = 0

    def add(self, values: list[Any]) -> None:
        """Fold in one batch of the input column."""
        arr = values[0]
        if not isinstance(arr, np.ndarray) and (
                pa.types.is_list(as_array(arr).type) or pa.types.is_large_list(as_array(arr).type)):
            arr = as_array(arr)  # a token list: every token counts, a missing list is missing
            self.missing += arr.null_count
            arr = pc.list_flatten(arr)
        arr = as_string(arr)
        self.missing += arr.null_count
        vc = pc.value_counts(arr.drop_null() if arr.null_count else arr)
        counts = self.counts
        for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(),
                        strict=True):
            counts[v] = counts.get(v, 0) + c

    def merge(self, other: Counts) -> None:
        """Fold in another accumulator of the same analyzer."""
        for v, c in other.counts.items():
            self.counts[v] = self.counts.get(v, 0) + c
        self.missing += other.missing

    def top(self, top_k: int | None = None, frequency_threshold: int = 0) -> list[str]:
        """Values by descending count (ties: ascending value), filtered and cut."""
        items = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        tokens = [v for v, c in items if c >= frequency_threshold]
        return tokens if top_k is None else tokens[:top_k]

    def to_json(self) -> dict[str, Any]:
        """JSON form (cache files)."""
        return {"counts": self.counts, "missing": self.missing}

    def load_json(self, d: dict[str, Any]) -> None:
        """Inverse of :meth:`to_json`."""
        self.counts, self.missing = dict(d["counts"]), d["missing"]

    def summary(self) -> dict[str, Any]:
        """What the human-readable plan shows."""
        return {"distinct": len(self.counts), "missing": self.missing,
                "top": [[v, self.counts[v]] for v in self.top(5)]}


class Histogram:
    """Exact counts of a numeric column in fixed buckets ``b[i-1] <= x < b[i]``."""

    KIND = "histogram"

    def __init__(self, params: dict[str, Any] | None = None):
        self.boundaries = np.asarray((params or {}).get("boundaries", []), np.float64)
        self.counts = np.zeros(len(self.boundaries) + 1, np.int64)
        self.missing = 0

    def add(self, values: list[Any]) -> None:
        """Fold in one batch of the input column."""
        x, missing = _finite(values[0])
        self.missing += missing
        ids = np.searchsorted(self.boundaries, x, side="right")
        self.counts += np.bincount(ids, minlength=len(self.counts))

    def merge(self, other: Histogram) -> None:
        """Fold in another accumulator of the same analyzer."""
        self.counts += other.counts
        self.missing += other.missing

    def to_json(self) -> dict[str, Any]:
        """JSON form (cache files)."""
        return {"boundaries": self.boundaries.tolist(), "counts": self.counts.tolist(),
                "missing": self.missing}

    def load_json(self, d: dict[str, Any]) -> None:
        """Inverse of :meth:`to_json`."""
        self.boundaries = np.asarray(d["boundaries"], np.float64)
        self.counts, self.missing = np.asarray(d["counts"], np.int64), d["missing"]

    def summary(self) -> dict[str, Any]:
        """What the human-readable plan shows."""
        return self.to_json()


class MomentsPerKey:
    """:class:`Moments` of a numeric column per value of a key column (vectorised group-by)."""

    KIND = "moments_per_key"

    def __init__(self, params: dict[str, Any] | None = None):
        self.per_key: dict[str, Moments] = {}
        self.overall = Moments()

    def add(self, values: list[Any]) -> None:
        """Fold in one batch of ``(value column, key column)``."""
        x = as_float(values[0])
        ok = np.isfinite(x)
        keys = as_string(values[1])
        self.overall.add([x])
        batch = pa.table({"x": pa.array(x, mask=~ok), "k": keys})
        agg = batch.group_by("k").aggregate(
            [("x", "count"), ("x", "mean"), ("x", "variance", pc.VarianceOptions(ddof=0)),
             ("x", "min"), ("x", "max")])
        for row in agg.to_pylist():
            if row["k"] is None:  # rows without a key only count towards the overall moments
                continue
            acc = Moments()
            acc.n = row["x_count"]
            if acc.n:
                acc.mean, acc.m2 = row["x_mean"], row["x_variance"] * acc.n
                acc.min, acc.max = row["x_min"], row["x_max"]
            self.per_key.setdefault(row["k"], Moments()).merge(acc)

    def merge(self, other: MomentsPerKey) -> None:
        """Fold in another accumulator of the same analyzer."""
        self.overall.merge(other.overall)
        for key, acc in other.per_key.items():
            self.per_key.setdefault(key, Moments()).merge(acc)

    def sorted_keys(self) -> list[str]:
        """Keys in a fixed order (sorted)."""
        return sorted(self.per_key)

    def to_json(self) -> dict[str, Any]:
        """JSON form (cache files)."""
        return {"overall": self.overall.to_json(),
                "per_key": {k: v.to_json() for k, v in self.per_key.items()}}

    def load_json(self, d: dict[str, Any]) -> None:
        """Inverse of :meth:`to_json`."""
        self.overall = Moments()
        self.overall.load_json(d["overall"])
        self.per_key = {}
        for k, v in d["per_key"].items():
            self.per_key[k] = Moments()
            self.per_key[k].load_json(v)

    def summary(self) -> dict[str, Any]:
        """What the human-readable plan shows."""
        return {"keys": len(self.per_key), "overall": self.overall.summary()}


ACCUMULATORS = {cls.KIND: cls for cls in (Moments, Quantiles, Counts, Histogram, MomentsPerKey)}


def _register_text_accumulators() -> None:
    # L-moments (scale_to_gaussian) and document frequencies (tfidf) live in their own module.
    from gristmill.components.transform import text_analyzers

    ACCUMULATORS.update({cls.KIND: cls for cls in text_analyzers.ACCUMULATORS})


_register_text_accumulators()


def new_accumulator(kind: str, params: dict[str, Any]) -> Any:
    """An empty accumulator of ``kind``."""
    return ACCUMULATORS[kind](params)


def accumulator_from_json(kind: str, params: dict[str, Any], data: dict[str, Any]) -> Any:
    """Rebuild a saved accumulator (analyzer cache)."""
    acc = new_accumulator(kind, params)
    acc.load_json(data)
    return acc
