"""Kernels of the token-list ops (``tf.strings.split``, ``tft.ngrams``, ``tft.bag_of_words``,
``tft.word_count``, ``tft.tfidf``) and of ``tft.scale_to_gaussian``.

TFT's sparse/ragged tensors are Arrow list columns here: ``list<string>`` tokens,
``list<int64>`` ids and ``list<float>`` weights, one list per row. A missing string splits to a
missing (null) list, and every list op keeps a null row null; an empty string splits to an
empty list (no whitespace tokens), as in TF. List ops run in Arrow/NumPy on every path: the
torch module never carries a list (it takes ``word_count`` and the other scalar outputs of
these ops as inputs), see :mod:`.transform_torch`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.engine import transform_kernels as k

Value = Any
#: Plan dtypes whose values are Arrow list arrays.
LIST_DTYPES = frozenset({"tokens", "token_ids", "weights"})


def as_list(value: Value) -> pa.ListArray:
    """A contiguous Arrow list array (large lists and chunked columns normalised)."""
    arr = k.as_array(value)
    if pa.types.is_large_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_type))
    return arr


def _rebuild(values: pa.Array, parents: np.ndarray, rows: int, validity: pa.Array
             ) -> pa.ListArray:
    """A list array of ``rows`` rows holding ``values`` (grouped by ``parents``, in order)."""
    counts = np.bincount(parents, minlength=rows) if len(parents) else np.zeros(rows, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    mask = pc.invert(validity) if validity is not None else None
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, mask=mask)


def _parts(lists: pa.ListArray) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """Flat values, the row of each value, and the row validity of a list array."""
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    return flat, parents, pc.is_valid(lists)


def split(args: list[Value], p: dict) -> pa.ListArray:
    """``tf.strings.split``: on ``sep``, or on runs of ASCII whitespace without empty tokens."""
    x = k.as_string(args[0])
    max_splits = None if p.get("maxsplit", -1) < 0 else int(p["maxsplit"])
    if p.get("sep") is not None:
        return pc.split_pattern(x, pattern=p["sep"], max_splits=max_splits)
    lists = pc.ascii_split_whitespace(pc.ascii_trim_whitespace(x), max_splits=max_splits)
    flat, parents, valid = _parts(lists)
    keep = pc.not_equal(flat, "")  # only an empty (or all-blank) string gives one: [] in TF
    return _rebuild(flat.filter(keep), parents[keep.to_numpy(zero_copy_only=False)],
                    len(x), valid)


def ngrams(args: list[Value], p: dict) -> pa.ListArray:
    """Every n-gram of each row, by start position then length (TFT's order)."""
    lists = as_list(args[0])
    flat, parents, valid = _parts(lists)
    flat = k.as_string(flat)
    lo, hi, sep = int(p["ngram_range"][0]), int(p["ngram_range"][1]), p["separator"]
    n = len(flat)
    if n == 0:
        return _rebuild(pa.array([], pa.string()), parents, len(lists), valid)
    ends = np.repeat(_row_ends(lists), _row_lengths(lists))  # exclusive end of each token's row
    starts = np.arange(n)
    widths = list(range(lo, hi + 1))
    grams, ok = [], []
    for w in widths:
        fits = starts + w <= ends
        count = max(n - w + 1, 0)
        joined = pc.binary_join_element_wise(*[flat.slice(j, count) for j in range(w)], sep) \
            if w > 1 else flat
        grams.append(pa.concat_arrays([joined, pa.nulls(n - len(joined), pa.string())]))
        ok.append(fits)
    valid_grid = np.stack(ok, axis=1)  # [start, width]
    order = (np.arange(len(widths))[None, :] * n + starts[:, None])[valid_grid]
    values = pa.concat_arrays(grams).take(pa.array(order))
    rows = np.repeat(parents, valid_grid.sum(axis=1))
    return _rebuild(values, rows, len(lists), valid)


def _row_lengths(lists: pa.ListArray) -> np.ndarray:
    return pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)


def _row_ends(lists: pa.ListArray) -> np.ndarray:
    return np.cumsum(_row_lengths(lists))


def bag_of_words(args: list[Value], p: dict) -> pa.ListArray:
    """``ngrams`` with each row's duplicates removed, first occurrences kept in order."""
    grams = ngrams(args, p)
    flat, parents, valid = _parts(grams)
    if len(flat) == 0:
        return grams
    codes = pc.dictionary_encode(flat).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    key = parents * (int(codes.max()) + 1) + codes
    _, first = np.unique(key, return_index=True)
    first.sort()
    return _rebuild(flat.take(pa.array(first)), parents[first], len(grams), valid)


def word_count(args: list[Value], p: dict) -> np.ndarray:
    """Tokens per row (a float64 count; a missing row is NaN, i.e. missing)."""
    return k.as_float(pc.list_value_length(as_list(args[0])))


def tfidf(args: list[Value], p: dict) -> pa.ListArray:
    """TFT's tf-idf of id lists: the distinct ids of each row (ascending), or their weights.

    ``tf = count in row / row length``; ``idf`` comes from the analysed data (see
    ``components.transform.text_ops.tfidf``); the weight is ``float32(tf) * float32(idf)``.
    """
    lists = as_list(args[0])
    flat, parents, valid = _parts(lists)
    size = int(p["vocab_size"])
    ids = np.mod(flat.to_numpy(zero_copy_only=False).astype(np.int64), size)
    keys, counts = np.unique(parents * size + ids, return_counts=True)
    rows, term = keys // size, keys % size
    if p["part"] == "ids":
        return _rebuild(pa.array(term, pa.int64()), rows, len(lists), valid)
    lengths = _row_lengths(lists).astype(np.float64)
    tf = counts / lengths[rows] if len(rows) else np.zeros(0)
    idf = np.asarray(p["idf"], np.float64)[term]
    weights = tf.astype(np.float32) * idf.astype(np.float32)
    return _rebuild(pa.array(weights, pa.float32()), rows, len(lists), valid)


def lambert_w(x: np.ndarray) -> np.ndarray:
    """Principal branch of Lambert's W for ``x >= 0``: 8 Newton steps, TFT's start values."""
    e, inv_e = np.exp(1.0), np.exp(-1.0)
    slope = (e - 1.0) / (np.exp(2.0) - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_x = np.log(x)
        w = np.where(x < inv_e, x, np.where(x < e, slope * x + inv_e * (1.0 - slope),
                                            log_x + (1.0 / log_x - 1.0) * np.log(log_x)))
        for _ in range(8):
            exp_w = np.exp(w)
            w = w - (w * exp_w - x) / (exp_w + w * exp_w)
    return w


def inverse_tukey_hh(x: np.ndarray, hl: float, hr: float) -> np.ndarray:
    """``u`` from ``x = u * exp(h * u**2 / 2)`` with ``h = hl`` for ``x < 0``, else ``hr``."""
    def one_side(v: np.ndarray, h: float) -> np.ndarray:
        hv2 = h * v * v
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(hv2 < 1e-7, v, np.sqrt(lambert_w(hv2) / h) if h > 0 else v)

    return np.where(x < 0, -one_side(-x, hl), one_side(x, hr))


def scale_to_gaussian(args: list[Value], p: dict) -> np.ndarray:
    """``inverse_tukey_hh((x - loc) / scale)`` for heavy tails, else the z-score."""
    x = k.as_float(args[0])
    long_tailed = p["hl"] > 0 or p["hr"] > 0
    numerator = x - p["loc"]
    denominator = p["scale"] if long_tailed else p["std"]
    scaled = numerator / denominator if denominator != 0 else numerator
    return inverse_tukey_hh(scaled, p["hl"], p["hr"]) if long_tailed else scaled


NUMERIC_KERNELS = {"scale_to_gaussian": scale_to_gaussian}
LIST_KERNELS = {"split": split, "ngrams": ngrams, "bag_of_words": bag_of_words,
                "word_count": word_count, "tfidf": tfidf}
