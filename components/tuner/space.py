"""The Tuner's search space, samplers and per-trial MLflow child runs."""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import pydantic

from gristmill.metadata.errors import ConfigError

log = logging.getLogger(__name__)


class Dimension(pydantic.BaseModel):
    """One searched hyperparameter.

    Attributes:
        type: ``float``, ``int`` or ``categorical``.
        low: Lower bound (float/int).
        high: Upper bound, inclusive (float/int).
        log: Sample on a log scale (float/int).
        step: Grid step (int default 1; float needs one for grid search).
        choices: The values of a categorical dimension (any JSON values, e.g. lists).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> Dimension:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs non-empty choices")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError(f"a {self.type} dimension needs low <= high, got low={self.low} "
                             f"high={self.high}")
        return self

    def grid(self, name: str) -> list[Any]:
        """The values grid search visits.

        Raises:
            ConfigError: A float dimension without ``step``.
        """
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))  # type: ignore[arg-type]
        if not self.step:
            raise ConfigError(f"Tuner(search_space[{name!r}]): grid search needs a step for "
                              f"float dimensions, got none.",
                              fix=f"add step=..., or make {name!r} categorical")
        count = int(round((self.high - self.low) / self.step)) + 1  # type: ignore[operator]
        return [round(self.low + i * self.step, 12) for i in range(count)]  # type: ignore


def normalize_space(space: dict[str, Dimension | list[Any]]) -> dict[str, Dimension]:
    """Lists are shorthand for categorical dimensions."""
    return {name: dim if isinstance(dim, Dimension) else Dimension(type="categorical",
                                                                 choices=list(dim))
            for name, dim in space.items()}


def is_scalar_choice(choice: Any) -> bool:
    """Optuna takes str, int, float, bool and None choices; others are suggested by index."""
    return isinstance(choice, (str, int, float, bool)) or choice is None


def suggest(trial: Any, space: dict[str, Dimension]) -> dict[str, Any]:
    """Draw one point of ``space`` from an Optuna trial.

    Categorical choices that are not scalars (e.g. ``hidden_units`` lists) are suggested by
    index, so every sampler can handle them.
    """
    params: dict[str, Any] = {}
    for name, dim in space.items():
        if dim.type == "float":
            params[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log,
                                               step=None if dim.log else dim.step)
        elif dim.type == "int":
            params[name] = trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log,
                                             step=int(dim.step or 1))
        elif all(is_scalar_choice(c) for c in dim.choices or []):
            params[name] = trial.suggest_categorical(name, dim.choices)
        else:
            index = trial.suggest_categorical(f"{name}__index", list(range(len(dim.choices))))
            params[name] = dim.choices[index]  # type: ignore[index]
    return params


def grid_space(space: dict[str, Dimension]) -> dict[str, list[Any]]:
    """Optuna GridSampler's search space (non-scalar choices by index)."""
    grid = {}
    for name, dim in space.items():
        values = dim.grid(name)
        if dim.type == "categorical" and not all(is_scalar_choice(c) for c in values):
            grid[f"{name}__index"] = list(range(len(values)))
        else:
            grid[name] = values
    return grid


def grid_size(space: dict[str, Dimension]) -> int:
    """Number of points in the full grid."""
    return math.prod(len(values) for values in grid_space(space).values())


def make_sampler(algorithm: str, space: dict[str, Dimension], seed: int) -> Any:
    """``random`` or ``tpe`` (Optuna's TPE) sampler.

    Grid search and random search over a finite space run enqueued, distinct points
    (:func:`gristmill.components.tuner.plan.plan_trials`); their sampler draws nothing.
    """
    import optuna

    if algorithm in ("random", "grid"):
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


class TrialRuns:
    """Per-trial MLflow child runs under the component's run, or prefixed metrics.

    With ``tracking_uri`` and ``parent_run_id`` each trial becomes a child run (tag
    ``mlflow.parentRunId``) holding its parameters and curve; otherwise curves go through
    ``log_metrics`` as ``trial_<n>/<metric>``. Failures to report only warn.
    """

    def __init__(self, log_metrics: Any, tracking_uri: str | None, parent_run_id: str | None):
        self.log_metrics = log_metrics
        self.client = self.experiment_id = None
        self.parent = parent_run_id
        if tracking_uri and parent_run_id:
            try:
                from mlflow.tracking import MlflowClient

                self.client = MlflowClient(tracking_uri)
                self.experiment_id = self.client.get_run(parent_run_id).info.experiment_id
            except Exception as e:  # the UI mirror must never fail tuning
                log.warning("MLflow child runs disabled: %s", e)
                self.client = None

    def start(self, number: int, params: dict[str, Any]) -> str | None:
        """Open trial ``number``'s child run; returns its run id (``None`` without MLflow)."""
        if self.client is None:
            return None
        try:
            run = self.client.create_run(self.experiment_id, run_name=f"trial-{number}",
                                         tags={"mlflow.parentRunId": self.parent,
                                               "gristmill.trial": str(number)})
            for key, value in params.items():
                self.client.log_param(run.info.run_id, key, str(value)[:500])
            return run.info.run_id
        except Exception as e:
            log.warning("could not create the MLflow run of trial %d: %s", number, e)
            return None

    def epoch(self, number: int, run_id: str | None, epoch: int,
              metrics: dict[str, float]) -> None:
        """Record one epoch of trial ``number``."""
        if run_id is None:
            self.log_metrics({f"trial_{number}/{k}": v for k, v in metrics.items()
                              if k != "epoch"}, step=epoch)
            return
        try:
            for key, value in metrics.items():
                if key != "epoch":
                    self.client.log_metric(run_id, key, float(value), step=epoch)
        except Exception as e:
            log.warning("MLflow logging of trial %d failed: %s", number, e)

    def finish(self, run_id: str | None, failed: bool) -> None:
        """Close a child run."""
        if run_id is not None:
            try:
                self.client.set_terminated(run_id, "FAILED" if failed else "FINISHED")
            except Exception as e:
                log.warning("could not close MLflow run %s: %s", run_id, e)
