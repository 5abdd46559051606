"""The InfraValidator component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.infra_validator.config import InfraValidatorParameters
from gristmill.components.infra_validator.executor import InfraValidatorExecutor
from gristmill.metadata.standard_artifacts import Examples, InfraBlessing, Model


class InfraValidator(BaseComponent):
    """Checks that a model loads and answers in a real serving process.

    Inputs: ``model`` (Model), optional ``examples`` (Examples; without them only loading is
    checked). Parameters: :class:`InfraValidatorParameters`. Output: ``blessing``
    (InfraBlessing).
    """

    INPUTS = {"model": InputSpec(Model), "examples": InputSpec(Examples, optional=True)}
    OUTPUTS = {"blessing": OutputSpec(InfraBlessing)}
    PARAMETERS = InfraValidatorParameters
    EXECUTOR = InfraValidatorExecutor
