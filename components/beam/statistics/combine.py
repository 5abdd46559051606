"""Mergeable statistics accumulators over Arrow record batches, and their Beam CombineFn.

Each accumulator takes a whole column of a batch at once (numpy / ``pyarrow.compute``),
merges with Chan's parallel formulas for moments and sketch merges for quantiles, distinct
counts and frequent values, and pickles compactly. :class:`StatsCombineFn` is what
StatisticsGen runs on every split; :mod:`components.beam.stats_output` turns the final
accumulator into the pydantic models of :mod:`components.statistics_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.components.beam.hashing import hash_array
from gristmill.components.beam.statistics.sketches import (
    DistinctSketch,
    FrequentValues,
    QuantileSketch,
)

ALL_SLICE = "All"
OTHER_SLICE_VALUE = "__OTHER__"


@dataclass(frozen=True)
class StatsConfig:
    """Plain, picklable settings of one statistics computation (from ``StatsOptions``)."""

    kll_k: int = 400
    num_top_values: int = 20
    num_histogram_buckets: int = 10
    num_quantiles_histogram_buckets: int = 10
    max_exact_unique: int = 10_000
    weight_feature: str | None = None
    slice_features: tuple[str, ...] = ()
    max_slices_per_feature: int = 50
    sample_rate: float = 1.0
    features: tuple[str, ...] | None = None
    categorical_features: tuple[str, ...] = ()


def feature_kind(arrow_type: pa.DataType) -> tuple[str, str]:
    """``(kind, logical type)`` of a column: kind is ``numeric``, ``string`` or ``other``."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "numeric", "BOOL"
    if pa.types.is_integer(t) or pa.types.is_temporal(t):
        return "numeric", "INT"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric", "FLOAT"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string", "STRING"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "string", "BYTES"
    return "other", "OTHER"


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
    """Moments, extremes, special-value counts and a quantile sketch of numeric values."""

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
    sketch: QuantileSketch | None = None

    def add(self, x: np.ndarray, w: np.ndarray | None, rate: float, seed: int) -> None:
        """Add float64 non-null values ``x`` (weights ``w`` aligned, or ``None``)."""
        total = x.sum()
        if not np.isfinite(total):
            nan, pos, neg = np.isnan(x), x == np.inf, x == -np.inf
            self.nan += int(nan.sum())
            self.pos_inf += int(pos.sum())
            self.neg_inf += int(neg.sum())
            finite = ~(nan | pos | neg)
            x = x[finite]
            w = w[finite] if w is not None else None
            total = x.sum()
        if not len(x):
            return
        mean = total / len(x)
        self.n, self.mean, self.m2 = _chan(self.n, self.mean, self.m2, len(x), mean,
                                           _sum_of_squares(x - mean))
        self.zeros += len(x) - int(np.count_nonzero(x))
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        if w is not None:
            w_sum = float(w.sum())
            if w_sum > 0:
                w_mean = float((w * x).sum()) / w_sum
                w_dev = x - w_mean
                self.w_sum, self.w_mean, self.w_m2 = _chan(
                    self.w_sum, self.w_mean, self.w_m2, w_sum, w_mean,
                    float((w * w_dev * w_dev).sum()))
        if self.sketch is None:
            self.sketch = QuantileSketch(self.kll_k)
        self.sketch.update(_sample(x, rate, seed))

    def merge(self, other: NumericAccumulator) -> None:
        """Fold ``other`` into this accumulator."""
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


@dataclass
class StringAccumulator:
    """Value counts (exact up to a bound), distinct-count sketch and total length."""

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
        self.values.add_counts(values, counts.field("counts"))
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
        self.values.merge(other.values)
        self.distinct.merge(other.distinct)
        if self.weighted is None or other.weighted is None:
            self.weighted = None
            return
        for value, weight in other.weighted.items():
            self.weighted[value] = self.weighted.get(value, 0.0) + weight
        if len(self.weighted) > self.max_exact:
            self.weighted = None


@dataclass
class FeatureAccumulator:
    """Presence, values-per-row and the value accumulator of one column."""

    arrow_type: str
    kind: str
    logical_type: str
    is_list: bool = False
    present: int = 0
    missing: int = 0
    num_values: int = 0
    min_values: int | None = None
    max_values: int | None = None
    values: NumericAccumulator | StringAccumulator | None = None

    def merge(self, other: FeatureAccumulator) -> None:
        """Fold ``other`` into this accumulator."""
        self.present += other.present
        self.missing += other.missing
        self.num_values += other.num_values
        for name, pick in (("min_values", min), ("max_values", max)):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs if mine is None else mine if theirs is None
                    else pick(mine, theirs))
        if self.values is None:
            self.values = other.values
        elif other.values is not None:
            self.values.merge(other.values)


@dataclass
class DatasetAccumulator:
    """Row count, weighted row count and per-column accumulators of one slice."""

    num_examples: int = 0
    weighted_num_examples: float = 0.0
    features: dict[str, FeatureAccumulator] = field(default_factory=dict)

    def merge(self, other: DatasetAccumulator) -> None:
        """Fold ``other`` into this accumulator."""
        self.num_examples += other.num_examples
        self.weighted_num_examples += other.weighted_num_examples
        for name, feature in other.features.items():
            if name in self.features:
                self.features[name].merge(feature)
            else:
                self.features[name] = feature


def _weights(batch: pa.RecordBatch, config: StatsConfig) -> np.ndarray | None:
    if config.weight_feature is None:
        return None
    column = batch.column(config.weight_feature)
    return pc.cast(column, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)


def _new_feature(name: str, arrow_type: pa.DataType, config: StatsConfig) -> FeatureAccumulator:
    is_list = pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) \
        or pa.types.is_fixed_size_list(arrow_type)
    value_type = arrow_type.value_type if is_list else arrow_type
    kind, logical = feature_kind(value_type)
    if name in config.categorical_features and kind == "numeric":
        kind = "string"  # integer codes: counted as categories, not measured
    values = (NumericAccumulator(config.kll_k) if kind == "numeric"
              else StringAccumulator(config.max_exact_unique) if kind == "string" else None)
    return FeatureAccumulator(str(arrow_type), kind, logical, is_list, values=values)


def _add_values(feature: FeatureAccumulator, values: pa.Array, w: np.ndarray | None,
                config: StatsConfig, seed: int) -> None:
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if feature.kind == "numeric":
        if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
            values = pc.cast(values, pa.int64()) if pa.types.is_temporal(values.type) else values
            values = pc.cast(values, pa.float64())
        x = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        feature.values.add(x, w, config.sample_rate, seed)
    elif feature.kind == "string":
        if feature_kind(values.type)[0] != "string":
            values = pc.cast(values, pa.string())
        feature.values.add(values, w)


def add_column(feature: FeatureAccumulator, column: pa.Array, w: np.ndarray | None,
               config: StatsConfig, seed: int) -> None:
    """Add one batch's column (with row weights ``w``) to ``feature``."""
    missing = column.null_count
    feature.missing += missing
    feature.present += len(column) - missing
    if missing:
        valid = column.is_valid()
        column = column.filter(valid)
        if w is not None:
            w = w[valid.to_numpy(zero_copy_only=False)]
    if not len(column):
        return
    if feature.is_list:
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        values = pc.list_flatten(column)
        w = np.repeat(w, lengths) if w is not None else None
        low, high = int(lengths.min()), int(lengths.max())
    else:
        lengths, values, low, high = None, column, 1, 1
    feature.num_values += len(values)
    feature.min_values = low if feature.min_values is None else min(feature.min_values, low)
    feature.max_values = high if feature.max_values is None else max(feature.max_values, high)
    if values.null_count:
        keep = values.is_valid()
        w = w[keep.to_numpy(zero_copy_only=False)] if w is not None else None
        values = values.filter(keep)
    _add_values(feature, values, w, config, seed)


def add_batch(acc: DatasetAccumulator, batch: pa.RecordBatch, config: StatsConfig,
              seed: int) -> None:
    """Add every (selected) column of ``batch`` to ``acc``."""
    w = _weights(batch, config)
    acc.num_examples += batch.num_rows
    if w is not None:
        acc.weighted_num_examples += float(w.sum())
    names = config.features if config.features is not None else batch.schema.names
    for index, name in enumerate(names):
        if name not in batch.schema.names:
            continue
        column = batch.column(name)
        if name not in acc.features:
            acc.features[name] = _new_feature(name, column.type, config)
        add_column(acc.features[name], column, w, config, seed * 1_000_003 + index)


def _slice_batches(batch: pa.RecordBatch, feature: str):
    """Yield ``(slice name, sub-batch)`` per distinct value of ``feature`` in ``batch``."""
    column = batch.column(feature)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    for value in pc.unique(column).to_pylist():
        mask = pc.is_null(column) if value is None else pc.equal(column, pa.scalar(value,
                                                                                   column.type))
        yield f"{feature}={value}", batch.filter(mask)


class StatsCombineFn(beam.CombineFn):
    """Combine ``(seed, RecordBatch)`` elements into ``{slice: DatasetAccumulator}``.

    Args:
        config: What to compute (see :class:`StatsConfig`).
    """

    def __init__(self, config: StatsConfig):
        self.config = config

    def create_accumulator(self) -> dict[str, DatasetAccumulator]:
        return {ALL_SLICE: DatasetAccumulator()}

    def add_input(self, acc: dict[str, DatasetAccumulator], element) -> dict:
        seed, batch = element
        add_batch(acc[ALL_SLICE], batch, self.config, seed)
        for feature in self.config.slice_features:
            for name, part in _slice_batches(batch, feature):
                add_batch(acc.setdefault(name, DatasetAccumulator()), part, self.config, seed)
        return acc

    def merge_accumulators(self, accumulators) -> dict[str, DatasetAccumulator]:
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for acc in accumulators:
            for name, dataset in acc.items():
                if name in merged:
                    merged[name].merge(dataset)
                else:
                    merged[name] = dataset
        return merged

    def extract_output(self, acc: dict[str, DatasetAccumulator]) -> dict:
        return cap_slices(acc, self.config)


def cap_slices(acc: dict[str, DatasetAccumulator], config: StatsConfig) -> dict:
    """Keep the largest ``max_slices_per_feature`` slices per feature; merge the rest.

    Rows of the smaller slices go to ``<feature>=__OTHER__``, so no row is dropped.
    """
    capped = {ALL_SLICE: acc[ALL_SLICE]}
    for feature in config.slice_features:
        prefix = f"{feature}="
        names = sorted((n for n in acc if n.startswith(prefix)),
                       key=lambda n: (-acc[n].num_examples, n))
        for name in names[:config.max_slices_per_feature]:
            capped[name] = acc[name]
        for name in names[config.max_slices_per_feature:]:
            other = capped.setdefault(prefix + OTHER_SLICE_VALUE, DatasetAccumulator())
            other.merge(acc[name])
    return capped
