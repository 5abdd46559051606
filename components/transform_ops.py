"""Transform ops for a ``preprocessing_fn``: ``import gristmill.components.transform_ops as gt``.

Analyzers (full pass, return constants): :func:`count`, :func:`sum`, :func:`min`, :func:`max`,
:func:`mean`, :func:`var`, :func:`std`, :func:`quantiles`, :func:`bucket_boundaries`,
:func:`vocabulary`, :func:`histogram`.

Mappers (per row, return columns): :func:`scale_to_z_score`, :func:`scale_to_0_1`,
:func:`scale_by_min_max` (and ``*_per_key``), :func:`bucketize`, :func:`apply_buckets`,
:func:`compute_and_apply_vocabulary`, :func:`apply_vocabulary`, :func:`hash_strings`,
:func:`feature_cross` (``cross``), :func:`one_hot`, :func:`fill_missing`, :func:`clip`,
:func:`log1p`, :func:`log`, :func:`exp`, :func:`sqrt`, :func:`absolute`; plus ``+ - * /``
on columns. Return a raw column unchanged to pass it through (e.g. the label).

Example::

    import gristmill.components.transform_ops as gt

    def preprocessing_fn(inputs):
        return {
            "fare_z": gt.scale_to_z_score(gt.fill_missing(inputs["fare"], 0.0)),
            "payment": gt.compute_and_apply_vocabulary(inputs["payment_type"], top_k=10),
            "distance_bucket": gt.bucketize(inputs["trip_miles"], 10),
            "tips": inputs["tips"],
        }
"""

from gristmill.components.transform.analyzer_ops import (
    bucket_boundaries,
    count,
    histogram,
    max,
    mean,
    min,
    quantiles,
    std,
    sum,
    var,
    vocabulary,
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
from gristmill.components.transform.tracing import Column, Deferred

__all__ = [
    "Column", "Deferred", "absolute", "apply_buckets", "apply_vocabulary", "bucket_boundaries",
    "bucketize", "clip", "compute_and_apply_vocabulary", "count", "cross", "exp",
    "feature_cross", "fill_missing", "hash_strings", "histogram", "log", "log1p", "max", "mean",
    "min", "one_hot", "quantiles", "scale_by_min_max", "scale_by_min_max_per_key",
    "scale_to_0_1", "scale_to_0_1_per_key", "scale_to_z_score", "scale_to_z_score_per_key",
    "sqrt", "std", "sum", "var", "vocabulary",
]
