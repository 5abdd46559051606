"""ExampleDiff: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

import pydantic

from gristmill.components.framework.base import Parameters


class PairedExampleSkew(pydantic.BaseModel):
    """How rows are paired and compared (TFX ``PairedExampleSkew``).

    Attributes:
        identifier_features: Columns whose values identify a row in both datasets.
        skew_sample_size: Differing pairs kept per feature as samples.
        ignore_features: Columns not compared.
        allow_duplicate_identifiers: Pair every base row with every test row of an identifier
            that occurs more than once; when off (TFX's default) such rows are left out of the
            pairing and counted in ``match_stats``.
        float_tolerance: Relative tolerance of float comparisons: ``|a - b| <= tolerance *
            max(|a|, |b|)`` counts as equal (scalar float columns only).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    identifier_features: list[str] = pydantic.Field(min_length=1)
    skew_sample_size: int = pydantic.Field(10, ge=0)
    ignore_features: list[str] = []
    allow_duplicate_identifiers: bool = False
    float_tolerance: float = pydantic.Field(0.0, ge=0.0)


class ExampleDiffConfig(pydantic.BaseModel):
    """What ExampleDiff computes (TFX ``ExampleDiffConfig``).

    Attributes:
        paired_example_skew: See :class:`PairedExampleSkew`.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    paired_example_skew: PairedExampleSkew


class ExampleDiffParameters(Parameters):
    """Parameters of :class:`ExampleDiff`.

    Attributes:
        config: See :class:`ExampleDiffConfig`.
        include_split_pairs: ``(test split, base split)`` pairs to diff; default: every split
            name present in both artifacts, paired with itself.
        num_shards: Shards of the pairing shuffle (each is held in memory by one worker);
            default: one per 200,000 rows.
    """

    config: ExampleDiffConfig
    include_split_pairs: list[tuple[str, str]] | None = None
    num_shards: int | None = pydantic.Field(None, ge=1)
