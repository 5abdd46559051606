"""The value accumulators of one column: numeric moments/extremes/quantiles and string
counts/distinct values. Each takes a whole column of a batch at once and merges with
another (Chan's formulas for moments, sketch merges for the rest)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.components.beam.hashing import hash_array
from gristmill.components.beam.statistics.sketches import (
    DistinctSketch,
    FrequentValues,
    QuantileSketch,
)


def _sample(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """A deterministic Bernoulli-size sample (with replacement) of ``x`` at ``rate``."""
    if rate >= 1.0 or not len(x):
        return x
    rng = np.random.default_rng(seed)
    return x[rng.integers(0, len(x), rng.binomial(len(x), rate))]


def _sum_of_squares(dev: np.ndarray) -> float:
    """Sum of squares without BLAS (``np.dot`` syncs BLAS threads: ~50x slower here)."""
    np.multiply(dev, dev, out=dev)
    return float(dev.sum())


_SAFE_MAGNITUDE = 2.0 ** 400  # beyond it, squares of deviations could overflow float64


def _chan(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Merge two (count, mean, sum of squared deviations) triples."""
    n = n_a + n_b
    if n_b == 0:
        return n_a, mean_a, m2_a
    if n_a == 0:
        return n_b, mean_b, m2_b
    delta = mean_b - mean_a
    return n, mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


@dataclass
class NumericAccumulator:
    """Moments, extremes, special-value counts and a quantile sketch of numeric values.

    ``mean``, ``m2``, ``w_mean`` and ``w_m2`` are kept in units of ``scale`` (1.0 unless a
    value beyond 2**400 arrives: then a power of two, so that values near +-1e308 square
    and sum without overflow); :attr:`true_mean` and :attr:`std_dev` undo it."""

    kll_k: int = 400
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    zeros: int = 0
    nan: int = 0
    pos_inf: int = 0
    neg_inf: int = 0
    w_sum: float = 0.0
    w_mean: float = 0.0
    w_m2: float = 0.0
    scale: float = 1.0
    sketch: QuantileSketch | None = None

    def add(self, x: np.ndarray, w: np.ndarray | None, rate: float, seed: int) -> None:
        """Add float64 non-null values ``x`` (weights ``w`` aligned, or ``None``)."""
        with np.errstate(over="ignore", invalid="ignore"):  # +-1e308 sums: handled below
            total = x.sum()
        if not np.isfinite(total):
            nan, pos, neg = np.isnan(x), x == np.inf, x == -np.inf
            self.nan += int(nan.sum())
            self.pos_inf += int(pos.sum())
            self.neg_inf += int(neg.sum())
            finite = ~(nan | pos | neg)
            x = x[finite]
            w = w[finite] if w is not None else None
        if not len(x):
            return
        self._fit_scale(max(abs(float(x.min())), abs(float(x.max()))))
        scaled = x / self.scale if self.scale != 1.0 else x
        mean = (float(total) if self.scale == 1.0 and np.isfinite(total)
                else float(scaled.sum())) / len(x)
        self.n, self.mean, self.m2 = _chan(self.n, self.mean, self.m2, len(x), mean,
                                           _sum_of_squares(scaled - mean))
        self.zeros += len(x) - int(np.count_nonzero(x))
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        if w is not None:
            w_sum = float(w.sum())
            if w_sum > 0:
                w_mean = float((w * scaled).sum()) / w_sum
                w_dev = scaled - w_mean
                self.w_sum, self.w_mean, self.w_m2 = _chan(
                    self.w_sum, self.w_mean, self.w_m2, w_sum, w_mean,
                    float((w * w_dev * w_dev).sum()))
        if self.sketch is None:
            self.sketch = QuantileSketch(self.kll_k)
        self.sketch.update(_sample(x, rate, seed))

    def _fit_scale(self, magnitude: float) -> None:
        """Grow ``scale`` (a power of two) so that ``magnitude / scale`` squares without
        overflow; moments kept so far are re-expressed in the new unit."""
        if magnitude <= _SAFE_MAGNITUDE * self.scale:
            return
        scale = 2.0 ** math.ceil(math.log2(magnitude / _SAFE_MAGNITUDE))
        ratio = self.scale / scale
        self.mean, self.m2 = self.mean * ratio, self.m2 * ratio * ratio
        self.w_mean, self.w_m2 = self.w_mean * ratio, self.w_m2 * ratio * ratio
        self.scale = scale

    @property
    def true_mean(self) -> float:
        """The mean in the values' own unit."""
        return self.mean * self.scale

    @property
    def std_dev(self) -> float:
        """Population standard deviation in the values' own unit."""
        return math.sqrt(self.m2 / self.n) * self.scale if self.n else 0.0

    def merge(self, other: NumericAccumulator) -> None:
        """Fold ``other`` into this accumulator."""
        if other.scale > self.scale:
            self._fit_scale(other.scale * _SAFE_MAGNITUDE)
        elif other.scale < self.scale:
            ratio = other.scale / self.scale
            other = dataclasses.replace(other, mean=other.mean * ratio,
                                        m2=other.m2 * ratio * ratio,
                                        w_mean=other.w_mean * ratio,
                                        w_m2=other.w_m2 * ratio * ratio, scale=self.scale)
        self.n, self.mean, self.m2 = _chan(self.n, self.mean, self.m2,
                                           other.n, other.mean, other.m2)
        self.w_sum, self.w_mean, self.w_m2 = _chan(self.w_sum, self.w_mean, self.w_m2,
                                                   other.w_sum, other.w_mean, other.w_m2)
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.zeros += other.zeros
        self.nan += other.nan
        self.pos_inf += other.pos_inf
        self.neg_inf += other.neg_inf
        if other.sketch is not None:
            if self.sketch is None:
                self.sketch = QuantileSketch(self.kll_k)
            self.sketch.merge(other.sketch)


def add_plain_columns(accs: list[NumericAccumulator], x: np.ndarray, rate: float,
                      seeds: list[int]) -> None:
    """Add one batch of several columns without nulls, the rows of ``x`` (C-contiguous
    float64, at least one column), to their accumulators ``accs``.

    The figures of :meth:`NumericAccumulator.add` column by column, each reduction made
    once for all columns: along contiguous rows, numpy reduces each row exactly as it
    reduces that row alone, so every figure is bit-identical. A column holding NaN, an
    infinity or a value beyond 2**400, or whose accumulator is already scaled, goes
    through :meth:`~NumericAccumulator.add` itself.
    """
    n = x.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):  # columns with Inf/NaN: add() below
        totals = x.sum(axis=1)
        lows, highs = x.min(axis=1), x.max(axis=1)
        means = totals / n
        dev = x - means[:, None]
        np.multiply(dev, dev, out=dev)
        plain = (np.isfinite(totals) & (np.abs(lows) <= _SAFE_MAGNITUDE)
                 & (np.abs(highs) <= _SAFE_MAGNITUDE)).tolist()
    figures = zip(means.tolist(), dev.sum(axis=1).tolist(),
                  (n - np.count_nonzero(x, axis=1)).tolist(), lows.tolist(), highs.tolist(),
                  strict=True)
    for j, (acc, (mean, m2, zeros, low, high)) in enumerate(zip(accs, figures, strict=True)):
        if not plain[j] or acc.scale != 1.0:
            acc.add(x[j], None, rate, seeds[j])
            continue
        acc.n, acc.mean, acc.m2 = _chan(acc.n, acc.mean, acc.m2, n, mean, m2)
        acc.zeros += zeros
        acc.min, acc.max = min(acc.min, low), max(acc.max, high)
        if acc.sketch is None:
            acc.sketch = QuantileSketch(acc.kll_k)
        acc.sketch.update(_sample(x[j], rate, seeds[j]))


def _seed(sketch: DistinctSketch, counts: dict) -> None:
    """Add the distinct values of an exact count to ``sketch``."""
    if counts:
        keys = list(counts)
        kind = pa.binary() if isinstance(keys[0], bytes) else pa.string()
        sketch.update_hashes(hash_array(pa.array(keys, kind)))


@dataclass
class StringAccumulator:
    """Value counts (exact up to a bound), distinct-count sketch and total length.

    While the counts are exact the distinct count is their length, so the HyperLogLog is
    fed only once they are not: it then starts from every distinct value counted so far
    (an HLL depends only on the set of values), which spares hashing and 16 KiB of
    registers per column of ordinary data.
    """

    max_exact: int = 10_000
    n: int = 0
    total_length: int = 0
    values: FrequentValues = None  # type: ignore[assignment]
    distinct: DistinctSketch = field(default_factory=DistinctSketch)
    weighted: dict | None = field(default_factory=dict)

    def __post_init__(self):
        if self.values is None:
            self.values = FrequentValues(self.max_exact)

    def add(self, arr: pa.Array, w: np.ndarray | None) -> None:
        """Add non-null string values ``arr`` (weights ``w`` aligned, or ``None``)."""
        if not len(arr):
            return
        counts = pc.value_counts(arr)
        values = counts.field("values")
        exact_before = self.values.exact
        self.values.add_counts(values, counts.field("counts"))
        if self.values.exact is None:
            if exact_before is not None:  # just left exact counting: every value so far
                _seed(self.distinct, exact_before)
            else:
                self.distinct.update_hashes(hash_array(values))
        self.total_length += int(pc.sum(pc.binary_length(arr)).as_py() or 0)
        self.n += len(arr)
        if w is not None and self.weighted is not None:
            grouped = pa.table({"v": arr, "w": w}).group_by("v").aggregate([("w", "sum")])
            pairs = zip(grouped["v"].to_pylist(), grouped["w_sum"].to_pylist(), strict=True)
            for value, weight in pairs:
                self.weighted[value] = self.weighted.get(value, 0.0) + weight
            if len(self.weighted) > self.max_exact:
                self.weighted = None

    def merge(self, other: StringAccumulator) -> None:
        """Fold ``other`` into this accumulator."""
        self.n += other.n
        self.total_length += other.total_length
        self_exact, other_exact = self.values.exact, other.values.exact
        self.values.merge(other.values)
        if self.values.exact is None:
            # an exact side's values were never hashed; when both were exact, merging
            # added the other's values to self_exact before it was given up
            if self_exact is not None:
                _seed(self.distinct, self_exact)
            if other_exact is not None and self_exact is None:
                _seed(self.distinct, other_exact)
            self.distinct.merge(other.distinct)
        if self.weighted is None or other.weighted is None:
            self.weighted = None
            return
        for value, weight in other.weighted.items():
            self.weighted[value] = self.weighted.get(value, 0.0) + weight
        if len(self.weighted) > self.max_exact:
            self.weighted = None
