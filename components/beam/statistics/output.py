"""Turn final statistics accumulators into the pydantic models StatisticsGen writes."""

from __future__ import annotations

import math

import numpy as np

from gristmill.components.beam.statistics.combine import (
    ALL_SLICE,
    DatasetAccumulator,
    FeatureAccumulator,
    NumericAccumulator,
    StatsConfig,
    StringAccumulator,
)
from gristmill.components.framework.statistics_model import (
    Bucket,
    DatasetStatistics,
    FeatureStatistics,
    Histogram,
    NumericStatistics,
    SliceStatistics,
    StringStatistics,
    ValueCount,
)

QUANTILE_POINTS = 101  # quantiles at ranks 0.00, 0.01, ..., 1.00


def _standard_histogram(acc: NumericAccumulator, buckets: int) -> Histogram:
    """Equal-width buckets between min and max, counts from the sketch's CDF.

    The histogram is validated in one call from plain dicts (a model per bucket cost
    seconds on wide data)."""
    # min * (1 - t) + max * t: no overflow when max - min exceeds the float range
    t = np.arange(buckets + 1) / buckets
    edges = np.unique(np.clip(acc.min * (1 - t) + acc.max * t, acc.min, acc.max))
    if len(edges) < 2:  # constant (or too narrow a range to split)
        return Histogram(kind="standard", buckets=[Bucket(low=acc.min, high=acc.max,
                                                          count=float(acc.n))])
    buckets = len(edges) - 1
    cdf = acc.sketch.cdf(list(edges[1:-1]))  # fractions below each inner edge, then 1.0
    fractions = np.diff(np.concatenate([[0.0], cdf]))
    counts = np.round(fractions * acc.n)
    return Histogram.model_validate({"kind": "standard", "buckets": [
        {"low": low, "high": high, "count": count}
        for low, high, count in zip(edges[:-1].tolist(), edges[1:].tolist(), counts.tolist(),
                                    strict=True)]})


def _quantile_histogram(quantiles: list[float], n: int, buckets: int) -> Histogram:
    """Buckets holding equal shares of the values, edges at the quantiles."""
    step = (len(quantiles) - 1) // buckets
    edges = [quantiles[i * step] for i in range(buckets)] + [quantiles[-1]]
    return Histogram.model_validate({"kind": "quantiles", "buckets": [
        {"low": float(edges[i]), "high": float(edges[i + 1]), "count": n / buckets}
        for i in range(buckets)]})


def numeric_statistics(acc: NumericAccumulator, config: StatsConfig) -> NumericStatistics:
    """Final figures of a numeric feature."""
    stats = NumericStatistics(num_zeros=acc.zeros, num_nan=acc.nan, num_pos_inf=acc.pos_inf,
                              num_neg_inf=acc.neg_inf)
    if acc.n == 0 or acc.sketch is None or acc.sketch.n == 0:
        return stats
    ranks = [i / (QUANTILE_POINTS - 1) for i in range(QUANTILE_POINTS)]
    quantiles = acc.sketch.quantiles(ranks)
    quantiles[0], quantiles[-1] = acc.min, acc.max  # the exact extremes are known
    stats.mean = acc.true_mean
    stats.std_dev = acc.std_dev
    stats.min, stats.max = acc.min, acc.max
    stats.median = quantiles[(QUANTILE_POINTS - 1) // 2]
    stats.quantiles = quantiles
    buckets = config.num_quantiles_histogram_buckets
    if (QUANTILE_POINTS - 1) % buckets:
        buckets = 10
    stats.histograms = [_standard_histogram(acc, config.num_histogram_buckets),
                        _quantile_histogram(quantiles, acc.n, buckets)]
    if acc.w_sum > 0:
        stats.weighted_mean = acc.w_mean * acc.scale
        stats.weighted_std_dev = math.sqrt(acc.w_m2 / acc.w_sum) * acc.scale
    return stats


def string_statistics(acc: StringAccumulator, config: StatsConfig) -> StringStatistics:
    """Final figures of a string feature."""
    exact = acc.values.is_exact
    weighted = acc.weighted or {}

    def counted(items):
        return [ValueCount(value=str(v), count=float(c), weighted_count=weighted.get(v))
                for v, c in items]

    top = acc.values.top(config.num_top_values)
    return StringStatistics(
        unique=len(acc.values.exact) if exact else int(round(acc.distinct.estimate())),
        unique_is_exact=exact,
        avg_length=acc.total_length / acc.n if acc.n else None,
        top_values=counted(top),
        top_values_exact=exact,
        value_counts=counted(acc.values.top(len(acc.values.exact))) if exact else None)


def feature_statistics(name: str, acc: FeatureAccumulator, config: StatsConfig
                       ) -> FeatureStatistics:
    """Final figures of one column."""
    stats = FeatureStatistics(
        name=name, type=acc.logical_type, arrow_type=acc.arrow_type, num_present=acc.present,
        num_missing=acc.missing, is_list=acc.is_list, num_values=acc.num_values,
        min_num_values=acc.min_values, max_num_values=acc.max_values,
        avg_num_values=acc.num_values / acc.present if acc.present else None)
    if isinstance(acc.values, NumericAccumulator):
        stats.numeric = numeric_statistics(acc.values, config)
    elif isinstance(acc.values, StringAccumulator):
        stats.string = string_statistics(acc.values, config)
    return stats


def _features(acc: DatasetAccumulator, config: StatsConfig) -> list[FeatureStatistics]:
    return [feature_statistics(name, feature, config) for name, feature in acc.features.items()]


def dataset_statistics(split: str, accumulators: dict[str, DatasetAccumulator],
                       config: StatsConfig) -> DatasetStatistics:
    """The :class:`DatasetStatistics` of one split from ``{slice: accumulator}``."""
    whole = accumulators[ALL_SLICE]
    weighted = config.weight_feature is not None
    slices = [SliceStatistics(slice=name, num_examples=acc.num_examples,
                              weighted_num_examples=acc.weighted_num_examples if weighted
                              else None, features=_features(acc, config))
              for name, acc in accumulators.items() if name != ALL_SLICE]
    return DatasetStatistics(
        split=split, num_examples=whole.num_examples,
        weighted_num_examples=whole.weighted_num_examples if weighted else None,
        weight_feature=config.weight_feature, features=_features(whole, config),
        slices=slices, quantile_sample_rate=config.sample_rate)
