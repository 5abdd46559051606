"""StatisticsGen: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

from gristmill.components.beam.statistics.options import StatsOptions
from gristmill.components.framework.base import Parameters


class StatisticsGenParameters(Parameters):
    """Parameters of :class:`StatisticsGen`.

    Attributes:
        stats_options: See :class:`StatsOptions`.
        exclude_splits: Splits to skip.
    """

    stats_options: StatsOptions = StatsOptions()
    exclude_splits: list[str] = []
