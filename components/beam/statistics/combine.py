"""Mergeable statistics accumulators over Arrow record batches, and their Beam CombineFn.

Each accumulator takes a whole column of a batch at once (numpy / ``pyarrow.compute``),
merges with Chan's parallel formulas for moments and sketch merges for quantiles, distinct
counts and frequent values, and pickles compactly. :class:`StatsCombineFn` is what
StatisticsGen runs on every split; :mod:`components.beam.stats_output` turns the final
accumulator into the pydantic models of :mod:`components.statistics_model`.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.components.beam.statistics.accumulators import (
    NumericAccumulator,
    StringAccumulator,
    add_plain_columns,
)
from gristmill.components.framework.statistics_model import gc_paused

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
    if pa.types.is_integer(t) or (pa.types.is_temporal(t) and t.bit_width in (32, 64)):
        return "numeric", "INT"  # dates, times, timestamps, durations: their stored integer
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric", "FLOAT"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string", "STRING"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "string", "BYTES"
    return "other", "OTHER"


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
            if pa.types.is_temporal(values.type):  # its stored integer: days, ms, ns ...
                values = values.view(pa.int32() if values.type.bit_width == 32 else pa.int64())
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
    # one name -> position map per batch: `name in batch.schema.names` built a fresh list
    # per column, quadratic in the number of columns (18 s for 5,000 columns)
    positions = {name: i for i, name in enumerate(batch.schema.names)}
    names = config.features if config.features is not None else list(positions)
    plain = []  # numeric columns without nulls: added all at once
    for index, name in enumerate(names):
        if name not in positions:
            continue
        column = batch.column(positions[name])
        if name not in acc.features:
            acc.features[name] = _new_feature(name, column.type, config)
        feature = acc.features[name]
        if w is None and batch.num_rows and _is_plain_numeric(feature, column):
            plain.append((feature, column, seed * 1_000_003 + index))
        else:
            add_column(feature, column, w, config, seed * 1_000_003 + index)
    if plain:
        _add_plain_numeric(plain, batch.num_rows, config)


def _is_plain_numeric(feature: FeatureAccumulator, column: pa.Array) -> bool:
    return (feature.kind == "numeric" and not feature.is_list and not column.null_count
            and (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)))


def _add_plain_numeric(plain: list[tuple[FeatureAccumulator, pa.Array, int]], rows: int,
                       config: StatsConfig) -> None:
    """What :func:`add_column` does to each of ``plain``, in one numpy reduction per
    figure for all of them (see :func:`add_plain_columns`)."""
    x = np.empty((len(plain), rows))
    for j, (feature, column, _) in enumerate(plain):
        x[j] = column.to_numpy(zero_copy_only=False)  # ints: the cast astype(float64) makes
        feature.present += rows
        feature.num_values += rows
        feature.min_values = 1 if feature.min_values is None else min(feature.min_values, 1)
        feature.max_values = 1 if feature.max_values is None else max(feature.max_values, 1)
    add_plain_columns([feature.values for feature, _, _ in plain], x, config.sample_rate,
                      [seed for _, _, seed in plain])


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

    def add_input(self, acc: dict[str, DatasetAccumulator] | bytes, element) -> dict:
        seed, batch = element
        acc = unpacked(acc)
        with gc_paused():  # the first batch makes several objects per column
            add_batch(acc[ALL_SLICE], batch, self.config, seed)
            for feature in self.config.slice_features:
                for name, part in _slice_batches(batch, feature):
                    add_batch(acc.setdefault(name, DatasetAccumulator()), part, self.config,
                              seed)
        return acc

    def compact(self, acc: dict[str, DatasetAccumulator] | bytes) -> bytes:
        """The accumulator pickled as one ``bytes``, as Beam ships it between stages.

        Beam's state cache sizes what it holds object by object (0.2 s for the accumulators
        of 5,000 columns); one ``bytes`` it sizes at once. Every other method takes either
        form.
        """
        if isinstance(acc, bytes):
            return acc
        with gc_paused():
            return pickle.dumps(acc, protocol=pickle.HIGHEST_PROTOCOL)

    def merge_accumulators(self, accumulators) -> dict[str, DatasetAccumulator]:
        accumulators = iter(accumulators)
        merged = unpacked(next(accumulators))
        for acc in accumulators:
            for name, dataset in unpacked(acc).items():
                if name in merged:
                    merged[name].merge(dataset)
                else:
                    merged[name] = dataset
        return merged

    def extract_output(self, acc: dict[str, DatasetAccumulator] | bytes) -> dict:
        return cap_slices(unpacked(acc), self.config)


def unpacked(acc: dict[str, DatasetAccumulator] | bytes) -> dict[str, DatasetAccumulator]:
    """An accumulator from :meth:`StatsCombineFn.compact` unpickled; others as they are."""
    if not isinstance(acc, bytes):
        return acc
    with gc_paused():
        return pickle.loads(acc)


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
