"""Tuner: random, grid or TPE search (Optuna) over the Trainer's hyperparameters.

Each trial trains on the train split(s) and scores on the eval split(s); trials may run in
parallel threads. Outputs ``best_hyperparameters`` (``best_hyperparameters.json``: the
searched names only, which the Trainer merges over its own config) and ``tuner_results``
(``trials.json``, ``trials.csv``). Each trial is a nested MLflow run when the mirror is on.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pydantic

from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.framework.fn_args import (
    HYPERPARAMETERS_FILE,
    FnArgs,
    first_artifact,
    resolve_split_files,
)
from gristmill.components.framework.trainer_config import TrainerConfig
from gristmill.components.tuner.config import TunerParameters
from gristmill.components.tuner.plan import TrialPlan, plan_trials
from gristmill.components.tuner.space import (
    Dimension,
    TrialRuns,
    make_sampler,
    normalize_space,
    suggest,
)
from gristmill.metadata.errors import ConfigError, ExecutorError
from gristmill.metadata.types import Artifact

log = logging.getLogger(__name__)

TRIALS_FILE = "trials.json"
TRIALS_CSV = "trials.csv"


class TunerExecutor(BaseExecutor):
    """Runs an Optuna study; writes the best point and every trial."""

    def Do(self, input_dict: dict[str, list[Artifact]], output_dict: dict[str, list[Artifact]],
           exec_properties: TunerParameters) -> None:
        """Search; see :class:`Tuner`."""
        import optuna

        params = exec_properties
        space = normalize_space(params.search_space)
        plan = plan_trials(params.algorithm, space, params.num_trials, params.seed)
        if plan.note:
            log.warning("Tuner: %s", plan.note)
        direction = params.direction or (
            "maximize" if any(k in params.objective for k in ("accuracy", "auc")) else "minimize")
        objective = _Objective(self, input_dict, params, space)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction=direction,
                                    sampler=make_sampler(params.algorithm, space, params.seed))
        for point in plan.points or []:
            study.enqueue_trial(point)
        study.optimize(objective, n_trials=plan.num_trials, n_jobs=params.num_parallel_trials,
                       catch=(Exception,))
        done = [r for r in objective.records if r["state"] == "COMPLETE"]
        if not done:
            errors = "; ".join(r.get("error", "") for r in objective.records)[:1000]
            raise ExecutorError(f"Tuner: all {len(objective.records)} trials failed: {errors}",
                                fix="check the first error above; run one trial with the "
                                    "Trainer to debug it")
        best = (min if direction == "minimize" else max)(done, key=lambda r: r["value"])
        self._write(output_dict, objective.records, best, params.objective, direction, plan)

    def _write(self, output_dict: dict[str, list[Artifact]], records: list[dict[str, Any]],
               best: dict[str, Any], objective: str, direction: str, plan: TrialPlan) -> None:
        hp, results = output_dict["best_hyperparameters"][0], output_dict["tuner_results"][0]
        with open(os.path.join(hp.uri, HYPERPARAMETERS_FILE), "w", encoding="utf-8") as f:
            json.dump(best["params"], f, indent=2)
        records = sorted(records, key=lambda r: r["number"])
        with open(os.path.join(results.uri, TRIALS_FILE), "w", encoding="utf-8") as f:
            json.dump({"objective": objective, "direction": direction,
                       "best_trial": best["number"], "distinct_points": plan.distinct_points,
                       "space_exhausted": plan.exhausted, "note": plan.note,
                       "trials": records}, f, indent=2)
        keys = sorted({k for r in records for k in r["params"]})
        with open(os.path.join(results.uri, TRIALS_CSV), "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["number", "state", "value", "seconds", *keys])
            for r in records:
                writer.writerow([r["number"], r["state"], r.get("value"), r["seconds"],
                                 *[json.dumps(r["params"].get(k)) for k in keys]])
        hp.set_custom_property("best_value", best["value"])
        hp.set_custom_property("best_trial", best["number"])
        results.set_custom_property("num_trials", len(records))
        results.set_custom_property("space_exhausted", int(plan.exhausted))
        results.set_custom_property("failed_trials",
                                    sum(r["state"] != "COMPLETE" for r in records))
        self.context.log_metrics({f"best_{objective}": best["value"],
                                  "num_trials": float(len(records)),
                                  "space_exhausted": float(plan.exhausted)})


class _Objective:
    """Callable for ``study.optimize``: one trial = one training run."""

    def __init__(self, executor: TunerExecutor, input_dict: dict[str, list[Artifact]],
                 params: TunerParameters, space: dict[str, Dimension]):
        self.params, self.space, self.context = params, space, executor.context
        examples = input_dict["examples"][0]
        self.train_files = resolve_split_files(examples, params.train_args.splits, "train_args")
        self.eval_files = resolve_split_files(examples, params.eval_args.splits, "eval_args")
        transform = first_artifact(input_dict, "transform_graph")
        self.transform_path = transform.uri if transform else None
        self.transformed = bool(transform) and examples.output_key == "transformed_examples"
        self.runs = TrialRuns(self.context.log_metrics, self.context.tracking_uri,
                              self.context.mlflow_run_id)
        self.trial_fn = _resolve(params.trial_fn)
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, trial: Any) -> float:
        point = suggest(trial, self.space)
        run_id = self.runs.start(trial.number, point)
        record: dict[str, Any] = {"number": trial.number, "params": point, "state": "FAIL"}
        began = time.perf_counter()
        try:
            metrics = self._train(trial.number, run_id, point)
            if self.params.objective not in metrics:
                raise ValueError(f"objective {self.params.objective!r} was not reported; "
                                 f"set objective= to one of {sorted(metrics)}")
            value = float(metrics[self.params.objective])
            if not math.isfinite(value):
                raise ValueError(f"objective {self.params.objective} is {value}")
            record.update(state="COMPLETE", value=value, metrics=metrics)
            return value
        except Exception as e:
            record["error"] = f"{type(e).__name__}: {e}"
            log.warning("trial %d failed: %s", trial.number, record["error"])
            raise
        finally:
            record["seconds"] = round(time.perf_counter() - began, 3)
            self.runs.finish(run_id, record["state"] != "COMPLETE")
            with self._lock:
                self.records.append(record)

    def _train(self, number: int, run_id: str | None, point: dict[str, Any]) -> dict[str, float]:
        hparams = {**self.params.config.model_dump(), **point}
        on_epoch = lambda metrics, step=None: self.runs.epoch(number, run_id, step or 0, metrics)  # noqa: E731
        if self.trial_fn is not None:
            fn_args = FnArgs(train_files=self.train_files, eval_files=self.eval_files,
                             serving_model_dir="", model_run_dir="",
                             train_steps=self.params.train_args.num_steps,
                             eval_steps=self.params.eval_args.num_steps,
                             transform_graph_path=self.transform_path, hyperparameters=hparams,
                             custom_config=dict(self.params.custom_config),
                             label_key=hparams.get("label_key"),
                             examples_are_transformed=self.transformed,
                             working_dir=self.context.tmp_dir, log_metrics=on_epoch)
            out = self.trial_fn(fn_args)
            return {self.params.objective: float(out)} if isinstance(out, (int, float)) \
                else {k: float(v) for k, v in dict(out).items()}
        return self._train_builtin(hparams, on_epoch)

    def _train_builtin(self, hparams: dict[str, Any], on_epoch: Any) -> dict[str, float]:
        from gristmill.engine.tabular import train_tabular
        from gristmill.engine.transform_fn import FittedTransform

        try:
            config = TrainerConfig.model_validate(hparams)
        except pydantic.ValidationError as e:
            raise ConfigError(f"Tuner: the search space yields invalid hyperparameters: {e}",
                              fix="search only TrainerConfig fields, or pass trial_fn") from e
        if not config.label_key:
            raise ConfigError("Tuner: config has no label_key.",
                              fix="pass config=TrainerConfig(label_key='<column>')")
        transform = FittedTransform.load(self.transform_path) if self.transform_path else None
        result = train_tabular(
            self.train_files, self.eval_files, config.label_key, model=config.model,
            model_kwargs=config.model_kwargs(),
            # Trials never checkpoint: a stable TrainerConfig.checkpoint_dir is the
            # Trainer's, and trials sharing it would overwrite each other's checkpoints.
            config=dataclasses.replace(config.train_config(None, self.params.train_args.num_steps,
                                                           self.params.eval_args.num_steps),
                                       checkpoint_dir=None),
            task=config.task, transform=transform, inputs_are_transformed=self.transformed,
            device=config.device, residency=config.data_residency,
            categorical=config.categorical_features, weight_key=config.weight_key,
            on_epoch_end=lambda epoch, metrics: on_epoch(metrics, step=epoch))
        return result.fit.final_metrics


def _resolve(fn: Callable[..., Any] | str | None) -> Callable[..., Any] | None:
    if fn is None or callable(fn):
        return fn
    import importlib

    module_name, _, attr = fn.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"Tuner(trial_fn={fn!r}): cannot import it: {e}.",
                          fix="pass 'package.module.function' importable here") from e
