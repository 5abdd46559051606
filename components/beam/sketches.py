"""Mergeable, serialisable sketches and a stable vectorised hash for Arrow arrays.

Everything here is fed whole Arrow arrays or numpy vectors, never single rows:

* :func:`hash_array` / :func:`hash_rows` give a stable 64-bit hash per value / per row
  (splitmix64 finaliser over a canonical encoding; independent of process, platform, run
  and Beam runner, unlike Python's ``hash()``). ExampleGen splits on it; HLL counts on it.
* :class:`QuantileSketch` wraps a datasketches KLL sketch so it pickles as bytes (Beam
  ships accumulators between workers).
* :class:`DistinctSketch` is a HyperLogLog whose registers are updated with numpy in one
  vector operation (datasketches' HLL only takes one item per Python call).
* :class:`FrequentValues` keeps exact value counts up to a bound and falls back to a
  datasketches frequent-items sketch beyond it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(0x100000001B3)
_NULL_HASH = np.uint64(0x6A09E667F3BCC909)
_EMPTY_HASH = np.uint64(0xBB67AE8584CAA73B)


def splitmix64(z: np.ndarray) -> np.ndarray:
    """Mix a uint64 vector with the splitmix64 finaliser (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = z.astype(np.uint64, copy=True)
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


def hash_bytes(text: str | bytes) -> np.uint64:
    """Stable 64-bit hash of one string (used for column names and seeds)."""
    data = text.encode() if isinstance(text, str) else text
    return hash_array(pa.array([data], pa.binary()))[0]


def _hash_binary(arr: pa.Array) -> np.ndarray:
    """Polynomial hash of every string's bytes, mod 2**64, one vector pass."""
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        offset_type = np.int64
    else:
        offset_type = np.int32
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[arr.offset:arr.offset + len(arr) + 1]
    offsets = offsets.astype(np.int64)
    lengths = np.diff(offsets)
    out = np.full(len(arr), _EMPTY_HASH, dtype=np.uint64)
    total = int(offsets[-1] - offsets[0])
    if total:
        data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
        starts = offsets[:-1] - offsets[0]
        ends = np.repeat(starts + lengths, lengths)
        position_from_end = ends - 1 - np.arange(total, dtype=np.int64)
        with np.errstate(over="ignore"):
            powers = np.cumprod(np.full(int(lengths.max()), _PRIME, dtype=np.uint64))
            contrib = (data.astype(np.uint64) + np.uint64(1)) * powers[position_from_end]
        nonempty = lengths > 0
        sums = np.add.reduceat(contrib, starts[nonempty])
        out[nonempty] = sums
    with np.errstate(over="ignore"):
        return splitmix64(out ^ (lengths.astype(np.uint64) * _GOLDEN))


def _canonical_bits(arr: pa.Array) -> np.ndarray:
    """A uint64 view of fixed-width values: equal values give equal bits."""
    t = arr.type
    if pa.types.is_boolean(t):
        return pc.cast(arr.fill_null(False), pa.uint8()).to_numpy().astype(np.uint64)
    if pa.types.is_floating(t):
        x = pc.cast(arr, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        x = np.where(x == 0.0, 0.0, x)  # -0.0 and 0.0 hash alike
        x = np.where(np.isnan(x), np.nan, x)  # one NaN payload
        return x.view(np.uint64)
    if pa.types.is_integer(t):
        return pc.cast(arr, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    if pa.types.is_temporal(t):
        return pc.cast(arr, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    raise TypeError(f"no fixed-width encoding for {t}")


def hash_array(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Stable uint64 hash of every value of ``arr``; nulls hash to a fixed constant.

    Supports numbers, booleans, temporals, strings/binaries (any offset width), dictionary
    arrays (hashed by value), lists (order-sensitive over their items) and structs.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        codes = arr.indices.fill_null(0).to_numpy(zero_copy_only=False)
        return _with_nulls(arr, hash_array(arr.dictionary)[codes])
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t) or pa.types.is_decimal(t):
        return hash_array(pc.cast(arr, pa.large_string()))
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) \
            or pa.types.is_large_binary(t):
        if len(arr) >= 4096:  # repeated values: hash each distinct one once
            encoded = pc.dictionary_encode(arr)
            if len(encoded.dictionary) * 4 <= len(arr):
                return hash_array(encoded)
        return _with_nulls(arr, _hash_binary(arr))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _with_nulls(arr, _hash_lists(arr))
    if pa.types.is_struct(t):
        fields = [(t.field(i).name, arr.field(i)) for i in range(t.num_fields)]
        return _with_nulls(arr, _combine(fields, len(arr)))
    return _with_nulls(arr, splitmix64(_canonical_bits(arr) ^ _GOLDEN))


def _with_nulls(arr: pa.Array, hashes: np.ndarray) -> np.ndarray:
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        hashes = np.where(valid, hashes, _NULL_HASH)
    return hashes


def _hash_lists(arr: pa.Array) -> np.ndarray:
    offsets = arr.offsets.to_numpy().astype(np.int64)
    values = arr.values.slice(offsets[0], offsets[-1] - offsets[0])
    lengths = np.diff(offsets)
    item_hashes = hash_array(values)
    position = np.arange(len(item_hashes), dtype=np.int64) - np.repeat(offsets[:-1] - offsets[0],
                                                                         lengths)
    with np.errstate(over="ignore"):
        mixed = splitmix64(item_hashes + position.astype(np.uint64) * _GOLDEN)
    out = np.full(len(arr), _EMPTY_HASH, dtype=np.uint64)
    nonempty = lengths > 0
    if nonempty.any():
        out[nonempty] = np.add.reduceat(mixed, (offsets[:-1] - offsets[0])[nonempty])
    with np.errstate(over="ignore"):
        return splitmix64(out ^ lengths.astype(np.uint64))


def _combine(named_columns: Iterable[tuple[str, pa.Array]], length: int) -> np.ndarray:
    h = np.zeros(length, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name, column in sorted(named_columns, key=lambda item: item[0]):
            h = splitmix64(h * _PRIME + (hash_array(column) ^ hash_bytes(name)))
    return h


def hash_rows(batch: pa.RecordBatch | pa.Table, columns: list[str] | None = None) -> np.ndarray:
    """Stable uint64 hash of each row over ``columns`` (all by default), by column name.

    Column order does not matter; names and values do. Equal rows hash alike on every run,
    process and runner.
    """
    names = columns if columns is not None else batch.schema.names
    return _combine(((n, batch.column(n)) for n in names), batch.num_rows)


class QuantileSketch:
    """KLL quantile sketch over doubles, mergeable and picklable.

    Args:
        k: KLL accuracy parameter; see :func:`kll_k_for_epsilon`.
    """

    def __init__(self, k: int = 400):
        from datasketches import kll_doubles_sketch

        self.k = k
        self._sketch = kll_doubles_sketch(k)

    def update(self, values: np.ndarray) -> None:
        """Add a float64 vector of finite values."""
        if len(values):
            values = np.ascontiguousarray(values, dtype=np.float64)
            if not values.flags.writeable:  # the binding refuses read-only (Arrow) buffers
                values = values.copy()
            self._sketch.update(values)

    def merge(self, other: QuantileSketch) -> None:
        """Fold ``other`` into this sketch."""
        self._sketch.merge(other._sketch)

    @property
    def n(self) -> int:
        """Number of values seen."""
        return int(self._sketch.n)

    def quantiles(self, ranks: list[float]) -> list[float]:
        """Values at normalised ``ranks`` (empty when no data)."""
        return [] if self._sketch.is_empty() else list(self._sketch.get_quantiles(ranks))

    def cdf(self, split_points: list[float]) -> list[float]:
        """Fraction of values below each split point, then 1.0 (empty when no data)."""
        return [] if self._sketch.is_empty() else list(self._sketch.get_cdf(split_points))

    def __getstate__(self) -> dict:
        return {"k": self.k, "bytes": self._sketch.serialize()}

    def __setstate__(self, state: dict) -> None:
        from datasketches import kll_doubles_sketch

        self.k = state["k"]
        self._sketch = kll_doubles_sketch.deserialize(state["bytes"])


def kll_k_for_epsilon(epsilon: float) -> int:
    """Smallest KLL ``k`` whose 99th-percentile single-sided rank error is <= 2/3 epsilon.

    The remaining third of the budget covers row sampling (see ``StatsOptions``).
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
        self.registers = np.zeros(1 << p, dtype=np.uint8)

    def update_hashes(self, hashes: np.ndarray) -> None:
        """Add a vector of uint64 hashes."""
        if not len(hashes):
            return
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
        np.maximum(self.registers, other.registers, out=self.registers)

    def estimate(self) -> float:
        """Estimated number of distinct values."""
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
