"""StatsOptions (TFDV's names) and the StatsConfig it turns into for one split.

Cheap to import (no Beam): StatisticsGen's and Transform's parameters use it.
"""

from __future__ import annotations

import math

import pydantic

from gristmill.components.beam.statistics.sketches import kll_k_for_epsilon


class StatsOptions(pydantic.BaseModel):
    """What StatisticsGen computes (TFDV ``StatsOptions`` names where they exist).

    Attributes:
        epsilon: Max normalised rank error of quantiles (KLL sketch plus row sampling).
        num_top_values: Most frequent values kept per string feature.
        num_histogram_buckets: Buckets of the equal-width histogram.
        num_quantiles_histogram_buckets: Buckets of the quantiles histogram (divides 100).
        max_exact_unique: Distinct values counted exactly; beyond, sketches estimate.
        weight_feature: Column of row weights for weighted moments and value counts.
        slice_features: Columns whose values define slices (``feature=value``).
        max_slices_per_feature: Largest slices kept per slice feature; the rest are merged
            into ``feature=__OTHER__``.
        feature_allowlist: Only these columns (all when ``None``).
        categorical_features: Integer columns to count as categories.
        quantile_sample_size: Rows per split fed to quantile sketches; larger splits are
            sampled deterministically. ``None`` derives it from ``epsilon``.
        batch_size: Rows per Arrow record batch.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    epsilon: float = pydantic.Field(0.01, gt=0.0, lt=0.5)
    num_top_values: int = pydantic.Field(20, ge=1)
    num_histogram_buckets: int = pydantic.Field(10, ge=1)
    num_quantiles_histogram_buckets: int = 10
    max_exact_unique: int = pydantic.Field(10_000, ge=1)
    weight_feature: str | None = None
    slice_features: list[str] = []
    max_slices_per_feature: int = pydantic.Field(50, ge=1)
    feature_allowlist: list[str] | None = None
    categorical_features: list[str] = []
    quantile_sample_size: int | None = pydantic.Field(None, ge=1000)
    batch_size: int = pydantic.Field(65_536, ge=1)

    @pydantic.field_validator("num_quantiles_histogram_buckets")
    @classmethod
    def _divides_100(cls, value: int) -> int:
        if value < 1 or 100 % value:
            raise ValueError(f"must divide 100 (quantiles are kept at 1% steps), got {value}")
        return value

    def sample_size(self) -> int:
        """Rows fed to quantile sketches: enough that sampling adds < epsilon/3 rank error.

        With m sampled rows the rank error's standard deviation is at most 0.5/sqrt(m);
        m = (6 / epsilon)**2 keeps 4 of them under epsilon/3 (360k rows at epsilon=1%).
        """
        return self.quantile_sample_size or math.ceil((6 / self.epsilon) ** 2)


def stats_config(options: StatsOptions, schema, rows: int):
    """The :class:`~gristmill.components.beam.statistics.combine.StatsConfig` of one split
    of ``rows`` rows.

    Integer features that ``schema`` (a ``DataSchema`` or ``None``) marks categorical are
    counted as categories, like ``options.categorical_features``.
    """
    from gristmill.components.beam.statistics.combine import StatsConfig

    categorical = set(options.categorical_features)
    if schema is not None:
        categorical |= {f.name for f in schema.features if f.categorical and f.type == "INT"}
    return StatsConfig(
        kll_k=kll_k_for_epsilon(options.epsilon), num_top_values=options.num_top_values,
        num_histogram_buckets=options.num_histogram_buckets,
        num_quantiles_histogram_buckets=options.num_quantiles_histogram_buckets,
        max_exact_unique=options.max_exact_unique, weight_feature=options.weight_feature,
        slice_features=tuple(options.slice_features),
        max_slices_per_feature=options.max_slices_per_feature,
        sample_rate=min(1.0, options.sample_size() / rows) if rows else 1.0,
        features=tuple(options.feature_allowlist) if options.feature_allowlist else None,
        categorical_features=tuple(sorted(categorical)))
