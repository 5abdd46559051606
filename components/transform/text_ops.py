"""Token-list ops (``tf.strings.split``, ``tft.ngrams``, ``tft.bag_of_words``,
``tft.word_count``, ``tft.tfidf``) and ``tft.scale_to_gaussian``.

TFT's sparse token tensors are list columns here (``list<string>`` tokens, ``list<int64>``
ids, ``list<float>`` weights): one list per row, a missing string giving a missing list.
``compute_and_apply_vocabulary`` / ``apply_vocabulary`` map a token list to an id list. A
list output is written to the transformed examples as an Arrow list column (kind
``sequence``: not a model input of the built-in models); ``word_count`` is a plain number.
List ops run in Arrow on every path (Beam, serving, and ahead of the torch module, which never
holds a list). Kernels: :mod:`gristmill.engine.transform_text`.
"""

from __future__ import annotations

from typing import Any

from gristmill.components.transform import analyzer_ops as an
from gristmill.components.transform.tracing import NUMERIC, Column, Deferred, _expect
from gristmill.metadata.errors import ConfigError


def _list_op(op: str, x: Column, params: dict[str, Any], dtype: str, label: str,
             allowed: tuple[str, ...]) -> Column:
    an.check_column(x, op)
    node = x.node.graph.add(op, [x.node], params, dtype, label)
    _expect(node, x, allowed, op)
    return Column(node)


def split(x: Column, sep: str | None = None, maxsplit: int = -1) -> Column:
    """``tf.strings.split``: a string column -> a token list per row.

    Args:
        x: A string column.
        sep: Delimiter; ``None`` splits on runs of ASCII whitespace and drops empty tokens
            (so ``''`` and ``'  '`` give ``[]``), as TF does.
        maxsplit: At most this many splits (``-1``: no limit).
    """
    if sep is not None and (not isinstance(sep, str) or not sep):
        raise ConfigError(f"split({getattr(x, 'name', x)}): sep must be a non-empty string or "
                          f"None, got {sep!r}.", fix="pass sep=' ' or leave it out")
    if not isinstance(maxsplit, int) or isinstance(maxsplit, bool):
        raise ConfigError(f"split: maxsplit must be an integer, got {maxsplit!r}.",
                          fix="pass maxsplit=-1 (no limit)")
    return _list_op("split", x, {"sep": sep, "maxsplit": maxsplit}, "tokens",
                    f"split({getattr(x, 'name', x)})", ("string",))


def _ngram_params(x: Column, ngram_range: Any, separator: Any, op: str) -> dict[str, Any]:
    try:
        lo, hi = (int(v) for v in ngram_range)
    except (TypeError, ValueError):
        lo = hi = 0
    if not 1 <= lo <= hi:
        raise ConfigError(f"{op}({getattr(x, 'name', x)}): invalid ngram_range "
                          f"{ngram_range!r}; expected (min, max) with 1 <= min <= max.",
                          fix="pass e.g. ngram_range=(1, 2)")
    if not isinstance(separator, str):
        raise ConfigError(f"{op}: separator must be a string, got {separator!r}.",
                          fix="pass separator=' '")
    return {"ngram_range": [lo, hi], "separator": separator}


def ngrams(tokens: Column, ngram_range: tuple[int, int], separator: str) -> Column:
    """Every n-gram of each row's tokens, ordered by start position then length (TFT's
    order), e.g. ``['a', 'a b', 'b']`` for ``['a', 'b']`` and ``ngram_range=(1, 2)``."""
    params = _ngram_params(tokens, ngram_range, separator, "ngrams")
    return _list_op("ngrams", tokens, params, "tokens", f"ngrams({tokens.name})", ("tokens",))


def bag_of_words(tokens: Column, ngram_range: tuple[int, int], separator: str) -> Column:
    """:func:`ngrams` with each row's duplicates removed (first occurrences, in order)."""
    params = _ngram_params(tokens, ngram_range, separator, "bag_of_words")
    return _list_op("bag_of_words", tokens, params, "tokens", f"bag_of_words({tokens.name})",
                    ("tokens",))


def word_count(tokens: Column) -> Column:
    """Number of tokens in each row (an int64 count; a missing row stays missing)."""
    return _list_op("word_count", tokens, {}, "integer", f"word_count({tokens.name})",
                    ("tokens", "token_ids"))


def tfidf(x: Column, vocab_size: int, smooth: bool = True) -> tuple[Column, Column]:
    """TFT's tf-idf of id lists (from ``compute_and_apply_vocabulary`` on tokens).

    Returns ``(ids, weights)``: each row's distinct ids ``mod vocab_size`` in ascending order,
    and their weights ``tf * idf`` where ``tf`` is the id's count in the row over the row's
    length and ``idf = 1 + log((N + 1) / (1 + df))`` (``1 + log(N / df)`` without
    ``smooth``), ``N`` the analysed rows and ``df`` the rows containing the id.

    Args:
        x: A token id list column.
        vocab_size: Number of ids (vocabulary size plus OOV buckets), a positive integer.
        smooth: Add one to document frequencies, as TFT's default.
    """
    an.check_column(x, "tfidf")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise ConfigError(f"tfidf({x.name}): vocab_size must be a positive integer, got "
                          f"{vocab_size!r}.", fix="pass the vocabulary size plus OOV "
                          "buckets, e.g. vocab_size=VOCAB_SIZE + OOV_SIZE")
    acc = x.node.graph.analyzer("document_frequency", [x], {"vocab_size": vocab_size},
                                f"document_frequency({x.name})")
    if x.dtype != "token_ids" and acc.error is None:
        acc.error = (f"tfidf expected a token id list input (compute_and_apply_vocabulary of "
                     f"split strings), got {x.dtype} ({x.name})")
    fp = acc.fingerprint
    idf = Deferred(lambda accs: accs[fp].idf(bool(smooth)), [acc], f"idf({x.name})")
    base = {"vocab_size": vocab_size, "smooth": bool(smooth)}
    ids = _list_op("tfidf", x, {**base, "part": "ids"}, "token_ids", f"tfidf_ids({x.name})",
                   ("token_ids",))
    weights = _list_op("tfidf", x, {**base, "part": "weights", "idf": idf}, "weights",
                       f"tfidf_weights({x.name})", ("token_ids",))
    return ids, weights


def scale_to_gaussian(x: Column) -> Column:
    """An (approximately) standard normal column: TFT's Tukey HH gaussianization.

    The Tukey HH parameters (``loc``, ``scale``, ``hl``, ``hr``) are estimated from the
    analysed data's L-moments; when the data has heavy tails (``hl > 0`` or ``hr > 0``) the
    inverse Tukey HH transform of ``(x - loc) / scale`` is returned, otherwise the z-score.
    Missing values stay missing.
    """
    an.check_column(x, "scale_to_gaussian")
    acc = x.node.graph.analyzer("l_moments", [x], {}, f"l_moments({x.name})")
    if x.dtype not in NUMERIC and acc.error is None:
        acc.error = f"scale_to_gaussian expected a numeric input, got {x.dtype} ({x.name})"
    fp = acc.fingerprint
    params: dict[str, Any] = {
        name: Deferred(lambda accs, n=name: accs[fp].tukey_parameters()[n], [acc],
                       f"{name}({x.name})") for name in ("loc", "scale", "hl", "hr")}
    params["std"] = an.std(x)
    node = x.node.graph.add("scale_to_gaussian", [x.node], params, "float",
                            f"scale_to_gaussian({x.name})")
    _expect(node, x, NUMERIC, "scale_to_gaussian")
    return Column(node)
