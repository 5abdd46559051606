"""The figures the statistics report draws, as one compact JSON-ready dict.

The page renders its overview table and charts in the browser from this dict (one small
object per feature), so a report of 1,000 features stays a few MB and opens at once instead
of holding 1,000 inline SVGs. Everything here is computed from the statistics files; nothing
is sampled again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gristmill.components.framework.anomalies import value_frequencies
from gristmill.components.framework.statistics_model import (
    DatasetStatistics,
    FeatureStatistics,
    Histogram,
)
from gristmill.components.framework.statistics_report.batch import (
    histogram_counts,
    histogram_pairs,
    pair_distances,
)

#: The splits compared in the overview's distance columns when both exist.
CATEGORY_PREFERRED_SPLITS = ("train", "eval")
#: Most categories drawn per feature (the overview keeps the exact distinct count).
MAX_CATEGORIES = 20
#: Quantile ranks shown in the quantiles view (percent).
QUANTILE_RANKS = tuple(range(0, 101, 10))


def rounded(value: float | None, digits: int = 7) -> float | None:
    """``value`` to ``digits`` significant digits; ``None`` for missing, NaN and +/-Inf (JSON
    has no NaN; the table shows a dash and the per-split NaN/Inf count says why)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def rounded_all(values: Sequence[float]) -> list[float | None]:
    """:func:`rounded` of each value (7 digits), without a call per value."""
    isfinite = math.isfinite
    return [float(f"{v:.7g}") if v is not None and isfinite(v) else None for v in values]


def compared_splits(splits: Sequence[str]) -> tuple[str, str] | None:
    """The two splits whose distance the overview shows: train and eval when both exist,
    else the first two; ``None`` with a single split."""
    if all(s in splits for s in CATEGORY_PREFERRED_SPLITS):
        return CATEGORY_PREFERRED_SPLITS
    return (splits[0], splits[1]) if len(splits) >= 2 else None


def integer_categories(feature: FeatureStatistics) -> list[tuple[str, float]] | None:
    """``[(value, count)]`` of an integer feature with few distinct values, else ``None``.

    The equal-width histogram of a range narrower than its bucket count puts at most one
    integer in each (closed) bucket, so its counts are per-value counts (from the quantile
    sketch, exact up to the sketch's rank error).
    """
    n = feature.numeric
    hist = n.histogram("standard") if n is not None else None
    if feature.type != "INT" or hist is None or n.min is None or n.max is None:
        return None
    if n.max - n.min >= max(len(hist.buckets), 2):
        return None
    values = []
    for bucket in hist.buckets:
        if bucket.count <= 0:
            continue
        inside = [v for v in range(math.ceil(bucket.low), math.floor(bucket.high) + 1)]
        if len(inside) != 1:
            return None  # not one integer per bucket: keep the histogram
        values.append((str(inside[0]), bucket.count))
    return values


def _categories(feature: FeatureStatistics) -> tuple[list[tuple[str, float]], bool] | None:
    """``([(value, count)], exact)`` of a categorical feature, most frequent first."""
    if feature.string is not None:
        s = feature.string
        counts = s.value_counts if s.value_counts is not None else s.top_values
        return [(v.value, v.count) for v in counts], s.unique_is_exact
    ints = integer_categories(feature)
    if ints is None:
        return None
    return sorted(ints, key=lambda vc: (-vc[1], int(vc[0]))), False


def _split_figures(f: FeatureStatistics, categories) -> dict[str, Any]:
    total = f.num_present + f.num_missing
    row: dict[str, Any] = {"count": f.num_present, "missing": f.num_missing,
                           "missing_pct": rounded(100.0 * f.num_missing / total) if total else 0.0}
    if f.numeric is not None:
        n = f.numeric
        values = f.num_values or f.num_present
        row.update(zip(("mean", "std", "min", "median", "max"),
                       rounded_all((n.mean, n.std_dev, n.min, n.median, n.max)), strict=True))
        row.update(zeros_pct=rounded(100.0 * n.num_zeros / values) if values else None,
                   nonfinite=n.num_nan + n.num_pos_inf + n.num_neg_inf)
        if len(n.quantiles) == 101:
            row["q"] = rounded_all([n.quantiles[r] for r in QUANTILE_RANKS])
    if f.string is not None:
        row["avg_len"] = rounded(f.string.avg_length)
    if categories is not None:
        counts, exact = categories
        row["distinct"] = f.string.unique if f.string is not None else len(counts)
        row["distinct_exact"] = exact
        if counts:
            row["top"], row["top_count"] = counts[0][0], counts[0][1]
    return row


def _common_edges(hists: dict[str, Histogram]) -> list[float] | None:
    """Equal-width edges between the real minimum and maximum over the splits' histograms,
    as many buckets as the largest; ``None`` for a non-finite range."""
    low = min(b.low for h in hists.values() for b in h.buckets)
    high = max(b.high for h in hists.values() for b in h.buckets)
    buckets = max(len(h.buckets) for h in hists.values())
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    # low * (1 - t) + high * t: no overflow for ranges beyond 1.8e308
    edges = [low] if high <= low else \
        [low * (1 - i / buckets) + high * (i / buckets) for i in range(buckets)]
    edges.append(high)
    return edges


def _histogram_figures(features: list[dict[str, FeatureStatistics]]
                       ) -> list[dict[str, Any] | None]:
    """Per feature, every split's equal-width histogram re-binned onto common edges between
    the real minimum and maximum over the splits (all features' re-binning at once)."""
    plans: list = []
    jobs: list[tuple[Histogram, list[float]]] = []
    for per_split in features:
        hists = {s: h for s, f in per_split.items()
                 if f.numeric is not None and (h := f.numeric.histogram("standard")) is not None}
        edges = _common_edges(hists) if hists else None
        plans.append(None if edges is None else (list(hists), edges, len(jobs)))
        if edges is not None:
            jobs.extend((h, edges) for h in hists.values())
    masses = histogram_counts([h for h, _ in jobs], [e for _, e in jobs], rebin)
    out: list[dict[str, Any] | None] = []
    for plan in plans:
        if plan is None:
            out.append(None)
            continue
        splits, edges, start = plan
        counts = {s: [round(c, 3) for c in masses[start + k]] for k, s in enumerate(splits)}
        # max(c / t) == max(c) / t: dividing by t > 0 keeps the order
        skewed = len(edges) > 3 and any(max(v) / t >= 0.5 for v in counts.values()
                                        if (t := sum(v)) > 0)
        out.append({"edges": rounded_all(edges), "counts": counts, "skewed": skewed})
    return out


def _category_figures(cats: dict[str, tuple[list[tuple[str, float]], bool]]
                      ) -> dict[str, Any]:
    order: dict[str, None] = {}
    for counts, _ in cats.values():
        order.update(dict.fromkeys(v for v, _ in counts[:MAX_CATEGORIES]))
    values = list(order)[:MAX_CATEGORIES]
    series = {}
    for split, (counts, _) in cats.items():
        lookup = dict(counts)
        series[split] = [lookup.get(v, 0.0) for v in values]
    return {"values": values, "counts": series}


def _value_share_pair(a: FeatureStatistics, b: FeatureStatistics
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Value shares of two categorical features on their joint values, plus an ``other``
    cell holding what the top values leave."""
    p, q = value_frequencies(a), value_frequencies(b)
    keys = sorted(set(p) | set(q))
    pv = [p.get(k, 0.0) for k in keys] + [max(0.0, 1.0 - sum(p.values()))]
    qv = [q.get(k, 0.0) for k in keys] + [max(0.0, 1.0 - sum(q.values()))]
    return np.array(pv), np.array(qv)


def _histogram_pair(ha: Histogram, hb: Histogram) -> tuple[np.ndarray, np.ndarray] | None:
    """Histogram mass on the joint bucket edges, normalised; ``None`` where a side is empty."""
    edges = joint_edges(ha, hb)
    if len(edges) < 2:
        return np.array([1.0]), np.array([1.0])
    p, q = np.array(rebin(ha, edges)), np.array(rebin(hb, edges))
    if p.sum() <= 0 or q.sum() <= 0:
        return None
    return p / p.sum(), q / q.sum()


def _standard_histogram(f: FeatureStatistics) -> Histogram | None:
    return f.numeric.histogram("standard") if f.numeric is not None else None


def _distribution_pair(a: FeatureStatistics, b: FeatureStatistics
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """Two aligned probability vectors: value shares of categorical features (an ``other``
    cell holds what the top values leave), histogram mass on the joint bucket edges of
    numeric ones."""
    if a.string is not None and b.string is not None:
        return _value_share_pair(a, b)
    ha, hb = _standard_histogram(a), _standard_histogram(b)
    return None if ha is None or hb is None else _histogram_pair(ha, hb)


def _all_distances(pairs: list[tuple[FeatureStatistics, FeatureStatistics] | None]
                   ) -> list[dict[str, float | None]]:
    """:func:`distances` of many feature pairs (``None``: not compared), the histograms'
    re-binning and the divergences of all pairs computed together."""
    vectors: list = [None] * len(pairs)
    numeric: dict[int, tuple[Histogram, Histogram]] = {}
    for i, pair in enumerate(pairs):
        if pair is None:
            continue
        a, b = pair
        if a.string is not None and b.string is not None:
            vectors[i] = _value_share_pair(a, b)
        elif (ha := _standard_histogram(a)) is not None and \
                (hb := _standard_histogram(b)) is not None:
            numeric[i] = (ha, hb)
    for i, vector in zip(numeric, histogram_pairs(list(numeric.values()), _histogram_pair),
                         strict=True):
        vectors[i] = vector
    return [{"linf": None, "js": None} if d is None else
            {"linf": rounded(d[0]), "js": rounded(d[1])} for d in pair_distances(vectors)]


def rebin(hist: Histogram, edges: Sequence[float]) -> list[float]:
    """:func:`~gristmill.components.framework.statistics_model.rebin_histogram` in numpy
    (the same mass per interval; the pure-Python loop took seconds at 1,000 features)."""
    edges = np.asarray(edges, dtype=float)
    low = np.array([b.low for b in hist.buckets])
    high = np.array([b.high for b in hist.buckets])
    count = np.array([b.count for b in hist.buckets])
    mass = np.zeros(len(edges) - 1)
    point = high <= low  # a constant column: its mass goes to the interval holding it
    where = np.clip(np.searchsorted(edges, low[point], side="right") - 1, 0, len(mass) - 1)
    np.add.at(mass, where, count[point])
    low, high, count = low[~point], high[~point], count[~point]
    # halves: widths stay finite even for buckets spanning -1e308..1e308
    overlap = (np.minimum(edges[1:, None], high[None, :]) / 2
               - np.maximum(edges[:-1, None], low[None, :]) / 2)
    mass += (np.clip(overlap, 0.0, None) * (count / (high / 2 - low / 2))[None, :]).sum(axis=1)
    return mass.tolist()


def joint_edges(a: Histogram, b: Histogram) -> list[float]:
    """Every bucket edge of both histograms, sorted and unique."""
    return list(np.unique(np.array([x for h in (a, b) for bucket in h.buckets
                                    for x in (bucket.low, bucket.high)], dtype=float)))


def distances(a: FeatureStatistics, b: FeatureStatistics) -> dict[str, float | None]:
    """L-infinity distance and Jensen-Shannon divergence (base 2) between two splits.

    Categorical features compare their value shares (TFDV's L-infinity); numeric ones the
    histogram mass on the joint bucket edges (the same re-binning as the drift check's
    Jensen-Shannon divergence, :func:`~gristmill.components.framework.anomalies.
    jensen_shannon_divergence`).
    """
    pair = _distribution_pair(a, b)
    if pair is None:
        return {"linf": None, "js": None}
    p, q = pair
    return {"linf": rounded(float(np.max(np.abs(p - q)))), "js": rounded(js_divergence(p, q))}


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two probability vectors."""
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return max(0.0, min(1.0, 0.5 * kl(p) + 0.5 * kl(q)))


def _feature_head(name: str, per_split: dict[str, FeatureStatistics]
                  ) -> tuple[dict[str, Any], bool]:
    """A feature's JSON object up to its charts, and whether it gets a histogram."""
    first = next(iter(per_split.values()))
    cats = {s: c for s, f in per_split.items() if (c := _categories(f)) is not None}
    kind = ("categorical" if cats and len(cats) == len(per_split) else
            "numeric" if all(f.numeric is not None for f in per_split.values()) else "other")
    out: dict[str, Any] = {
        "name": name, "type": first.type, "arrow": first.arrow_type, "kind": kind,
        "list": [first.min_num_values, first.max_num_values] if first.is_list else None,
        "splits": {s: _split_figures(f, cats.get(s)) for s, f in per_split.items()}}
    if kind == "categorical":
        out["cats"] = _category_figures(cats)
        out["int_categories"] = first.string is None
    return out, kind in ("numeric", "categorical") and first.numeric is not None


def all_feature_figures(features: list[tuple[str, dict[str, FeatureStatistics]]],
                        compared: tuple[str, str] | None) -> list[dict[str, Any]]:
    """:func:`feature_figures` of many features, their histograms and distances computed
    together (:mod:`.batch`): the report's cost at 5,000 features."""
    heads = [_feature_head(name, per_split) for name, per_split in features]
    charted = [i for i, (_, hist) in enumerate(heads) if hist]
    for i, hist in zip(charted, _histogram_figures([features[i][1] for i in charted]),
                       strict=True):
        heads[i][0]["hist"] = hist
    pairs = [(per_split[compared[0]], per_split[compared[1]])
             if compared and all(s in per_split for s in compared) else None
             for _, per_split in features]
    out = []
    for (head, _), distance in zip(heads, _all_distances(pairs), strict=True):
        head.update(distance)
        out.append(head)
    return out


def feature_figures(name: str, per_split: dict[str, FeatureStatistics],
                    compared: tuple[str, str] | None) -> dict[str, Any]:
    """The JSON object of one feature: its type, per-split figures, charts, distances."""
    return all_feature_figures([(name, per_split)], compared)[0]


def report_figures(stats: dict[str, DatasetStatistics]) -> dict[str, Any]:
    """The report's whole data: splits, the compared pair and one object per feature."""
    names: dict[str, None] = {}  # ordered set: wide data must not be quadratic
    for s in stats.values():
        names.update(dict.fromkeys(s.feature_names))
    compared = compared_splits(list(stats))
    features = all_feature_figures(
        [(name, {split: f for split, s in stats.items() if (f := s.feature(name)) is not None})
         for name in names], compared)
    return {"splits": {split: {"examples": s.num_examples, "features": len(s.features),
                               "weighted_examples": s.weighted_num_examples,
                               "quantile_sample_rate": s.quantile_sample_rate}
                       for split, s in stats.items()},
            "compared": list(compared) if compared else None,
            "slices": [[split, sl.slice, sl.num_examples]
                       for split, s in stats.items() for sl in s.slices],
            "features": features}
