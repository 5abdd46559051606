"""The ExampleValidator component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.example_validator.config import ExampleValidatorParameters
from gristmill.components.example_validator.executor import ExampleValidatorExecutor
from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.metadata.standard_artifacts import ExampleAnomalies, ExampleStatistics, Schema


class ExampleValidator(BaseComponent):
    """Finds anomalies in statistics: schema violations, drift and skew.

    Args:
        statistics: ``ExampleStatistics`` to validate (``StatisticsGen.outputs["statistics"]``).
        schema: ``Schema`` (``SchemaGen`` or ``ImportSchemaGen``).
        previous_statistics: Optional statistics of the previous span (drift comparators).
        serving_statistics: Optional statistics of serving data (skew comparators).
        exclude_splits, halt_on_error, serving_split: See
            :class:`ExampleValidatorParameters`.

    Outputs:
        anomalies: ``ExampleAnomalies`` with custom property ``blessed`` = {split: 0/1}.
    """

    INPUTS = {"statistics": InputSpec(ExampleStatistics), "schema": InputSpec(Schema),
              "previous_statistics": InputSpec(ExampleStatistics, optional=True),
              "serving_statistics": InputSpec(ExampleStatistics, optional=True)}
    OUTPUTS = {"anomalies": OutputSpec(ExampleAnomalies)}
    PARAMETERS = ExampleValidatorParameters
    EXECUTOR = ExampleValidatorExecutor
    VERSION = "1"
