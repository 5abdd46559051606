"""The Pusher component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.pusher.config import PusherParameters
from gristmill.components.pusher.executor import PusherExecutor
from gristmill.metadata.standard_artifacts import (
    Examples,
    ExampleStatistics,
    InfraBlessing,
    Model,
    ModelBlessing,
    ModelEvaluation,
    PushedModel,
    Schema,
)


class Pusher(BaseComponent):
    """Pushes a blessed model to a versioned directory and the MLflow Model Registry.

    Inputs: ``model`` (Model), optional ``model_blessing`` (ModelBlessing), optional
    ``infra_blessing`` (InfraBlessing). Optional inputs read only for the model card
    (``model_card.html``): ``evaluation`` (ModelEvaluation: metrics per slice, fairness,
    attributions), ``statistics`` (ExampleStatistics), ``schema`` (Schema) and ``examples``
    (Examples: row counts per split). Parameters: :class:`PusherParameters` (its
    ``model_card`` holds the intended-use fields). Output: ``pushed_model`` (PushedModel).
    """

    INPUTS = {"model": InputSpec(Model), "model_blessing": InputSpec(ModelBlessing, optional=True),
              "infra_blessing": InputSpec(InfraBlessing, optional=True),
              "evaluation": InputSpec(ModelEvaluation, optional=True),
              "statistics": InputSpec(ExampleStatistics, optional=True),
              "schema": InputSpec(Schema, optional=True),
              "examples": InputSpec(Examples, optional=True)}
    OUTPUTS = {"pushed_model": OutputSpec(PushedModel)}
    PARAMETERS = PusherParameters
    EXECUTOR = PusherExecutor
    VERSION = "2"  # 2: writes model_card.html (a cached push from before has none)

    def fingerprint_external_inputs(self) -> dict[str, str] | None:
        """The manual blessings on record (``gristmill bless``): a new one re-runs the Pusher
        instead of reusing a cached verdict; ``None`` while there are none."""
        from gristmill.components.pusher.manual_override import ledger_fingerprint

        digest = ledger_fingerprint()
        return {"manual_blessings": digest} if digest else None
