"""The StatisticsGen component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.statistics_gen.config import StatisticsGenParameters
from gristmill.components.statistics_gen.executor import StatisticsGenExecutor
from gristmill.metadata.standard_artifacts import Examples, ExampleStatistics, Schema


class StatisticsGen(BaseComponent):
    """Computes statistics over every split of an Examples artifact.

    Args:
        examples: An ``Examples`` channel (e.g. ``CsvExampleGen.outputs["examples"]``).
        schema: Optional ``Schema`` channel; integer features it marks categorical are
            counted as categories.
        stats_options: A :class:`StatsOptions`.
        exclude_splits: Splits to skip.

    Outputs:
        statistics: ``ExampleStatistics`` with ``Split-<name>/statistics.json`` and
        ``report.html``.
    """

    INPUTS = {"examples": InputSpec(Examples), "schema": InputSpec(Schema, optional=True)}
    OUTPUTS = {"statistics": OutputSpec(ExampleStatistics)}
    PARAMETERS = StatisticsGenParameters
    EXECUTOR = StatisticsGenExecutor
    VERSION = "1"
