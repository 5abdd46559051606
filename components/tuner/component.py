"""The Tuner component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.tuner.config import TunerParameters
from gristmill.components.tuner.executor import TunerExecutor
from gristmill.metadata.standard_artifacts import (
    Examples,
    HyperParameters,
    Schema,
    TransformGraph,
    TunerResults,
)


class Tuner(BaseComponent):
    """Searches hyperparameters; outputs ``best_hyperparameters`` and ``tuner_results``.

    Inputs: ``examples`` (Examples), optional ``transform_graph`` (TransformGraph) and
    ``schema`` (Schema). Parameters: :class:`TunerParameters`. Feed
    ``outputs["best_hyperparameters"]`` to ``Trainer(hyperparameters=...)``.
    """

    INPUTS = {"examples": InputSpec(Examples),
              "transform_graph": InputSpec(TransformGraph, optional=True),
              "schema": InputSpec(Schema, optional=True)}
    OUTPUTS = {"best_hyperparameters": OutputSpec(HyperParameters),
               "tuner_results": OutputSpec(TunerResults)}
    PARAMETERS = TunerParameters
    EXECUTOR = TunerExecutor
    VERSION = "1"
