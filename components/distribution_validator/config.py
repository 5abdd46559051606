"""Configuration of DistributionValidator: per-feature comparators and a row-count check.

Mirrors TFX's ``DistributionValidatorConfig`` (``tfx/proto/distribution_validator.proto``)
as pydantic models::

    DistributionValidatorConfig(
        features={"company": FeatureComparator(infinity_norm=0.1),
                  "fare": FeatureComparator(jensen_shannon_divergence=0.05)},
        num_examples=NumExamplesComparator(min_fraction_threshold=0.5))
"""

from __future__ import annotations

import pydantic

from gristmill.components.framework.base import Parameters
from gristmill.components.framework.data_schema import FeatureComparator
from gristmill.metadata.errors import ConfigError

COMPONENT = "DistributionValidator"


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class NumExamplesComparator(_Model):
    """Bounds on ``current rows / baseline rows`` (TFDV's ``num_examples_drift_comparator``).

    Attributes:
        min_fraction_threshold: Below this ratio: ``COMPARATOR_LOW_NUM_EXAMPLES``.
        max_fraction_threshold: Above this ratio: ``COMPARATOR_HIGH_NUM_EXAMPLES``.
    """

    min_fraction_threshold: float | None = pydantic.Field(None, ge=0.0)
    max_fraction_threshold: float | None = pydantic.Field(None, ge=0.0)

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> NumExamplesComparator:
        low, high = self.min_fraction_threshold, self.max_fraction_threshold
        if low is None and high is None:
            raise ValueError("set min_fraction_threshold and/or max_fraction_threshold")
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_fraction_threshold {low} is above max_fraction_threshold "
                             f"{high}")
        return self


class DistributionValidatorConfig(_Model):
    """What DistributionValidator compares between the current and baseline statistics.

    Attributes:
        features: Feature name -> thresholds. A listed feature that cannot be compared
            (missing on one side, or no configured distance fits its statistics) is an ERROR.
        default: Thresholds applied to every feature not in ``features``; a feature the
            default cannot be compared on is skipped and counted, not an error.
        num_examples: Bounds on the ratio of current to baseline row counts.
    """

    features: dict[str, FeatureComparator] = {}
    default: FeatureComparator | None = None
    num_examples: NumExamplesComparator | None = None

    @pydantic.model_validator(mode="after")
    def _compares_something(self) -> DistributionValidatorConfig:
        if not self.features and self.default is None and self.num_examples is None:
            raise ValueError("the config compares nothing; set features, default and/or "
                             "num_examples")
        empty = sorted(n for n, c in self.features.items()
                       if c.infinity_norm is None and c.jensen_shannon_divergence is None)
        if empty:
            raise ValueError(f"features {empty} set no threshold; give each infinity_norm "
                             f"and/or jensen_shannon_divergence")
        return self

    def comparator(self, feature: str) -> FeatureComparator | None:
        """The thresholds for ``feature``: its own, else the default, else ``None``."""
        return self.features.get(feature, self.default)


def resolve_split_pairs(current: list[str], baseline: list[str],
                        include: list[tuple[str, str]] | None, current_uri: str,
                        baseline_uri: str) -> list[tuple[str, str]]:
    """The (current split, baseline split) pairs to compare.

    Args:
        current: Splits of the ``statistics`` artifact.
        baseline: Splits of the ``baseline_statistics`` artifact.
        include: The ``include_split_pairs`` parameter; ``None`` pairs same-named splits.
        current_uri / baseline_uri: The artifacts' uris, for error messages.

    Raises:
        ConfigError: A split is missing on either side, or a current split is paired twice
            (its output directory is named after it).
    """
    where = (f"statistics {current_uri} have splits {current}; baseline_statistics "
             f"{baseline_uri} have splits {baseline}")
    if include is None:
        missing = [s for s in current if s not in baseline]
        if missing:
            example = [(s, baseline[0]) for s in missing] if baseline else []
            raise ConfigError(f"{COMPONENT}: no baseline split named {missing}; {where}.",
                              component_id=COMPONENT,
                              fix=f"pass include_split_pairs to pair splits explicitly, e.g. "
                                  f"include_split_pairs={example}")
        return [(s, s) for s in current]
    pairs = [tuple(p) for p in include]
    bad = [p for p in pairs if p[0] not in current or p[1] not in baseline]
    if bad:
        raise ConfigError(f"{COMPONENT}: include_split_pairs {bad} name splits that do not "
                          f"exist; {where}.", component_id=COMPONENT,
                          fix="pair a split of statistics with a split of baseline_statistics")
    seen = [p[0] for p in pairs]
    twice = sorted({s for s in seen if seen.count(s) > 1})
    if twice:
        raise ConfigError(f"{COMPONENT}: include_split_pairs pairs current split(s) {twice} "
                          f"more than once; results are stored per current split.",
                          component_id=COMPONENT,
                          fix="pair each current split with one baseline split")
    if not pairs:
        raise ConfigError(f"{COMPONENT}: include_split_pairs is empty; {where}.",
                          component_id=COMPONENT, fix="list at least one pair, or leave it None")
    return pairs


def check_features(config: DistributionValidatorConfig, available: set[str]) -> None:
    """Refuse configured features that no compared split has (a typo, usually).

    Args:
        config: The validator's config.
        available: Features of every compared split, current and baseline.

    Raises:
        ConfigError: Naming the unknown features and listing the available ones.
    """
    from gristmill.metadata.errors import did_you_mean

    unknown = sorted(f for f in config.features if f not in available)
    if unknown:
        hint = did_you_mean(unknown[0], available)
        raise ConfigError(f"{COMPONENT}: config.features names {unknown}, which no compared "
                          f"split has.{hint} Available features: {sorted(available)}.",
                          component_id=COMPONENT,
                          fix="correct the names in DistributionValidatorConfig.features")


class DistributionValidatorParameters(Parameters):
    """Parameters of :class:`DistributionValidator`.

    Attributes:
        config: What to compare and the thresholds (:class:`DistributionValidatorConfig`).
        include_split_pairs: ``(current split, baseline split)`` pairs to compare; ``None``
            compares each current split with the baseline split of the same name.
        halt_on_error: Halt downstream components when a pair has an ERROR anomaly.
    """

    config: DistributionValidatorConfig
    include_split_pairs: list[tuple[str, str]] | None = None
    halt_on_error: bool = True
