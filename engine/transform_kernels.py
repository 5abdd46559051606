"""Vectorised kernels of a fitted transform: NumPy for numbers, Arrow compute for strings.

Values move between steps in one of three forms: ``numpy.float64`` arrays where NaN means
missing (every numeric op), ``numpy.int64`` arrays of ids that are never missing (vocabulary,
hash, cross, bucketize), and Arrow arrays (strings and passthrough columns).

Missing values, decided once for every op:

* numeric ops propagate missing (null in, null out; NaN counts as null), so a model that
  cannot take missing values needs ``fill_missing`` first;
* ``bucketize`` sends missing to an extra last bucket, index ``len(boundaries) + 1``;
* vocabulary lookups send missing to the first OOV bucket (``vocab_size``), unknown values to
  ``vocab_size + hash % num_oov_buckets`` (or ``default_value`` when there are no OOV buckets);
* ``hash_strings`` and ``cross`` hash a missing value as the empty string;
* ``one_hot`` of a missing or out-of-range id is an all-zero row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Value = Any  # np.ndarray | pa.Array
CROSS_SEPARATOR = "\x1f"


def as_array(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous Arrow array from a (possibly chunked) column."""
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_MS_PER_DAY = 86_400_000


def temporal_as_number(arr: pa.Array) -> pa.Array:
    """A date/time column as the number a transform sees, independent of its storage unit.

    Dates (``date32``, ``date64``) become int64 days since 1970-01-01; timestamps, durations
    and times of day become float64 seconds (since the epoch in UTC, of duration, since
    midnight), so a column read as ``timestamp[ms]`` in training and ``timestamp[ns]`` at
    serving gives the same numbers. Nulls stay null. Other types are returned unchanged.
    """
    t = arr.type
    if pa.types.is_date32(t):
        return pc.cast(arr.view(pa.int32()), pa.int64())
    if pa.types.is_date64(t):
        return pc.floor(pc.divide(pc.cast(arr.view(pa.int64()), pa.float64(), safe=False),
                                  _MS_PER_DAY)
                        ).cast(pa.int64())
    if pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_time(t):
        storage = arr.view(pa.int32() if t.bit_width == 32 else pa.int64())
        return pc.divide(pc.cast(storage, pa.float64(), safe=False),
                         float(_UNITS_PER_SECOND[t.unit]))
    return arr


def as_float(value: Value) -> np.ndarray:
    """float64 NumPy array with NaN for missing, from any numeric value form."""
    if isinstance(value, np.ndarray):
        return value if value.dtype == np.float64 else value.astype(np.float64)
    arr = as_array(value)
    if arr.type != pa.float64():
        arr = pc.cast(arr, pa.float64())
    if arr.null_count:
        arr = pc.fill_null(arr, float("nan"))
    return arr.to_numpy(zero_copy_only=False)


def as_string(value: Value) -> pa.Array:
    """Arrow ``string`` array, casting integers and dictionaries; nulls stay null."""
    arr = pa.array(value) if isinstance(value, np.ndarray) else as_array(value)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.type != pa.string():
        arr = pc.cast(arr, pa.string())
    return arr


def as_ids(value: Value) -> np.ndarray:
    """int64 NumPy ids; missing values become -1 (never produced by id ops themselves)."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.int64:
            return value
        return np.where(np.isnan(value), -1, value).astype(np.int64)
    return as_ids(as_float(value))


def stable_hash(text: str) -> int:
    """64-bit BLAKE2b of the UTF-8 text: identical on every machine and Python run."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def hash_to_buckets(strings: pa.Array, buckets: int) -> np.ndarray:
    """``stable_hash(s) % buckets`` per row; hashes each distinct value once."""
    strings = pc.fill_null(as_string(strings), "")
    encoded = pc.dictionary_encode(strings)
    uniques = encoded.dictionary.to_pylist()
    table = np.fromiter((stable_hash(u) % buckets for u in uniques), np.int64, len(uniques))
    return table[encoded.indices.to_numpy(zero_copy_only=False)]


# ----------------------------------------------------------------------------- numeric ops

def _operand(value: Value) -> np.ndarray | float:
    return float(value) if isinstance(value, (int, float)) else as_float(value)


_ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "pow": np.power}
_UNARY = {"log1p": np.log1p, "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs,
          "round": np.round, "floor": np.floor, "ceil": np.ceil}


def arith(args: list[Value], p: dict) -> np.ndarray:
    """Elementwise ``add | sub | mul | div`` of two operands (columns or constants)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = _ARITH[p["fn"]](_operand(args[0]), _operand(args[1]))
    return np.asarray(out, np.float64)


def unary(args: list[Value], p: dict) -> np.ndarray:
    """Elementwise math function (``log1p``, ``log``, ``exp``, ``sqrt``, ``abs``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Domain errors (log of a negative) give NaN, i.e. missing; infinities are kept.
        return _UNARY[p["fn"]](as_float(args[0]))


def clip(args: list[Value], p: dict) -> np.ndarray:
    """Clamp to ``[min, max]``; either bound may be ``None``."""
    x = as_float(args[0])
    lo = -np.inf if p.get("min") is None else p["min"]
    hi = np.inf if p.get("max") is None else p["max"]
    return np.clip(x, lo, hi)


def fill_missing(args: list[Value], p: dict) -> Value:
    """Replace missing values by ``value`` (numbers: null and NaN; strings: null)."""
    if isinstance(p["value"], str):
        return pc.fill_null(as_string(args[0]), p["value"])
    x = as_float(args[0])
    return np.where(np.isnan(x), float(p["value"]), x)


def scale_to_z_score(args: list[Value], p: dict) -> np.ndarray:
    """``(x - mean) / std``; ``x - mean`` when the analysed std is 0 (as tf.Transform)."""
    x = as_float(args[0])
    std = p["std"]
    return (x - p["mean"]) / std if std > 0 else x - p["mean"]


def scale_by_min_max(args: list[Value], p: dict) -> np.ndarray:
    """Map ``[min, max]`` onto ``[output_min, output_max]``; a constant column -> midpoint."""
    x = as_float(args[0])
    lo, hi, out_lo, out_hi = p["min"], p["max"], p["output_min"], p["output_max"]
    if not hi > lo:
        return np.where(np.isnan(x), np.nan, (out_lo + out_hi) / 2.0)
    return (x - lo) / (hi - lo) * (out_hi - out_lo) + out_lo


def bucketize(args: list[Value], p: dict) -> np.ndarray:
    """Bucket ids ``i`` with ``b[i-1] <= x < b[i]``; missing -> ``len(boundaries) + 1``."""
    x = as_float(args[0])
    boundaries = np.asarray(p["boundaries"], np.float64)
    ids = np.searchsorted(boundaries, x, side="right").astype(np.int64)
    ids[np.isnan(x)] = len(boundaries) + 1
    return ids


def one_hot(args: list[Value], p: dict) -> np.ndarray:
    """``[rows, depth]`` float32 indicator matrix; missing or out-of-range ids -> zeros."""
    ids = as_ids(args[0])
    depth = int(p["depth"])
    out = np.zeros((len(ids), depth), np.float32)
    ok = (ids >= 0) & (ids < depth)
    out[np.nonzero(ok)[0], ids[ok]] = 1.0
    return out


def z_score_per_key(args: list[Value], p: dict) -> np.ndarray:
    """z-score with the mean/std of the row's key (ids from a key lookup; last = global)."""
    x, keys = as_float(args[0]), as_ids(args[1])
    mean, std = np.asarray(p["means"]), np.asarray(p["stds"])
    m, s = mean[keys], std[keys]
    return np.where(s > 0, (x - m) / np.where(s > 0, s, 1.0), x - m)


def min_max_per_key(args: list[Value], p: dict) -> np.ndarray:
    """scale_by_min_max with the min/max of the row's key (last entry = global)."""
    x, keys = as_float(args[0]), as_ids(args[1])
    lo, hi = np.asarray(p["mins"])[keys], np.asarray(p["maxs"])[keys]
    out_lo, out_hi = p["output_min"], p["output_max"]
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (x - lo) / span * (out_hi - out_lo) + out_lo
    return np.where(hi > lo, scaled, np.where(np.isnan(x), np.nan, (out_lo + out_hi) / 2.0))


# ----------------------------------------------------------------------------- string ops

def vocabulary(args: list[Value], p: dict, vocab: pa.Array) -> np.ndarray | pa.ListArray:
    """Vocabulary ids; missing -> ``vocab_size``, unknown -> OOV bucket or ``default_value``.

    A token list maps token by token to an id list (a missing list stays missing).
    """
    lists = args[0] if isinstance(args[0], np.ndarray) else as_array(args[0])
    if not isinstance(lists, np.ndarray) and (pa.types.is_list(lists.type)
                                              or pa.types.is_large_list(lists.type)):
        ids = vocabulary([pc.list_flatten(lists)], p, vocab)
        offsets = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
        offsets = np.concatenate([[0], np.cumsum(offsets)]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(ids, pa.int64()),
                                        mask=lists.is_null())
    x = as_string(lists)
    ids = pc.index_in(x, value_set=vocab)
    n_vocab, n_oov = len(vocab), int(p.get("num_oov_buckets", 0))
    if not ids.null_count:
        return ids.to_numpy(zero_copy_only=False).astype(np.int64)
    found = pc.fill_null(ids, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    unknown = found < 0
    if n_oov == 0:
        found[unknown] = int(p.get("default_value", -1))
        return found
    if n_oov == 1:
        found[unknown] = n_vocab
        return found
    missing = x.is_null().to_numpy(zero_copy_only=False)
    rows = np.nonzero(unknown & ~missing)[0]
    found[unknown & missing] = n_vocab
    if len(rows):
        found[rows] = n_vocab + hash_to_buckets(x.take(pa.array(rows)), n_oov)
    return found


def hash_strings(args: list[Value], p: dict) -> np.ndarray:
    """Stable hash bucket per row, in ``[0, hash_buckets)``."""
    return hash_to_buckets(as_string(args[0]), int(p["hash_buckets"]))


def cross(args: list[Value], p: dict) -> np.ndarray:
    """Hash bucket of the joined values of several columns (a feature cross)."""
    parts = [pc.fill_null(as_string(_cross_part(a)), "") for a in args]
    joined = pc.binary_join_element_wise(*parts, CROSS_SEPARATOR)
    return hash_to_buckets(joined, int(p["hash_buckets"]))


def _cross_part(value: Value) -> Value:
    # Crossed numbers are keyed by their integer value, so 3 and 3.0 cross alike.
    if isinstance(value, np.ndarray):
        return pa.array(value.astype(np.int64)) if value.dtype != np.int64 else pa.array(value)
    arr = as_array(value)
    if pa.types.is_floating(arr.type):
        return pc.cast(pc.trunc(arr), pa.int64())
    return arr


NUMERIC_KERNELS: dict[str, Callable[[list[Value], dict], Value]] = {
    "arith": arith, "unary": unary, "clip": clip, "fill_missing": fill_missing,
    "scale_to_z_score": scale_to_z_score, "scale_by_min_max": scale_by_min_max,
    "bucketize": bucketize, "one_hot": one_hot, "z_score_per_key": z_score_per_key,
    "min_max_per_key": min_max_per_key,
}
STRING_KERNELS: dict[str, Callable[[list[Value], dict], Value]] = {
    "hash_strings": hash_strings, "cross": cross,
}

def _register_elementwise() -> frozenset[str]:
    # The element-wise and token-list ops live in their own modules, which use the helpers
    # above.
    from gristmill.engine import transform_elementwise as ew
    from gristmill.engine import transform_text as text

    NUMERIC_KERNELS.update(ew.NUMERIC_KERNELS)
    NUMERIC_KERNELS.update(text.NUMERIC_KERNELS)
    STRING_KERNELS.update(ew.STRING_KERNELS)
    STRING_KERNELS.update(text.LIST_KERNELS)
    return ew.ARROW_ONLY_OPS | frozenset(text.LIST_KERNELS)


#: Ops that run in Arrow even on the serving path (string lookups, string, date and token-list
#: ops); the rest have torch twins.
ARROW_ONLY_OPS = frozenset({"vocabulary", "hash_strings", "cross"}) | _register_elementwise()


def to_arrow(value: Value, dtype: str) -> pa.Array:
    """Final output column for a step value of plan dtype ``float | int | onehot | string``."""
    if dtype == "float":
        x = as_float(value)
        return pa.array(x.astype(np.float32), mask=np.isnan(x))
    if dtype == "int":
        return pa.array(as_ids(value), pa.int64())
    if dtype == "integer":  # nullable integers (cast to int64): NaN marks missing
        x = as_float(value)
        return pa.array(np.nan_to_num(x, nan=0.0).astype(np.int64), pa.int64(), mask=np.isnan(x))
    if dtype in ("tokens", "token_ids", "weights"):  # token lists (Arrow list arrays)
        return as_array(value)
    if dtype == "onehot":
        mat = np.ascontiguousarray(value, np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), mat.shape[1])
    return as_array(value)
