"""Stable vectorised 64-bit hashes of Arrow values and rows.

:func:`hash_array` gives each value a splitmix64-mixed hash of a canonical encoding (equal
values hash alike: -0.0 and 0.0, every NaN, a dictionary value and its plain form);
:func:`hash_rows` combines a row's columns by name. Both are independent of process,
platform, run and Beam runner, unlike Python's ``hash()``: ExampleGen assigns splits with
:func:`hash_rows`; StatisticsGen's HyperLogLog counts :func:`hash_array` values. Whole
arrays go through numpy at once, never one value at a time.
"""

from __future__ import annotations

import functools
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
_ROW_SEED = np.uint64(0x3C6EF372FE94F82B)


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


@functools.lru_cache(maxsize=4096)
def _name_hash(name: str) -> np.uint64:
    """:func:`hash_bytes` of a column name, remembered (0.4 ms each, every batch)."""
    return hash_bytes(name)


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
        if not pa.types.is_float64(t):
            arr = pc.cast(arr, pa.float64())
        x = (arr.fill_null(0.0) if arr.null_count else arr).to_numpy(zero_copy_only=False)
        x = x + 0.0  # a fresh array in which -0.0 is 0.0: they hash alike
        nan = np.isnan(x)
        if nan.any():
            x[nan] = np.nan  # one NaN payload
        return x.view(np.uint64)
    if pa.types.is_integer(t):
        if not pa.types.is_int64(t):
            arr = pc.cast(arr, pa.int64())
        return (arr.fill_null(0) if arr.null_count else arr).to_numpy(
            zero_copy_only=False).view(np.uint64)
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


def _value_bits(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per-value uint64 that tells values apart: raw bits for plain fixed-width values,
    :func:`hash_array` for the rest; nulls get their own constant."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_boolean(t) or pa.types.is_floating(t) or pa.types.is_integer(t) \
            or pa.types.is_temporal(t):
        return _with_nulls(arr, _canonical_bits(arr))
    return hash_array(arr)


def hash_rows(batch: pa.RecordBatch | pa.Table, columns: list[str] | None = None) -> np.ndarray:
    """Stable uint64 hash of each row over ``columns`` (all by default), by column name.

    Column order does not matter; names and values do. Equal rows hash alike on every run,
    process and runner. Each column costs one xor-multiply step (FNV-1a over 64-bit
    words, the column name xored in) and the row ends with one splitmix64 avalanche: about
    3x cheaper than mixing every value first (ExampleGen hashes every row it reads).
    """
    names = columns if columns is not None else batch.schema.names
    h = np.full(batch.num_rows, _ROW_SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in sorted(names):
            np.bitwise_xor(h, _value_bits(batch.column(name)), out=h)
            h ^= _name_hash(name)
            h *= _PRIME
    return splitmix64(h)
