"""Trainer: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gristmill.components.framework.base import Parameters
from gristmill.components.framework.trainer_config import EvalArgs, TrainArgs, TrainerConfig


class TrainerParameters(Parameters):
    """Trainer parameters.

    Attributes:
        module_file: A ``.py`` file defining ``run_fn`` (or the name given in ``run_fn``).
        run_fn: A callable, ``"package.module.fn"``, or a function name in ``module_file``.
            Neither given: the built-in model trains from ``config``.
        train_args: Train splits and step budget.
        eval_args: Eval splits and step budget.
        config: Hyperparameters of the built-in path; passed to every ``run_fn`` as
            ``fn_args.hyperparameters`` (merged under the ``hyperparameters`` input).
        custom_config: Free-form settings for your ``run_fn``.
    """

    module_file: str | None = None
    run_fn: Callable[..., Any] | str | None = None
    train_args: TrainArgs = TrainArgs()
    eval_args: EvalArgs = EvalArgs()
    config: TrainerConfig = TrainerConfig()
    custom_config: dict[str, Any] = {}
