"""Which points the Tuner trains: finite spaces are sampled without replacement.

Random search over a finite space (categorical choices, ints, floats with a ``step``) drew
points independently, so small spaces repeated trials (the same hyperparameters 3 times in
6 trials). :func:`plan_trials` instead draws distinct points up front, and says when the
space has fewer points than the trials asked for. Grid search takes the same path (the
whole grid, or a seeded random part of it), which also keeps parallel trials from visiting a
point twice. The points are handed to Optuna as enqueued trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gristmill.components.tuner.space import Dimension, is_scalar_choice

#: Trials of random and TPE search when ``num_trials`` is not given.
DEFAULT_TRIALS = 10


@dataclass
class TrialPlan:
    """The trials to run.

    Attributes:
        num_trials: How many trials to run.
        points: Optuna parameters of each trial, in order (``None``: the sampler draws).
        distinct_points: Points in the space when it is finite, else ``None``.
        exhausted: More trials were asked for than the space has points.
        note: What to tell the user about the plan (``""``: nothing).
    """

    num_trials: int
    points: list[dict[str, Any]] | None = None
    distinct_points: int | None = None
    exhausted: bool = False
    note: str = field(default="")


def dimension_values(name: str, dim: Dimension, algorithm: str) -> tuple[list[Any], np.ndarray]:
    """A finite dimension's values and their sampling weights (log-uniform for ``log`` ints).

    Grid search weighs every value alike. Raises ``ConfigError`` (from :meth:`Dimension.grid`)
    for a float dimension without a step.
    """
    values = dim.grid(name)
    if algorithm == "random" and dim.type == "int" and dim.log:
        # Optuna draws log ints as a log-uniform float in [low - 0.5, high + 0.5], rounded.
        weights = np.array([math.log(v + 0.5) - math.log(max(v - 0.5, 1e-12))
                            for v in values])
    else:
        weights = np.ones(len(values))
    return values, weights / weights.sum()


def is_finite(space: dict[str, Dimension]) -> bool:
    """True when every dimension has finitely many values (floats need a linear ``step``)."""
    return all(d.type != "float" or (d.step and not d.log) for d in space.values())


def plan_trials(algorithm: str, space: dict[str, Dimension], num_trials: int | None,
                seed: int) -> TrialPlan:
    """The trials of a search: distinct points for grid search and finite random search.

    Args:
        algorithm: ``tpe``, ``random`` or ``grid``.
        space: The normalized search space.
        num_trials: Trials asked for (``None``: the whole grid, or :data:`DEFAULT_TRIALS`).
        seed: Seed of the draw.
    """
    if algorithm == "tpe" or (algorithm == "random" and not is_finite(space)):
        return TrialPlan(num_trials or DEFAULT_TRIALS)
    names = list(space)
    table = [dimension_values(n, space[n], algorithm) for n in names]
    size = math.prod(len(values) for values, _ in table)
    wanted = num_trials or (size if algorithm == "grid" else DEFAULT_TRIALS)
    rng = np.random.default_rng(seed)
    if size <= wanted:
        indexes = [tuple(int(i) for i in np.unravel_index(k, [len(v) for v, _ in table]))
                   for k in range(size)]
        order = rng.permutation(size) if algorithm == "random" else range(size)
        indexes = [indexes[k] for k in order]
    else:
        indexes = _distinct_draws(table, wanted, rng)
    points = [_optuna_params(names, space, table, index) for index in indexes]
    plan = TrialPlan(len(points), points, size, exhausted=size < wanted)
    if plan.exhausted:
        plan.note = (f"the search space has only {size} distinct points, fewer than the "
                     f"{wanted} trials asked for: ran each point once ({size} trials)")
    return plan


def _distinct_draws(table: list[tuple[list[Any], np.ndarray]], wanted: int,
                    rng: np.random.Generator) -> list[tuple[int, ...]]:
    """``wanted`` distinct index tuples drawn by the per-dimension weights.

    Rejection sampling while the space is much larger than ``wanted``; otherwise one
    weighted draw without replacement over every point (then the space is small).
    """
    shape = [len(values) for values, _ in table]
    size = math.prod(shape)
    if 2 * wanted >= size:
        joint = np.ones(1)
        for _, weights in table:
            joint = np.outer(joint, weights).ravel()
        picked = rng.choice(size, wanted, replace=False, p=joint / joint.sum())
        return [tuple(int(i) for i in np.unravel_index(int(k), shape)) for k in picked]
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < wanted:
        seen.setdefault(tuple(int(rng.choice(len(values), p=weights))
                              for values, weights in table), None)
    return list(seen)


def _optuna_params(names: list[str], space: dict[str, Dimension],
                   table: list[tuple[list[Any], np.ndarray]],
                   index: tuple[int, ...]) -> dict[str, Any]:
    """One point as the parameter names :func:`~.space.suggest` asks Optuna for."""
    params: dict[str, Any] = {}
    for name, (values, _), i in zip(names, table, index, strict=True):
        dim = space[name]
        if dim.type == "categorical" and not all(is_scalar_choice(c) for c in values):
            params[f"{name}__index"] = i
        else:
            params[name] = values[i]
    return params
