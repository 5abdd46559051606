"""Anomalies: checking statistics against a schema, and distribution distances.

:func:`validate_statistics` compares one split's statistics with the schema (and, when
given, with the previous span's statistics for drift and with serving statistics for
skew) and returns :class:`Anomaly` records with TFDV's codes. Distances:

* L-infinity: ``max_v |p(v) - q(v)|`` over value frequencies (categorical features).
* Jensen-Shannon divergence, base 2, in [0, 1], from equal-width histograms re-binned
  onto the union of both histograms' edges assuming uniform mass within a bucket
  (numeric features).
"""

from __future__ import annotations

import json
import os
from typing import Literal

import numpy as np
import pydantic

from gristmill.components.framework.data_quality import degenerate_data_anomalies
from gristmill.components.framework.data_schema import DataSchema, FeatureComparator, FeatureSchema
from gristmill.components.framework.statistics_model import (
    DatasetStatistics,
    FeatureStatistics,
    Histogram,
    rebin_histogram,
)

Severity = Literal["ERROR", "WARNING"]
ANOMALIES_FILE = "anomalies.json"
_COMPATIBLE = {("INT", "FLOAT"), ("BOOL", "INT"), ("BOOL", "FLOAT")}  # (data, schema) pairs


class Anomaly(pydantic.BaseModel):
    """One problem found in a split.

    Attributes:
        code: TFDV-style code, e.g. ``ENUM_TYPE_UNEXPECTED_STRING_VALUES``.
        severity: ``ERROR`` (blocks the split) or ``WARNING``.
        feature: The feature concerned (``None`` for dataset-level anomalies).
        description: What was expected and what was found.
        count: How many values/rows are affected (estimated where noted).
        fraction: The affected share, or the measured distance for comparators.
        details: Extra figures (unexpected values, thresholds).
    """

    code: str
    severity: Severity
    feature: str | None = None
    description: str
    count: float | None = None
    fraction: float | None = None
    details: dict = {}


class SplitAnomalies(pydantic.BaseModel):
    """The anomalies of one split; ``blessed`` when none is an ERROR."""

    split: str
    num_examples: int = 0
    anomalies: list[Anomaly] = []

    @property
    def blessed(self) -> bool:
        """True when no anomaly has severity ERROR."""
        return not any(a.severity == "ERROR" for a in self.anomalies)


def save_anomalies(result: SplitAnomalies, split_dir: str) -> str:
    """Write ``<split_dir>/anomalies.json``; returns the path."""
    os.makedirs(split_dir, exist_ok=True)
    path = os.path.join(split_dir, ANOMALIES_FILE)
    data = result.model_dump(mode="json") | {"blessed": result.blessed}
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    return path


def save_split_anomalies(output, results: list[SplitAnomalies]) -> None:
    """Write every split's ``anomalies.json`` into ``output`` (an ``ExampleAnomalies``) and
    set its ``splits`` and its ``blessed`` = {split: 0/1} custom property."""
    for result in results:
        save_anomalies(result, output.split_uri(result.split))
    output.splits = [r.split for r in results]
    output.set_custom_property("blessed", {r.split: int(r.blessed) for r in results})


def halt_reason(component: str, errors: list[str], report: str) -> str | None:
    """Why downstream nodes stop: the ERROR anomalies (``"split: feature CODE"``, the first
    five shown), or ``None`` when there are none."""
    if not errors:
        return None
    shown = "; ".join(errors[:5]) + (f" and {len(errors) - 5} more" if len(errors) > 5 else "")
    return f"{component} found {len(errors)} ERROR anomalies: {shown}. See {report}."


def load_anomalies(split_dir: str) -> SplitAnomalies:
    """Read ``<split_dir>/anomalies.json``."""
    with open(os.path.join(split_dir, ANOMALIES_FILE)) as f:
        data = json.load(f)
    data.pop("blessed", None)
    return SplitAnomalies.model_validate(data)


def value_frequencies(stats: FeatureStatistics) -> dict[str, float]:
    """Share of each value among a string feature's values (exact counts when known)."""
    counts = stats.string.value_counts if stats.string.value_counts is not None \
        else stats.string.top_values
    total = stats.num_values or sum(v.count for v in counts)
    return {v.value: v.count / total for v in counts} if total else {}


def l_infinity_distance(a: FeatureStatistics, b: FeatureStatistics) -> tuple[float, str | None]:
    """``(max |p(v) - q(v)|, the value where it is reached)`` between two string features."""
    p, q = value_frequencies(a), value_frequencies(b)
    best, where = 0.0, None
    for value in sorted(set(p) | set(q)):
        gap = abs(p.get(value, 0.0) - q.get(value, 0.0))
        if gap > best:
            best, where = gap, value
    return best, where


def jensen_shannon_divergence(a: Histogram, b: Histogram) -> float:
    """JS divergence (base 2) between two histograms, re-binned onto their joint edges."""
    edges = np.unique(np.array([x for h in (a, b) for bucket in h.buckets
                                for x in (bucket.low, bucket.high)], dtype=float))
    if len(edges) < 2:
        return 0.0
    p = np.array(rebin_histogram(a, list(edges)))
    q = np.array(rebin_histogram(b, list(edges)))
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0 if p.sum() == q.sum() else 1.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return max(0.0, min(1.0, 0.5 * kl(p) + 0.5 * kl(q)))


def make_anomaly(code: str, feature: str | None, description: str,
                 severity: Severity = "ERROR", **kwargs) -> Anomaly:
    """An :class:`Anomaly` (ERROR unless told otherwise); ``kwargs`` are its counts and
    details."""
    return Anomaly(code=code, severity=severity, feature=feature, description=description,
                   **kwargs)


def _type_anomalies(spec: FeatureSchema, stats: FeatureStatistics) -> list[Anomaly]:
    if stats.type == spec.type or (stats.type, spec.type) in _COMPATIBLE:
        return []
    code = f"{spec.type}_TYPE_{stats.type}_VALUES" if spec.type != "OTHER" else "TYPE_MISMATCH"
    return [make_anomaly(code, spec.name, f"expected type {spec.type}, got {stats.type} "
                     f"({stats.arrow_type}).", count=stats.num_present)]


def _presence_anomalies(spec: FeatureSchema, stats: FeatureStatistics) -> list[Anomaly]:
    out = []
    fraction = stats.present_fraction
    if fraction < spec.presence.min_fraction:
        out.append(make_anomaly("FEATURE_TYPE_LOW_FRACTION_PRESENT", spec.name,
                            f"present in {fraction:.2%} of rows; the schema requires at least "
                            f"{spec.presence.min_fraction:.2%}.", count=stats.num_missing,
                            fraction=fraction))
    if stats.num_present < spec.presence.min_count:
        out.append(make_anomaly("FEATURE_TYPE_LOW_NUMBER_PRESENT", spec.name,
                            f"present in {stats.num_present} rows; the schema requires at least "
                            f"{spec.presence.min_count}.", count=stats.num_present))
    if spec.shape is not None and (stats.num_missing or stats.min_num_values !=
                                   stats.max_num_values or (spec.shape and stats.max_num_values
                                                            != spec.shape[0])):
        out.append(make_anomaly("INVALID_FEATURE_SHAPE", spec.name,
                            f"the schema fixes shape {spec.shape} but rows have "
                            f"{stats.min_num_values}-{stats.max_num_values} values and "
                            f"{stats.num_missing} are missing.", count=stats.num_missing))
    return out


def _domain_anomalies(spec: FeatureSchema, stats: FeatureStatistics) -> list[Anomaly]:
    if spec.domain is None or stats.string is None:
        return []
    allowed = set(spec.domain)
    counts = stats.string.value_counts if stats.string.value_counts is not None \
        else stats.string.top_values
    unexpected = {v.value: v.count for v in counts if v.value not in allowed}
    if not unexpected:
        return []
    total = max(1, stats.num_values)
    fraction = sum(unexpected.values()) / total
    shown = sorted(unexpected, key=lambda v: (-unexpected[v], v))[:10]
    severity: Severity = "ERROR" if 1 - fraction < spec.min_domain_mass else "WARNING"
    exact = "" if stats.string.value_counts is not None else " (among the top values; estimate)"
    return [make_anomaly("ENUM_TYPE_UNEXPECTED_STRING_VALUES", spec.name,
                     f"{len(unexpected)} value(s) outside the domain, {fraction:.2%} of values"
                     f"{exact}: {shown}.", severity, count=sum(unexpected.values()),
                     fraction=fraction, details={"unexpected": {v: unexpected[v] for v in shown},
                                                 "min_domain_mass": spec.min_domain_mass})]


def _fraction_below(quantiles: list[float], x: float) -> float:
    """Approximate share of values below ``x`` by interpolating the quantile curve."""
    if not quantiles:
        return 0.0
    ranks = np.linspace(0.0, 1.0, len(quantiles))
    return float(np.interp(x, quantiles, ranks, left=0.0, right=1.0))


def _range_anomalies(spec: FeatureSchema, stats: FeatureStatistics) -> list[Anomaly]:
    numeric = stats.numeric
    if spec.range is None or numeric is None or numeric.min is None:
        return []
    kind = "INT" if spec.type in ("INT", "BOOL") else "FLOAT"
    n = stats.num_values - numeric.num_nan - numeric.num_pos_inf - numeric.num_neg_inf
    out = []
    if spec.range.min is not None and numeric.min < spec.range.min:
        share = _fraction_below(numeric.quantiles, spec.range.min)
        out.append(make_anomaly(f"{kind}_TYPE_SMALL_{kind}", spec.name,
                            f"min {numeric.min} is below the allowed {spec.range.min}; about "
                            f"{share:.2%} of values.", count=round(share * n), fraction=share))
    if spec.range.max is not None and numeric.max > spec.range.max:
        share = 1.0 - _fraction_below(numeric.quantiles, spec.range.max)
        out.append(make_anomaly(f"{kind}_TYPE_BIG_{kind}", spec.name,
                            f"max {numeric.max} is above the allowed {spec.range.max}; about "
                            f"{share:.2%} of values.", count=round(share * n), fraction=share))
    return out


def _special_value_anomalies(spec: FeatureSchema, stats: FeatureStatistics) -> list[Anomaly]:
    numeric = stats.numeric
    if numeric is None:
        return []
    total = max(1, stats.num_values)
    out = []
    if spec.disallow_nan and numeric.num_nan:
        out.append(make_anomaly("FLOAT_TYPE_HAS_NAN", spec.name, f"{numeric.num_nan} NaN value(s); "
                            f"the schema disallows NaN.", count=numeric.num_nan,
                            fraction=numeric.num_nan / total))
    infinite = numeric.num_pos_inf + numeric.num_neg_inf
    if spec.disallow_inf and infinite:
        out.append(make_anomaly("FLOAT_TYPE_HAS_INF", spec.name, f"{infinite} infinite value(s); "
                            f"the schema disallows +/-Inf.", count=infinite,
                            fraction=infinite / total))
    return out


Comparison = Literal["drift", "skew", "baseline"]
#: How each comparison names the statistics it compares against, in descriptions.
COMPARED_WITH: dict[str, str] = {"drift": "the previous span", "skew": "serving data",
                                 "baseline": "the baseline"}


class Measurement(pydantic.BaseModel):
    """One configured distance between a feature's current and other statistics.

    Attributes:
        measure: ``infinity_norm`` or ``jensen_shannon_divergence``.
        threshold: The largest distance allowed.
        distance: The measured distance; ``None`` when the statistics do not allow it
            (L-infinity needs value counts on both sides, JS needs both histograms).
        value: For L-infinity, the value where the largest gap is reached.
    """

    measure: Literal["infinity_norm", "jensen_shannon_divergence"]
    threshold: float
    distance: float | None = None
    value: str | None = None

    @property
    def exceeded(self) -> bool:
        """True when the distance was measured and is above the threshold."""
        return self.distance is not None and self.distance > self.threshold


def measure_feature(comparator: FeatureComparator, current: FeatureStatistics,
                    other: FeatureStatistics) -> list[Measurement]:
    """Every distance ``comparator`` configures, measured between two features' statistics."""
    out = []
    if comparator.infinity_norm is not None:
        linf = Measurement(measure="infinity_norm", threshold=comparator.infinity_norm)
        if current.string and other.string:
            linf.distance, linf.value = l_infinity_distance(current, other)
        out.append(linf)
    if comparator.jensen_shannon_divergence is not None:
        js = Measurement(measure="jensen_shannon_divergence",
                         threshold=comparator.jensen_shannon_divergence)
        hist_a = current.numeric.histogram("standard") if current.numeric else None
        hist_b = other.numeric.histogram("standard") if other.numeric else None
        if hist_a is not None and hist_b is not None:
            js.distance = jensen_shannon_divergence(hist_a, hist_b)
        out.append(js)
    return out


def compare_feature(spec_name: str, comparator: FeatureComparator | None,
                    current: FeatureStatistics, other: FeatureStatistics | None,
                    comparison: Comparison) -> list[Anomaly]:
    """Drift (vs previous span), skew (vs serving) or baseline anomalies of one feature."""
    if comparator is None or other is None:
        return []
    against = COMPARED_WITH[comparison]
    out = []
    for m in measure_feature(comparator, current, other):
        if not m.exceeded:
            continue
        if m.measure == "infinity_norm":
            out.append(make_anomaly("COMPARATOR_L_INFTY_HIGH", spec_name,
                                f"{comparison}: L-infinity distance to {against} is "
                                f"{m.distance:.4f} (at value {m.value!r}), above the threshold "
                                f"{m.threshold}.", fraction=m.distance,
                                details={"comparison": comparison, "value": m.value,
                                         "threshold": m.threshold}))
        else:
            out.append(make_anomaly("COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH", spec_name,
                                f"{comparison}: Jensen-Shannon divergence to {against} is "
                                f"{m.distance:.4f}, above the threshold {m.threshold}.",
                                fraction=m.distance,
                                details={"comparison": comparison, "threshold": m.threshold}))
    return out


def validate_statistics(stats: DatasetStatistics, schema: DataSchema,
                        previous: DatasetStatistics | None = None,
                        serving: DatasetStatistics | None = None) -> SplitAnomalies:
    """All anomalies of one split against ``schema`` (and drift/skew when given), and the
    degenerate data no schema rules out: an empty or one-row split (ERROR / WARNING),
    columns with no values, no finite values or one value (WARNING)."""
    found: list[Anomaly] = []
    if stats.num_examples < schema.min_examples:
        found.append(make_anomaly("DATASET_LOW_NUM_EXAMPLES", None, f"{stats.num_examples} rows; "
                              f"the schema requires at least {schema.min_examples}.",
                              count=stats.num_examples))
    in_schema = {spec.name for spec in schema.features}  # DataSchema.feature: ~30 us a call
    for name in stats.feature_names:
        if name not in in_schema:
            found.append(make_anomaly("SCHEMA_NEW_COLUMN", name, f"column {name!r} is not in the "
                                  f"schema.", count=stats.feature(name).num_present))
    for spec in schema.features:
        feature = stats.feature(spec.name)
        if feature is None:
            severity: Severity = "ERROR" if spec.presence.min_fraction > 0 else "WARNING"
            found.append(make_anomaly("SCHEMA_MISSING_COLUMN", spec.name, f"column {spec.name!r} "
                                  f"is in the schema but not in the data.", severity))
            continue
        for check in (_type_anomalies, _presence_anomalies, _domain_anomalies,
                      _range_anomalies, _special_value_anomalies):
            found.extend(check(spec, feature))
        found.extend(compare_feature(spec.name, spec.drift_comparator, feature,
                                     previous.feature(spec.name) if previous else None, "drift"))
        found.extend(compare_feature(spec.name, spec.skew_comparator, feature,
                                     serving.feature(spec.name) if serving else None, "skew"))
    found.extend(degenerate_data_anomalies(stats))
    return SplitAnomalies(split=stats.split, num_examples=stats.num_examples, anomalies=found)
