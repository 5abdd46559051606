"""Mergeable, serialisable sketches and a stable vectorised hash for Arrow arrays.

Everything here is fed whole Arrow arrays or numpy vectors, never single rows:

* stable 64-bit hashes of values and rows live in :mod:`~gristmill.components.beam.hashing`.
* :class:`QuantileSketch` is the deterministic sketch of
  :mod:`gristmill.components.beam.quantile_sketch` (datasketches' KLL seeds its coin flips
  from the clock, so the same data gave different histograms and quantiles on every run).
* :class:`DistinctSketch` is a HyperLogLog whose registers are updated with numpy in one
  vector operation (datasketches' HLL only takes one item per Python call).
* :class:`FrequentValues` keeps exact value counts up to a bound and falls back to a
  datasketches frequent-items sketch beyond it.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.components.beam.hashing import hash_array
from gristmill.components.beam.quantile_sketch import QuantileSketch

__all__ = ["DistinctSketch", "FrequentValues", "QuantileSketch", "kll_k_for_epsilon"]


def kll_k_for_epsilon(epsilon: float) -> int:
    """Smallest KLL ``k`` whose 99th-percentile single-sided rank error is <= 2/3 epsilon.

    The remaining third of the budget covers row sampling (see ``StatsOptions``). The
    deterministic :class:`QuantileSketch` takes the same ``k`` and keeps 4k items per level;
    its measured error is below KLL's at the same ``k`` (tests/components/beam/
    test_quantile_sketch.py), so the bound stays conservative.
    """
    from datasketches import kll_doubles_sketch

    k = 8
    while kll_doubles_sketch.get_normalized_rank_error(k, False) > epsilon * 2 / 3 and k < 65535:
        k += 8
    return k


class DistinctSketch:
    """HyperLogLog over stable 64-bit hashes; numpy register updates, merge = max.

    Args:
        p: Register index bits (relative standard error ~ 1.04 / sqrt(2**p)).
    """

    def __init__(self, p: int = 14):
        self.p = p
        # allocated on first use: 16 KiB per column, pickled at every Beam hand-off
        self.registers: np.ndarray | None = None

    def _allocated(self) -> np.ndarray:
        if self.registers is None:
            self.registers = np.zeros(1 << self.p, dtype=np.uint8)
        return self.registers

    def update_hashes(self, hashes: np.ndarray) -> None:
        """Add a vector of uint64 hashes."""
        if not len(hashes):
            return
        self._allocated()
        rest_bits = 64 - self.p
        index = (hashes >> np.uint64(rest_bits)).astype(np.intp)
        rest = (hashes & np.uint64((1 << rest_bits) - 1)).astype(np.float64)  # exact: < 2**53
        _, bit_length = np.frexp(rest)
        rank = (rest_bits - bit_length + 1).astype(np.uint8)
        np.maximum.at(self.registers, index, rank)

    def update(self, arr: pa.Array) -> None:
        """Add the non-null values of an Arrow array."""
        arr = pc.drop_null(arr)
        self.update_hashes(hash_array(arr))

    def merge(self, other: DistinctSketch) -> None:
        """Fold ``other`` into this sketch."""
        if other.registers is not None:
            np.maximum(self._allocated(), other.registers, out=self.registers)

    def estimate(self) -> float:
        """Estimated number of distinct values."""
        if self.registers is None:
            return 0.0
        m = float(len(self.registers))
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int32))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return m * math.log(m / zeros)
        return raw


class FrequentValues:
    """Value counts: exact up to ``max_exact`` distinct values, a frequent-items sketch beyond.

    Args:
        max_exact: Distinct values kept exactly before switching to the sketch.
        lg_max_k: Size of the frequent-items sketch (2**lg_max_k * 0.75 items tracked).
    """

    def __init__(self, max_exact: int = 10_000, lg_max_k: int = 10):
        self.max_exact = max_exact
        self.lg_max_k = lg_max_k
        self.exact: dict[str, float] | None = {}
        self._sketch = None

    @property
    def is_exact(self) -> bool:
        """True while every value's count is known exactly."""
        return self.exact is not None

    def add_counts(self, values: pa.Array, counts: pa.Array) -> None:
        """Add per-value counts of one batch (values distinct, non-null)."""
        if self.exact is not None:
            for value, count in zip(values.to_pylist(), counts.to_pylist(), strict=True):
                self.exact[value] = self.exact.get(value, 0) + count
            if len(self.exact) > self.max_exact:
                self._to_sketch()
            return
        # Items a batch ranks below its top 4x-capacity cannot be among the global top-k
        # unless they recur in many batches; their counts still bound the sketch's error.
        limit = 3 << self.lg_max_k
        if len(values) > limit:
            keep = pc.select_k_unstable(counts, limit, [("dummy", "descending")])
            values, counts = values.take(keep), counts.take(keep)
        for value, count in zip(values.to_pylist(), counts.to_pylist(), strict=True):
            self._sketch.update(str(value), max(1, int(round(count))))

    def _to_sketch(self) -> None:
        from datasketches import frequent_strings_sketch

        self._sketch = frequent_strings_sketch(self.lg_max_k)
        for value, count in (self.exact or {}).items():
            self._sketch.update(str(value), max(1, int(round(count))))
        self.exact = None

    def merge(self, other: FrequentValues) -> None:
        """Fold ``other`` into this one."""
        if self.exact is not None and other.exact is not None:
            for value, count in other.exact.items():
                self.exact[value] = self.exact.get(value, 0) + count
            if len(self.exact) > self.max_exact:
                self._to_sketch()
            return
        if self.exact is not None:
            self._to_sketch()
        if other.exact is not None:
            for value, count in other.exact.items():
                self._sketch.update(str(value), max(1, int(round(count))))
        else:
            self._sketch.merge(other._sketch)

    def top(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` most frequent values with their (estimated) counts, most frequent first.

        Ties are broken by value so the order is deterministic.
        """
        if self.exact is not None:
            items = self.exact.items()
        else:
            from datasketches import frequent_items_error_type

            rows = self._sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_POSITIVES)
            items = [(row[0], row[1]) for row in rows]
        return sorted(items, key=lambda item: (-item[1], str(item[0])))[:k]

    def __getstate__(self) -> dict:
        sketch = self._sketch.serialize() if self._sketch is not None else None
        return {"max_exact": self.max_exact, "lg_max_k": self.lg_max_k, "exact": self.exact,
                "sketch": sketch}

    def __setstate__(self, state: dict) -> None:
        self.max_exact, self.lg_max_k = state["max_exact"], state["lg_max_k"]
        self.exact = state["exact"]
        self._sketch = None
        if state["sketch"] is not None:
            from datasketches import frequent_strings_sketch

            self._sketch = frequent_strings_sketch.deserialize(state["sketch"])
