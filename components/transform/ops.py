"""Mappers: per-row transform ops, in the spirit of tf.Transform's ``tft.*`` mappers.

Use them through ``import gristmill.components.transform_ops as gt`` inside a
``preprocessing_fn(inputs)``. Each takes traced columns and returns a new column; those that
need a full pass (``scale_to_z_score``, ``bucketize``, ``compute_and_apply_vocabulary`` ...)
record their analyzers too. Missing-value rules are those of
:mod:`gristmill.engine.transform_kernels`: numeric ops keep missing values missing (use
:func:`fill_missing`), ``bucketize`` puts them in an extra last bucket and vocabulary
lookups in the first OOV bucket.
"""

from __future__ import annotations

import builtins
from typing import Any

from gristmill.components.transform import analyzer_ops as an
from gristmill.components.transform.tracing import NUMERIC, Column, Deferred, _expect
from gristmill.metadata.errors import ConfigError

CATEGORICAL = ("string", "int")


def _mapper(op: str, x: Column, params: dict[str, Any], dtype: str, label: str,
            allowed: tuple[str, ...], args: list[Column] | None = None) -> Column:
    an.check_column(x, label.split("(")[0])
    node = x.node.graph.add(op, [c.node for c in (args or [x])], params, dtype, label)
    for c in args or [x]:
        _expect(node, c, allowed, label.split("(")[0])
    return Column(node)


def _constant(value: Any, op: str, name: str) -> Any:
    if value is None or isinstance(value, Deferred):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ConfigError(f"{op}: {name} must be a number or an analyzer result, got "
                      f"{type(value).__name__} {value!r}.", fix=f"pass a number as {name}")


# ----------------------------------------------------------------------------- scaling

def scale_to_z_score(x: Column) -> Column:
    """``(x - mean(x)) / std(x)``; ``x - mean(x)`` when ``x`` is constant."""
    params = {"mean": an.mean(an.check_column(x, "scale_to_z_score")), "std": an.std(x)}
    return _mapper("scale_to_z_score", x, params, "float", f"scale_to_z_score({x.name})",
                   NUMERIC)


def scale_by_min_max(x: Column, output_min: float = 0.0, output_max: float = 1.0) -> Column:
    """Linearly map ``[min(x), max(x)]`` onto ``[output_min, output_max]``.

    Values outside the analysed range map outside the output range (no clipping); a
    constant ``x`` maps to the midpoint.
    """
    if not output_min < output_max:
        raise ConfigError(f"scale_by_min_max: output_min ({output_min}) must be below "
                          f"output_max ({output_max}).", fix="swap or widen the range")
    an.check_column(x, "scale_by_min_max")
    params = {"min": an.min(x), "max": an.max(x), "output_min": float(output_min),
              "output_max": float(output_max)}
    return _mapper("scale_by_min_max", x, params, "float", f"scale_by_min_max({x.name})",
                   NUMERIC)


def scale_to_0_1(x: Column) -> Column:
    """``scale_by_min_max(x, 0, 1)``."""
    return scale_by_min_max(x, 0.0, 1.0)


def _key_ids(key: Column, acc: an.Analyzer) -> Column:
    fp = acc.fingerprint
    keys = an.VocabularyHandle(lambda accs: accs[fp].sorted_keys(), [acc], f"keys({key.name})",
                               an.unique_vocab_name(key, None, f"keys_{key.name}"))
    return _mapper("vocabulary", key, {"vocabulary": keys, "num_oov_buckets": 1,
                                       "default_value": -1}, "int",
                   f"key_ids({key.name})", CATEGORICAL)


def _per_key(x: Column, key: Column, op: str, fields: dict[str, str],
             extra: dict[str, Any]) -> Column:
    acc = an.moments_per_key(an.check_column(x, op), key, op)
    fp = acc.fingerprint

    def stats(attr: str):
        def value(accs: dict[str, Any]) -> list[float]:
            a = accs[fp]
            accs_in_order = [a.per_key[k] for k in a.sorted_keys()] + [a.overall]
            return [float(builtins.max(m.var, 0.0) ** 0.5 if attr == "std" else
                          getattr(m, attr)) for m in accs_in_order]
        return value

    params = {name: Deferred(stats(attr), [acc], f"{attr}_per_key({x.name}, {key.name})")
              for name, attr in fields.items()}
    ids = _key_ids(key, acc)
    node = x.node.graph.add(op, [x.node, ids.node], {**params, **extra}, "float",
                            f"{op}({x.name}, {key.name})")
    _expect(node, x, NUMERIC, op)
    return Column(node)


def scale_to_z_score_per_key(x: Column, key: Column) -> Column:
    """z-score of ``x`` with the mean and std of the row's ``key``; unseen or missing keys
    use the overall mean and std."""
    return _per_key(x, key, "z_score_per_key", {"means": "mean", "stds": "std"}, {})


def scale_by_min_max_per_key(x: Column, key: Column, output_min: float = 0.0,
                             output_max: float = 1.0) -> Column:
    """``scale_by_min_max`` with the min and max of the row's ``key`` (unseen keys: overall)."""
    return _per_key(x, key, "min_max_per_key", {"mins": "min", "maxs": "max"},
                    {"output_min": float(output_min), "output_max": float(output_max)})


def scale_to_0_1_per_key(x: Column, key: Column) -> Column:
    """``scale_by_min_max_per_key(x, key, 0, 1)``."""
    return scale_by_min_max_per_key(x, key, 0.0, 1.0)


# ----------------------------------------------------------------------------- buckets

def bucketize(x: Column, num_buckets: int, k: int = an.DEFAULT_SKETCH_K) -> Column:
    """Quantile bucket id in ``[0, num_buckets)``; missing values get id ``num_buckets``.

    Fewer buckets result when ``x`` has fewer distinct quantiles; the output feature's
    ``vocab_size`` is always exact.
    """
    an.check_column(x, "bucketize")
    boundaries = an.bucket_boundaries(x, num_buckets, k)
    return _mapper("bucketize", x, {"boundaries": boundaries}, "int",
                   f"bucketize({x.name}, {num_buckets})", NUMERIC)


def apply_buckets(x: Column, boundaries: list[float] | Deferred) -> Column:
    """Bucket id ``i`` with ``boundaries[i-1] <= x < boundaries[i]`` (missing: last + 1)."""
    if not isinstance(boundaries, Deferred):
        boundaries = sorted(float(b) for b in boundaries)
    return _mapper("bucketize", an.check_column(x, "apply_buckets"),
                   {"boundaries": boundaries}, "int", f"apply_buckets({x.name})", NUMERIC)


# ----------------------------------------------------------------------------- categorical

def compute_and_apply_vocabulary(x: Column, top_k: int | None = None,
                                 frequency_threshold: int = 0, num_oov_buckets: int = 1,
                                 default_value: int = -1,
                                 vocab_filename: str | None = None) -> Column:
    """Vocabulary id of each value (most frequent = 0); see :func:`apply_vocabulary`."""
    vocab = an.vocabulary(an.check_column(x, "compute_and_apply_vocabulary"), top_k,
                          frequency_threshold, vocab_filename)
    return apply_vocabulary(x, vocab, num_oov_buckets, default_value)


def apply_vocabulary(x: Column, vocabulary: Any, num_oov_buckets: int = 1,
                     default_value: int = -1) -> Column:
    """Look values up in ``vocabulary`` (from :func:`vocabulary`, or a list of strings).

    Unknown values go to ``vocab_size + hash % num_oov_buckets``, missing values to OOV bucket
    ``vocab_size``; with ``num_oov_buckets=0`` both get ``default_value``. A token list
    (from :func:`split`, :func:`ngrams` ...) gives a list of ids, one per token.
    """
    an.check_column(x, "apply_vocabulary")
    if not isinstance(num_oov_buckets, int) or num_oov_buckets < 0:
        raise ConfigError(f"apply_vocabulary: num_oov_buckets must be an integer >= 0, got "
                          f"{num_oov_buckets!r}.", fix="pass num_oov_buckets=1")
    if not isinstance(vocabulary, an.VocabularyHandle):
        tokens = [str(t) for t in vocabulary]
        vocabulary = an.VocabularyHandle(lambda accs: tokens, [], f"vocabulary({x.name})",
                                         an.unique_vocab_name(x, None))
    params = {"vocabulary": vocabulary, "num_oov_buckets": num_oov_buckets,
              "default_value": int(default_value)}
    # A token list (tft's sparse tokens) maps token by token to an id list.
    dtype = "token_ids" if x.dtype == "tokens" else "int"
    return _mapper("vocabulary", x, params, dtype, f"apply_vocabulary({x.name})",
                   (*CATEGORICAL, "tokens"))


def hash_strings(x: Column, hash_buckets: int) -> Column:
    """Stable hash bucket in ``[0, hash_buckets)`` (BLAKE2b, never Python's ``hash``)."""
    _buckets(hash_buckets, "hash_strings")
    return _mapper("hash_strings", an.check_column(x, "hash_strings"),
                   {"hash_buckets": hash_buckets}, "int", f"hash_strings({x.name})",
                   CATEGORICAL)


def feature_cross(columns: list[Column], hash_buckets: int) -> Column:
    """Hash bucket of the combination of several string/int columns' values."""
    _buckets(hash_buckets, "feature_cross")
    cols = [an.check_column(c, "feature_cross") for c in columns]
    if len(cols) < 2:
        raise ConfigError(f"feature_cross: expected at least 2 columns, got {len(cols)}.",
                          fix="pass a list of two or more columns")
    return _mapper("cross", cols[0], {"hash_buckets": hash_buckets}, "int",
                   f"feature_cross({', '.join(c.name for c in cols)})", CATEGORICAL, cols)


cross = feature_cross


def one_hot(x: Column, depth: int | None = None) -> Column:
    """``[depth]`` float vector with a 1 at the id; missing or out-of-range ids -> zeros.

    ``depth`` defaults to the vocabulary size of a categorical ``x``.
    """
    an.check_column(x, "one_hot")
    if depth is None:
        if x.node.op not in ("vocabulary", "bucketize", "hash_strings", "cross"):
            raise ConfigError(f"one_hot({x.name}): depth is required unless the input is a "
                              "vocabulary, bucket or hash id.", fix="pass depth=<number of ids>")
        depth_value: Any = SizeOf(x.node)
    else:
        _buckets(depth, "one_hot")
        depth_value = depth
    return _mapper("one_hot", x, {"depth": depth_value}, "onehot", f"one_hot({x.name})",
                   ("int",))


class SizeOf:
    """The id count of a categorical node, known once its analyzers are resolved."""

    def __init__(self, node: Any):
        self.node = node
        self.label = f"vocab_size({node.label})"
        self.analyzers: list = []


# ----------------------------------------------------------------------------- elementwise

def fill_missing(x: Column, value: Any = None) -> Column:
    """Replace missing values (null, and NaN for floats) by ``value``.

    ``value`` defaults to TFX's ``_fill_in_missing`` defaults: ``''`` for strings, ``0``
    for numbers.
    """
    an.check_column(x, "fill_missing")
    if value is None:
        value = "" if x.dtype == "string" else 0.0
    if x.dtype == "string":
        return _mapper("fill_missing", x, {"value": str(value)}, "string",
                       f"fill_missing({x.name})", ("string",))
    return _mapper("fill_missing", x, {"value": _constant(value, "fill_missing", "value")},
                   "float", f"fill_missing({x.name})", NUMERIC)


def clip(x: Column, min_value: Any = None, max_value: Any = None) -> Column:
    """Clamp ``x`` into ``[min_value, max_value]`` (numbers or analyzer results)."""
    params = {"min": _constant(min_value, "clip", "min_value"),
              "max": _constant(max_value, "clip", "max_value")}
    return _mapper("clip", an.check_column(x, "clip"), params, "float", f"clip({x.name})",
                   NUMERIC)


def _unary(fn: str, x: Column) -> Column:
    return _mapper("unary", an.check_column(x, fn), {"fn": fn}, "float", f"{fn}({x.name})",
                   NUMERIC)


def log1p(x: Column) -> Column:
    """``log(1 + x)``; values below -1 become missing."""
    return _unary("log1p", x)


def log(x: Column) -> Column:
    """Natural log; negative values become missing, 0 becomes -inf."""
    return _unary("log", x)


def exp(x: Column) -> Column:
    """``e ** x``."""
    return _unary("exp", x)


def sqrt(x: Column) -> Column:
    """Square root; negative values become missing."""
    return _unary("sqrt", x)


def absolute(x: Column) -> Column:
    """``|x|``."""
    return _unary("abs", x)


def _buckets(value: Any, op: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{op}: expected a positive integer bucket count, got {value!r}.",
                          fix="pass e.g. hash_buckets=100")


def get_num_buckets_for_transformed_feature(x: Column) -> Deferred:
    """Number of ids a vocabulary, bucket or hash column can take (OOV and missing ids
    included), known after analysis: the ``vocab_size`` of its output feature."""
    an.check_column(x, "get_num_buckets_for_transformed_feature")
    node, p = x.node, x.node.params
    if node.op == "vocabulary":
        vocab, oov = p["vocabulary"], int(p["num_oov_buckets"])
        return Deferred(lambda accs: len(vocab.resolve(accs)) + oov, vocab.analyzers,
                        f"num_buckets({x.name})")
    if node.op == "bucketize":
        bounds = p["boundaries"]
        if isinstance(bounds, Deferred):
            return Deferred(lambda accs: len(bounds.resolve(accs)) + 2, bounds.analyzers,
                            f"num_buckets({x.name})")
        return Deferred(lambda accs: len(bounds) + 2, [], f"num_buckets({x.name})")
    if node.op in ("hash_strings", "cross"):
        return Deferred(lambda accs: int(p["hash_buckets"]), [], f"num_buckets({x.name})")
    raise ConfigError(f"get_num_buckets_for_transformed_feature({x.name}): expected a "
                      "vocabulary, bucketize or hash column.",
                      fix="pass the output of compute_and_apply_vocabulary, bucketize or "
                          "hash_strings")
