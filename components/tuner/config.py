"""Tuner: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pydantic

from gristmill.components.framework.base import Parameters
from gristmill.components.framework.trainer_config import EvalArgs, TrainArgs, TrainerConfig
from gristmill.components.tuner.space import (
    Dimension,
)


class TunerParameters(Parameters):
    """Tuner parameters.

    Attributes:
        search_space: Name -> :class:`Dimension` (or a list: categorical shorthand), over
            ``TrainerConfig`` fields (or your ``trial_fn``'s own names).
        algorithm: ``tpe`` (Optuna's TPE), ``random`` or ``grid``.
        num_trials: Trials to run (grid default: the whole grid; others: 10).
        num_parallel_trials: Trials run at once (threads).
        objective: Metric to optimize, e.g. ``val_loss`` or ``val_accuracy``.
        direction: ``minimize``/``maximize`` (default: maximize accuracy-like names).
        config: Fixed hyperparameters of every trial (``label_key``, ``epochs`` ...).
        train_args: Train splits and step budget per trial.
        eval_args: Eval splits and batch budget per trial.
        trial_fn: Optional ``fn(fn_args) -> dict of metrics | float`` replacing the
            built-in model; a callable or ``"package.module.fn"``.
        custom_config: Passed to ``trial_fn`` as ``fn_args.custom_config``.
        seed: Sampler seed.
    """

    search_space: dict[str, Dimension | list[Any]]
    algorithm: Literal["tpe", "random", "grid"] = "tpe"
    num_trials: int | None = pydantic.Field(None, ge=1)
    num_parallel_trials: int = pydantic.Field(1, ge=1)
    objective: str = "val_loss"
    direction: Literal["minimize", "maximize"] | None = None
    config: TrainerConfig = TrainerConfig()
    train_args: TrainArgs = TrainArgs()
    eval_args: EvalArgs = EvalArgs()
    trial_fn: Callable[..., Any] | str | None = None
    custom_config: dict[str, Any] = {}
    seed: int = 0
