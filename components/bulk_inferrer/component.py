"""The BulkInferrer component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.bulk_inferrer.config import BulkInferrerParameters
from gristmill.components.bulk_inferrer.executor import BulkInferrerExecutor
from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.metadata.standard_artifacts import (
    Examples,
    InferenceResult,
    Model,
    ModelBlessing,
)


class BulkInferrer(BaseComponent):
    """Predicts for unlabelled examples with a (blessed) model.

    Inputs: ``examples`` (Examples), ``model`` (Model), optional ``model_blessing``.
    Parameters: :class:`BulkInferrerParameters`. Outputs: ``output_examples`` (Examples) and
    ``inference_result`` (InferenceResult).
    """

    INPUTS = {"examples": InputSpec(Examples), "model": InputSpec(Model),
              "model_blessing": InputSpec(ModelBlessing, optional=True)}
    OUTPUTS = {"output_examples": OutputSpec(Examples),
               "inference_result": OutputSpec(InferenceResult)}
    PARAMETERS = BulkInferrerParameters
    EXECUTOR = BulkInferrerExecutor
