"""``tfx.components.TunerFnResult``: importable, refused when built (no KerasTuner here)."""

from __future__ import annotations

from typing import Any

from gristmill.metadata.errors import ConfigError
from gristmill.orchestrator.tfx.components import _TUNER_FIX


class TunerFnResult:
    """TFX's ``tuner_fn`` return value (a KerasTuner and fit kwargs).

    A module that imports it still imports; building one is refused, because a KerasTuner
    cannot tune a PyTorch model.

    Raises:
        ConfigError: Always, naming the built-in Tuner.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        raise ConfigError("TunerFnResult: tuner_fn returns a KerasTuner, which cannot tune "
                          "Gristmill's PyTorch models.", fix=_TUNER_FIX)
