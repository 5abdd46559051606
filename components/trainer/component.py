"""The Trainer component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.trainer.config import TrainerParameters
from gristmill.components.trainer.executor import TrainerExecutor
from gristmill.metadata.standard_artifacts import (
    Examples,
    HyperParameters,
    Model,
    ModelRun,
    Schema,
    TransformGraph,
)


class Trainer(BaseComponent):
    """Trains a model; outputs ``model`` (serving bundle) and ``model_run`` (curves).

    Inputs: ``examples`` (Examples), optional ``transform_graph`` (TransformGraph),
    ``schema`` (Schema), ``hyperparameters`` (HyperParameters, e.g. from the Tuner) and
    ``base_model`` (Model, warm start). Parameters: :class:`TrainerParameters`.
    """

    INPUTS = {"examples": InputSpec(Examples),
              "transform_graph": InputSpec(TransformGraph, optional=True),
              "schema": InputSpec(Schema, optional=True),
              "hyperparameters": InputSpec(HyperParameters, optional=True),
              "base_model": InputSpec(Model, optional=True)}
    OUTPUTS = {"model": OutputSpec(Model), "model_run": OutputSpec(ModelRun)}
    PARAMETERS = TrainerParameters
    EXECUTOR = TrainerExecutor
    VERSION = "1"
