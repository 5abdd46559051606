"""Schema inference from statistics, shared by SchemaGen and Transform's post-transform schema.
"""

from __future__ import annotations

import math

import pydantic

from gristmill.components.framework.base import Parameters
from gristmill.components.framework.data_schema import (
    DataSchema,
    FeatureComparator,
    FeatureSchema,
    NumericRange,
    Presence,
)
from gristmill.components.framework.statistics_model import DatasetStatistics, FeatureStatistics
from gristmill.metadata.errors import DataError


class SchemaGenParameters(Parameters):
    """Parameters of :class:`SchemaGen`.

    Attributes:
        infer_feature_shape: Give features with a constant number of values a fixed shape.
        exclude_splits: Splits whose statistics are ignored.
        max_domain_size: Largest number of distinct strings inferred as a categorical domain.
        presence_slack: Optional features get ``min_fraction = observed * (1 - slack)``.
        infer_numeric_ranges: Record observed min/max as allowed ranges.
        drift_threshold: When set, every feature gets a drift comparator with it (L-infinity
            for categorical, Jensen-Shannon for numeric features).
        skew_threshold: The same for training/serving skew comparators.
    """

    infer_feature_shape: bool = True
    exclude_splits: list[str] = []
    max_domain_size: int = pydantic.Field(100, ge=1)
    presence_slack: float = pydantic.Field(0.1, ge=0.0, le=1.0)
    infer_numeric_ranges: bool = False
    drift_threshold: float | None = pydantic.Field(None, ge=0.0, le=1.0)
    skew_threshold: float | None = pydantic.Field(None, ge=0.0, le=1.0)


def _presence(stats: FeatureStatistics, slack: float) -> Presence:
    if stats.num_missing == 0:
        return Presence(min_fraction=1.0, min_count=1)
    floor = math.floor(stats.present_fraction * (1 - slack) * 100) / 100
    return Presence(min_fraction=max(0.0, floor), min_count=1 if stats.num_present else 0)


def _comparator(threshold: float | None, categorical: bool) -> FeatureComparator | None:
    if threshold is None:
        return None
    return (FeatureComparator(infinity_norm=threshold) if categorical
            else FeatureComparator(jensen_shannon_divergence=threshold))


def infer_feature(stats: FeatureStatistics, params: SchemaGenParameters) -> FeatureSchema:
    """The schema of one feature from its statistics."""
    string = stats.string
    categorical = string is not None
    domain = None
    if string is not None and string.unique_is_exact and string.value_counts is not None \
            and 0 < string.unique <= params.max_domain_size:
        domain = sorted(v.value for v in string.value_counts)
    shape = None
    if params.infer_feature_shape and stats.num_missing == 0 and stats.num_present \
            and stats.min_num_values == stats.max_num_values:
        shape = [stats.max_num_values] if stats.is_list else []
    numeric = stats.numeric
    value_range = None
    if params.infer_numeric_ranges and numeric is not None and numeric.min is not None:
        value_range = NumericRange(min=numeric.min, max=numeric.max)
    floating = stats.type == "FLOAT"
    return FeatureSchema(
        name=stats.name, type=stats.type, arrow_type=stats.arrow_type,
        presence=_presence(stats, params.presence_slack), shape=shape, categorical=categorical,
        domain=domain, range=value_range,
        disallow_nan=floating and numeric is not None and numeric.num_nan == 0,
        disallow_inf=floating and numeric is not None
        and numeric.num_pos_inf + numeric.num_neg_inf == 0,
        drift_comparator=_comparator(params.drift_threshold, categorical),
        skew_comparator=_comparator(params.skew_threshold, categorical))


def _widen(a: FeatureSchema, b: FeatureSchema) -> FeatureSchema:
    """One schema accepting what either split's schema accepts."""
    domain = sorted(set(a.domain) | set(b.domain)) if a.domain and b.domain else None
    value_range = None
    if a.range and b.range:
        value_range = NumericRange(min=min(a.range.min, b.range.min),
                                   max=max(a.range.max, b.range.max))
    presence = Presence(min_fraction=min(a.presence.min_fraction, b.presence.min_fraction),
                        min_count=min(a.presence.min_count, b.presence.min_count))
    if a.type != b.type:
        kind = "FLOAT" if {a.type, b.type} <= {"INT", "FLOAT", "BOOL"} else "STRING"
    else:
        kind = a.type
    return a.model_copy(update={
        "type": kind, "domain": domain, "range": value_range, "presence": presence,
        "shape": a.shape if a.shape == b.shape else None,
        "disallow_nan": a.disallow_nan and b.disallow_nan,
        "disallow_inf": a.disallow_inf and b.disallow_inf})


def infer_schema(statistics: list[DatasetStatistics], params: SchemaGenParameters
                 ) -> DataSchema:
    """A schema accepting every split in ``statistics``.

    Raises:
        DataError: No statistics were given.
    """
    if not statistics:
        raise DataError("SchemaGen: no statistics to infer a schema from (every split was "
                        "excluded).", fix="exclude fewer splits")
    features: dict[str, FeatureSchema] = {}
    for split in statistics:
        for stats in split.features:
            inferred = infer_feature(stats, params)
            features[stats.name] = (_widen(features[stats.name], inferred)
                                    if stats.name in features else inferred)
    for name, feature in features.items():
        if not all(s.feature(name) for s in statistics):  # absent from some split
            features[name] = feature.model_copy(update={
                "presence": Presence(min_fraction=0.0, min_count=0), "shape": None})
    return DataSchema(features=list(features.values()))
