"""The DistributionValidator component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.distribution_validator.config import (
    DistributionValidatorParameters,
)
from gristmill.components.distribution_validator.executor import DistributionValidatorExecutor
from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.metadata.standard_artifacts import ExampleAnomalies, ExampleStatistics


class DistributionValidator(BaseComponent):
    """Finds distribution shifts between statistics and baseline statistics.

    Args:
        statistics: Current ``ExampleStatistics`` (``StatisticsGen.outputs["statistics"]``).
        baseline_statistics: ``ExampleStatistics`` to compare with (training data, or the
            last blessed span through a Resolver). Optional: without it every split is
            blessed and the custom property ``no_baseline`` = 1.
        config, include_split_pairs, halt_on_error: See
            :class:`DistributionValidatorParameters`.

    Outputs:
        anomalies: ``ExampleAnomalies`` with custom properties ``blessed`` = {split: 0/1}
            and ``split_pairs`` = [[current, baseline], ...].
    """

    INPUTS = {"statistics": InputSpec(ExampleStatistics),
              "baseline_statistics": InputSpec(ExampleStatistics, optional=True)}
    OUTPUTS = {"anomalies": OutputSpec(ExampleAnomalies)}
    PARAMETERS = DistributionValidatorParameters
    EXECUTOR = DistributionValidatorExecutor
    VERSION = "1"
