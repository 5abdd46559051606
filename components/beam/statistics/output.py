"""Turn final statistics accumulators into the pydantic models StatisticsGen writes.

Every column's figures are gathered as plain dicts and validated once, as one
:class:`DatasetStatistics` (a model per bucket, value and feature cost seconds on wide
data); the equal-width histogram edges and counts of all numeric columns are computed as
one numpy array each.
"""

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
from gristmill.components.framework.statistics_model import DatasetStatistics, gc_paused

QUANTILE_POINTS = 101  # quantiles at ranks 0.00, 0.01, ..., 1.00
_RANKS = [i / (QUANTILE_POINTS - 1) for i in range(QUANTILE_POINTS)]


def _buckets(lows, highs, counts) -> list[dict]:
    return [{"low": low, "high": high, "count": count}
            for low, high, count in zip(lows, highs, counts, strict=True)]


def _standard_histograms(accs: list[NumericAccumulator], buckets: int) -> list[dict]:
    """Equal-width buckets between each column's min and max, counts from its sketch's CDF.

    Edges ``min * (1 - t) + max * t`` (no overflow when max - min exceeds the float
    range), clipped to [min, max], duplicates dropped; a column whose edges collapse to one
    value (constant, or too narrow a range to split) gets one bucket holding every value.
    """
    if not accs:
        return []
    lows = np.array([a.min for a in accs])[:, None]
    highs = np.array([a.max for a in accs])[:, None]
    t = np.arange(buckets + 1) / buckets
    edges = np.sort(np.clip(lows * (1 - t) + highs * t, lows, highs), axis=1)
    distinct = (edges[:, 1:] != edges[:, :-1]).all(axis=1)  # then np.unique is the sort
    rows = [edges[i] if distinct[i] else np.unique(edges[i]) for i in range(len(accs))]
    cdfs = [a.sketch.cdf(list(row[1:-1])) if len(row) > 1 else None
            for a, row in zip(accs, rows, strict=True)]
    full = [i for i, row in enumerate(rows) if len(row) == buckets + 1]
    counts: list = [None] * len(accs)
    if full:  # one array for the columns with every bucket, as the rest below
        cdf = np.array([cdfs[i] for i in full])
        fractions = np.diff(np.concatenate([np.zeros((len(full), 1)), cdf], axis=1), axis=1)
        n = np.array([accs[i].n for i in full], dtype=np.float64)[:, None]
        for i, row in zip(full, np.round(fractions * n).tolist(), strict=True):
            counts[i] = row
    histograms = []
    for i, (acc, row) in enumerate(zip(accs, rows, strict=True)):
        if len(row) < 2:
            histograms.append({"kind": "standard", "buckets": [
                {"low": acc.min, "high": acc.max, "count": float(acc.n)}]})
            continue
        if counts[i] is None:
            fractions = np.diff(np.concatenate([[0.0], cdfs[i]]))
            counts[i] = np.round(fractions * acc.n).tolist()
        edge_list = row.tolist()
        histograms.append({"kind": "standard",
                           "buckets": _buckets(edge_list[:-1], edge_list[1:], counts[i])})
    return histograms


def _quantile_histogram(quantiles: list[float], n: int, buckets: int) -> dict:
    """Buckets holding equal shares of the values, edges at the quantiles."""
    step = (len(quantiles) - 1) // buckets
    edges = [float(quantiles[i * step]) for i in range(buckets)] + [float(quantiles[-1])]
    return {"kind": "quantiles", "buckets": _buckets(edges[:-1], edges[1:], [n / buckets]
                                                     * buckets)}


def _numeric_statistics(accs: list[NumericAccumulator], config: StatsConfig) -> list[dict]:
    """Final figures of numeric features (one dict per accumulator)."""
    out = [{"num_zeros": a.zeros, "num_nan": a.nan, "num_pos_inf": a.pos_inf,
            "num_neg_inf": a.neg_inf} for a in accs]
    measured = [i for i, a in enumerate(accs)
                if a.n and a.sketch is not None and a.sketch.n]
    standard = _standard_histograms([accs[i] for i in measured], config.num_histogram_buckets)
    buckets = config.num_quantiles_histogram_buckets
    if (QUANTILE_POINTS - 1) % buckets:
        buckets = 10
    for i, histogram in zip(measured, standard, strict=True):
        acc, stats = accs[i], out[i]
        quantiles = acc.sketch.quantiles(_RANKS)
        quantiles[0], quantiles[-1] = acc.min, acc.max  # the exact extremes are known
        stats.update(mean=acc.true_mean, std_dev=acc.std_dev, min=acc.min, max=acc.max,
                     median=quantiles[(QUANTILE_POINTS - 1) // 2], quantiles=quantiles,
                     histograms=[histogram, _quantile_histogram(quantiles, acc.n, buckets)])
        if acc.w_sum > 0:
            stats["weighted_mean"] = acc.w_mean * acc.scale
            stats["weighted_std_dev"] = math.sqrt(acc.w_m2 / acc.w_sum) * acc.scale
    return out


def _string_statistics(acc: StringAccumulator, config: StatsConfig) -> dict:
    """Final figures of a string feature."""
    exact = acc.values.is_exact
    weighted = acc.weighted or {}

    def counted(items):
        return [{"value": str(v), "count": float(c), "weighted_count": weighted.get(v)}
                for v, c in items]

    every = counted(acc.values.top(len(acc.values.exact))) if exact else None
    top = every[:config.num_top_values] if exact else counted(
        acc.values.top(config.num_top_values))
    return {"unique": len(acc.values.exact) if exact else int(round(acc.distinct.estimate())),
            "unique_is_exact": exact,
            "avg_length": acc.total_length / acc.n if acc.n else None,
            "top_values": top, "top_values_exact": exact, "value_counts": every}


def _feature_statistics(name: str, acc: FeatureAccumulator) -> dict:
    return {"name": name, "type": acc.logical_type, "arrow_type": acc.arrow_type,
            "num_present": acc.present, "num_missing": acc.missing, "is_list": acc.is_list,
            "num_values": acc.num_values, "min_num_values": acc.min_values,
            "max_num_values": acc.max_values,
            "avg_num_values": acc.num_values / acc.present if acc.present else None}


def _features(acc: DatasetAccumulator, config: StatsConfig) -> list[dict]:
    features = [_feature_statistics(name, f) for name, f in acc.features.items()]
    numeric = [(stats, f.values) for stats, f in zip(features, acc.features.values(),
                                                     strict=True)
               if isinstance(f.values, NumericAccumulator)]
    figures = _numeric_statistics([values for _, values in numeric], config)
    for (stats, _), numeric_stats in zip(numeric, figures, strict=True):
        stats["numeric"] = numeric_stats
    for stats, f in zip(features, acc.features.values(), strict=True):
        if isinstance(f.values, StringAccumulator):
            stats["string"] = _string_statistics(f.values, config)
    return features


def dataset_statistics(split: str, accumulators: dict[str, DatasetAccumulator],
                       config: StatsConfig) -> DatasetStatistics:
    """The :class:`DatasetStatistics` of one split from ``{slice: accumulator}``."""
    whole = accumulators[ALL_SLICE]
    weighted = config.weight_feature is not None
    with gc_paused():
        slices = [{"slice": name, "num_examples": acc.num_examples,
                   "weighted_num_examples": acc.weighted_num_examples if weighted else None,
                   "features": _features(acc, config)}
                  for name, acc in accumulators.items() if name != ALL_SLICE]
        return DatasetStatistics.model_validate({
            "split": split, "num_examples": whole.num_examples,
            "weighted_num_examples": whole.weighted_num_examples if weighted else None,
            "weight_feature": config.weight_feature, "features": _features(whole, config),
            "slices": slices, "quantile_sample_rate": config.sample_rate})
