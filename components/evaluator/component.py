"""The Evaluator component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.evaluator.config import EvaluatorParameters
from gristmill.components.evaluator.executor import EvaluatorExecutor
from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.metadata.standard_artifacts import (
    Examples,
    Model,
    ModelBlessing,
    ModelEvaluation,
    Schema,
)


class Evaluator(BaseComponent):
    """Computes metrics of a model on eval examples and blesses or rejects it.

    Inputs: ``examples`` (Examples), ``model`` (Model), optional ``baseline_model`` (Model,
    for change thresholds), optional ``schema`` (accepted for TFX parity; the bundle already
    knows its features). Parameters: :class:`EvaluatorParameters`.
    Outputs: ``evaluation`` (ModelEvaluation), ``blessing`` (ModelBlessing).
    """

    INPUTS = {"examples": InputSpec(Examples), "model": InputSpec(Model),
              "baseline_model": InputSpec(Model, optional=True),
              "schema": InputSpec(Schema, optional=True)}
    OUTPUTS = {"evaluation": OutputSpec(ModelEvaluation), "blessing": OutputSpec(ModelBlessing)}
    PARAMETERS = EvaluatorParameters
    EXECUTOR = EvaluatorExecutor
