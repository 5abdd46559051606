"""Analyzers: full-pass reductions whose results are constants in the fitted plan.

Each function records an analyzer in the traced graph and returns a :class:`Deferred` (a
number, a list, a dict or a vocabulary), which mappers and arithmetic accept wherever a
constant is expected: ``(x - gt.mean(x)) / gt.std(x)``. Analyzers that share an input share
one accumulator, and all of a pass's accumulators are computed in one Beam combine.
"""

from __future__ import annotations

import builtins
import math
import re
from typing import Any

from gristmill.components.transform.tracing import (
    NUMERIC,
    TYPE_NAMES,
    Analyzer,
    Column,
    Deferred,
)
from gristmill.metadata.errors import ConfigError

DEFAULT_SKETCH_K = 400


def check_column(x: Any, op: str) -> Column:
    """``x`` itself when it is a traced column, else a ConfigError naming ``op``."""
    if not isinstance(x, Column):
        raise ConfigError(f"{op}: expected a column (from inputs[...] or another transform op), "
                          f"got {type(x).__name__} {x!r}.", fix=f"pass a column to {op}")
    return x


def _analyzer(kind: str, x: Column, op: str, allowed: tuple[str, ...],
              params: dict[str, Any] | None = None, extra: list[Column] | None = None) -> Analyzer:
    check_column(x, op)
    cols = [x, *(extra or [])]
    label = f"{kind}({', '.join(c.name for c in cols)})"
    an = x.node.graph.analyzer(kind, cols, params or {}, label)
    if x.dtype not in allowed and an.error is None:
        want = " or ".join(TYPE_NAMES[t] for t in allowed if t != "integer")
        an.error = f"{op} expected a {want} input, got {TYPE_NAMES[x.dtype]} ({x.name})"
    return an


def _moment(x: Column, op: str, attr: str) -> Deferred:
    an = _analyzer("moments", x, op, NUMERIC)
    fp = an.fingerprint

    def value(accs: dict[str, Any]) -> float:
        acc = accs[fp]
        if attr == "std":
            return math.sqrt(acc.var)
        if attr in ("min", "max", "mean") and acc.n == 0:
            return math.nan
        return float(getattr(acc, attr))

    return Deferred(value, [an], f"{op}({x.name})")


def count(x: Column) -> Deferred:
    """Number of present (non-missing) values of ``x`` over the analysed data."""
    if check_column(x, "count").dtype == "string":
        an = _analyzer("counts", x, "count", ("string",))
        fp = an.fingerprint
        return Deferred(lambda accs: builtins.sum(accs[fp].counts.values()), [an],
                        f"count({x.name})")
    return _moment(x, "count", "n")


def size(x: Column) -> Deferred:
    """``tft.size``: number of present values of ``x`` (the same as :func:`count`)."""
    return count(x)


def count_per_key(key: Column) -> Deferred:
    """``tft.count_per_key``: ``(keys, counts)`` of a string/int column, most frequent first
    (ties: ascending key); missing keys are not counted."""
    an = _analyzer("counts", key, "count_per_key", ("string", "int"))
    fp = an.fingerprint

    def keys_and_counts(accs: dict[str, Any]) -> tuple[list[str], list[int]]:
        keys = accs[fp].top()
        return keys, [int(accs[fp].counts[k]) for k in keys]

    return Deferred(keys_and_counts, [an], f"count_per_key({key.name})")


def sum(x: Column) -> Deferred:  # noqa: A001 - tf.Transform's name
    """Sum of the present values of ``x``."""
    return _moment(x, "sum", "sum")


def min(x: Column) -> Deferred:  # noqa: A001
    """Smallest present value of ``x`` (NaN when there is none)."""
    return _moment(x, "min", "min")


def max(x: Column) -> Deferred:  # noqa: A001
    """Largest present value of ``x`` (NaN when there is none)."""
    return _moment(x, "max", "max")


def mean(x: Column) -> Deferred:
    """Mean of the present values of ``x``."""
    return _moment(x, "mean", "mean")


def var(x: Column) -> Deferred:
    """Population variance of the present values of ``x``."""
    return _moment(x, "var", "var")


def std(x: Column) -> Deferred:
    """Population standard deviation of the present values of ``x``."""
    return _moment(x, "std", "std")


def quantiles(x: Column, num_buckets: int, k: int = DEFAULT_SKETCH_K) -> Deferred:
    """The ``num_buckets - 1`` values splitting ``x`` into equally populated buckets.

    Computed with a mergeable KLL sketch of size ``k`` (rank error about ``1.65 / k``).
    """
    _check_int(num_buckets, "quantiles", "num_buckets", 1)
    an = _analyzer("quantiles", x, "quantiles", NUMERIC, {"k": int(k)})
    fp = an.fingerprint
    ranks = [i / num_buckets for i in range(1, num_buckets)]
    return Deferred(lambda accs: accs[fp].quantiles(ranks), [an],
                    f"quantiles({x.name}, {num_buckets})")


def bucket_boundaries(x: Column, num_buckets: int, k: int = DEFAULT_SKETCH_K) -> Deferred:
    """Sorted, de-duplicated quantile boundaries for ``bucketize`` (may be fewer when ``x`` has
    few distinct values)."""
    q = quantiles(x, num_buckets, k)
    return Deferred(lambda accs: sorted(set(q.resolve(accs))), q.analyzers,
                    f"bucket_boundaries({x.name}, {num_buckets})")


def histogram(x: Column, boundaries: list[float] | None = None, num_buckets: int = 10,
              k: int = DEFAULT_SKETCH_K) -> Deferred:
    """Counts of ``x`` per bucket: ``{"boundaries": [...], "counts": [...]}``.

    With ``boundaries`` the counts are exact; without, ``num_buckets`` equal-width buckets
    between min and max are estimated from a KLL sketch. For strings: ``{"values": [...],
    "counts": [...]}``, most frequent first.
    """
    if check_column(x, "histogram").dtype == "string":
        an = _analyzer("counts", x, "histogram", ("string",))
        fp = an.fingerprint

        def categories(accs: dict[str, Any]) -> dict[str, list]:
            values = accs[fp].top()
            return {"values": values, "counts": [accs[fp].counts[v] for v in values]}
        return Deferred(categories, [an], f"histogram({x.name})")
    if boundaries is not None:
        b = sorted(float(v) for v in boundaries)
        an = _analyzer("histogram", x, "histogram", NUMERIC, {"boundaries": b})
        fp = an.fingerprint
        return Deferred(lambda accs: {"boundaries": b, "counts": accs[fp].counts.tolist()},
                        [an], f"histogram({x.name})")
    an = _analyzer("quantiles", x, "histogram", NUMERIC, {"k": int(k)})
    fp = an.fingerprint
    return Deferred(lambda accs: _sketch_histogram(accs[fp], num_buckets), [an],
                    f"histogram({x.name}, {num_buckets})")


def _sketch_histogram(acc: Any, num_buckets: int) -> dict[str, list]:
    sk = acc.sketch
    if sk.is_empty():
        return {"boundaries": [], "counts": []}
    lo, hi = sk.get_min_value(), sk.get_max_value()
    edges = [lo + (hi - lo) * i / num_buckets for i in range(1, num_buckets)]
    pmf = sk.get_pmf(sorted(set(edges))) if hi > lo else [1.0]
    return {"boundaries": edges if hi > lo else [],
            "counts": [round(p * sk.n) for p in pmf]}


class VocabularyHandle(Deferred):
    """A vocabulary: resolves to its tokens, written to ``vocabularies/<name>.txt``."""

    def __init__(self, extract, analyzers: list[Analyzer], label: str, name: str):
        super().__init__(extract, analyzers, label)
        self.name = name


def vocabulary(x: Column, top_k: int | None = None, frequency_threshold: int = 0,
               vocab_filename: str | None = None) -> VocabularyHandle:
    """Distinct values of ``x`` by descending frequency (ties: ascending value).

    Args:
        x: A string or integer column, or a token list (every token is counted).
        top_k: Keep only the ``top_k`` most frequent values.
        frequency_threshold: Drop values seen fewer times.
        vocab_filename: Name of the vocabulary file (default: derived from ``x``).

    Values containing a newline cannot be stored one per line; they are left out (and so map
    to OOV) and counted in the plan's analyzer summary as ``unwritable``.
    """
    if top_k is not None:
        _check_int(top_k, "vocabulary", "top_k", 1)
    _check_int(frequency_threshold, "vocabulary", "frequency_threshold", 0)
    an = _analyzer("counts", x, "vocabulary", ("string", "int", "tokens"))
    fp = an.fingerprint

    def tokens(accs: dict[str, Any]) -> list[str]:
        return [t for t in accs[fp].top(None, frequency_threshold)
                if "\n" not in t and "\r" not in t][:top_k]

    name = unique_vocab_name(x, vocab_filename)
    return VocabularyHandle(tokens, [an], f"vocabulary({x.name})", name)


def unique_vocab_name(x: Column, wanted: str | None, default: str | None = None) -> str:
    """A file-safe vocabulary name, unique within the traced function.

    Args:
        x: The column the vocabulary is of.
        wanted: The user's ``vocab_filename`` (must be unique), or ``None``.
        default: Base name when ``wanted`` is ``None`` (default: ``x``'s expression).
    """
    graph = x.node.graph
    taken = graph.__dict__.setdefault("vocab_names", set())
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", wanted or default or x.name).strip("_.") or "vocab"
    if wanted and base in taken:
        raise ConfigError(f"vocabulary: vocab_filename {wanted!r} is used twice.",
                          fix="give each vocabulary its own vocab_filename")
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def moments_per_key(x: Column, key: Column, op: str) -> Analyzer:
    """The per-key moments analyzer shared by the ``*_per_key`` mappers."""
    check_column(key, op)
    an = _analyzer("moments_per_key", x, op, NUMERIC, extra=[key])
    if key.dtype not in ("string", "int") and an.error is None:
        an.error = f"{op} expected a string or int key, got {TYPE_NAMES[key.dtype]} ({key.name})"
    return an


def _check_int(value: Any, op: str, name: str, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{op}: {name} must be an integer >= {minimum}, got {value!r}.",
                          fix=f"pass {name}={builtins.max(minimum, 2)}")
