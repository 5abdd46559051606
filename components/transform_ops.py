"""Transform ops for a ``preprocessing_fn``: ``import gristmill.components.transform_ops as gt``
(TFX users may write ``as tft``: the names below are ``tensorflow_transform``'s where it has
them, and the element-wise ``tf.*`` ops a ``preprocessing_fn`` uses have a name here too).

Analyzers (full pass, return constants): :func:`count` (``size``), :func:`sum`, :func:`min`,
:func:`max`, :func:`mean`, :func:`var`, :func:`std`, :func:`quantiles`,
:func:`bucket_boundaries`, :func:`vocabulary`, :func:`histogram`, :func:`count_per_key`.

Mappers (per row, return columns): :func:`scale_to_z_score`, :func:`scale_to_0_1`,
:func:`scale_by_min_max` (and ``*_per_key``), :func:`scale_to_gaussian`, :func:`bucketize`,
:func:`apply_buckets`, :func:`compute_and_apply_vocabulary`, :func:`apply_vocabulary`,
:func:`hash_strings`,
:func:`feature_cross` (``cross``), :func:`one_hot`, :func:`fill_missing`, :func:`clip`,
:func:`log1p`, :func:`log`, :func:`exp`, :func:`sqrt`, :func:`absolute`; plus ``+ - * / **``
on columns.

Element-wise (``tf.*``): comparisons (also ``< <= > >= == !=`` on columns), ``&``, ``|``,
``~`` (:func:`logical_and` ...), :func:`where`, :func:`cast`, :func:`is_missing`
(``is_nan``), :func:`zeros_like`, :func:`ones_like`, :func:`pow`, :func:`round`,
:func:`floor`, :func:`ceil`, strings (:func:`lower`, :func:`upper`, :func:`strip`,
:func:`regex_replace`, :func:`substr`, :func:`length`) and :func:`date_part` of timestamps.

Token lists (TFT's sparse tokens, as list columns): :func:`split` (``tf.strings.split``),
:func:`ngrams`, :func:`bag_of_words`, :func:`word_count`, :func:`tfidf`, and
:func:`compute_and_apply_vocabulary` of a token list (an id list).
Return a raw column unchanged to pass it through (e.g. the label). The full tft / tf name
table is in docs/tfx_migration.md; a tft name Gristmill lacks raises an error saying what to
write instead.

Example::

    import gristmill.components.transform_ops as gt

    def preprocessing_fn(inputs):
        fare, tips = gt.fill_missing(inputs["fare"]), gt.fill_missing(inputs["tips"])
        return {
            "fare_z": gt.scale_to_z_score(fare),
            "payment": gt.compute_and_apply_vocabulary(inputs["payment_type"], top_k=10),
            "distance_bucket": gt.bucketize(inputs["trip_miles"], 10),
            "big_tipper": gt.cast(tips > fare * 0.2, "int64"),
        }
"""

from gristmill.components.transform.analyzer_ops import (
    bucket_boundaries,
    count,
    count_per_key,
    histogram,
    max,
    mean,
    min,
    quantiles,
    size,
    std,
    sum,
    var,
    vocabulary,
)
from gristmill.components.transform.elementwise import (
    add,
    cast,
    ceil,
    compare,
    constant_like,
    divide,
    equal,
    floor,
    greater,
    greater_equal,
    is_missing,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    multiply,
    not_equal,
    ones_like,
    pow,
    round,
    subtract,
    where,
    zeros_like,
)
from gristmill.components.transform.ops import (
    absolute,
    apply_buckets,
    apply_vocabulary,
    bucketize,
    clip,
    compute_and_apply_vocabulary,
    cross,
    exp,
    feature_cross,
    fill_missing,
    get_num_buckets_for_transformed_feature,
    hash_strings,
    log,
    log1p,
    one_hot,
    scale_by_min_max,
    scale_by_min_max_per_key,
    scale_to_0_1,
    scale_to_0_1_per_key,
    scale_to_z_score,
    scale_to_z_score_per_key,
    sqrt,
)
from gristmill.components.transform.string_ops import (
    date_part,
    length,
    lower,
    regex_replace,
    strip,
    substr,
    upper,
)
from gristmill.components.transform.text_ops import (
    bag_of_words,
    ngrams,
    scale_to_gaussian,
    split,
    tfidf,
    word_count,
)
from gristmill.components.transform.tfx_names import refused_name
from gristmill.components.transform.tracing import Column, Deferred

is_nan = is_missing
clip_by_value = clip
abs = absolute  # noqa: A001 - tf.abs's name

__all__ = [
    "Column", "Deferred", "abs", "absolute", "add", "apply_buckets", "apply_vocabulary",
    "bag_of_words", "bucket_boundaries", "bucketize", "cast", "ceil", "clip", "clip_by_value",
    "compare",
    "compute_and_apply_vocabulary", "constant_like", "count", "count_per_key", "cross",
    "date_part", "divide", "equal", "exp", "feature_cross", "fill_missing", "floor",
    "get_num_buckets_for_transformed_feature", "greater", "greater_equal", "hash_strings",
    "histogram", "is_missing", "is_nan", "length", "less", "less_equal", "log", "log1p",
    "logical_and", "logical_not", "logical_or", "lower", "max", "mean", "min", "multiply",
    "ngrams", "not_equal", "one_hot", "ones_like", "pow", "quantiles", "regex_replace", "round",
    "scale_by_min_max", "scale_by_min_max_per_key", "scale_to_0_1", "scale_to_0_1_per_key",
    "scale_to_gaussian", "scale_to_z_score", "scale_to_z_score_per_key", "size", "split",
    "sqrt", "std", "strip", "substr", "subtract", "sum", "tfidf", "upper", "var", "vocabulary",
    "where", "word_count", "zeros_like",
]


def __getattr__(name: str):
    raise refused_name(name, __all__)
