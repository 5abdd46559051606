"""The Trainer's default ``run_fn``: train a built-in model from hyperparameters alone.

Also the torchrun worker entry point: with several local GPUs the default path relaunches
itself as ``python -m torch.distributed.run --nproc_per_node=N -m
gristmill.components.trainer.run fn_args.json`` and every rank trains with DDP.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from typing import Any

from gristmill.components.framework.fn_args import FnArgs
from gristmill.components.framework.trainer_config import TrainerConfig
from gristmill.metadata.errors import ConfigError, ExecutorError

log = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
CURVES_FILE = "curves.csv"
METRICS_FILE = "metrics.json"


def default_run_fn(fn_args: FnArgs) -> dict[str, float]:
    """Train ``TrainerConfig(**fn_args.hyperparameters)`` and write the bundle and curves.

    Returns:
        The final (best-epoch) metrics.

    Raises:
        ConfigError: No ``label_key``, or unknown hyperparameter names.
        ExecutorError: The loss went NaN before any epoch finished cleanly.
    """
    config = _config(fn_args)
    if _launch_ddp(fn_args, config):
        return read_metrics(fn_args.model_run_dir)
    from gristmill.engine.distributed import rank_and_world
    from gristmill.engine.tabular import train_tabular

    prepared, init_weights = _warm_start(fn_args.base_model)
    if prepared is not None and hasattr(prepared.encoder, "inputs_are_transformed"):
        prepared.encoder.inputs_are_transformed = fn_args.examples_are_transformed
    result = train_tabular(
        fn_args.train_files, fn_args.eval_files or None, config.label_key or "",
        model=config.model, model_kwargs=config.model_kwargs(),
        config=config.train_config(os.path.join(fn_args.model_run_dir, "checkpoints"),
                                   fn_args.train_steps, fn_args.eval_steps),
        task=config.task, transform=fn_args.load_transform(),
        inputs_are_transformed=fn_args.examples_are_transformed, device=config.device,
        residency=config.data_residency, categorical=config.categorical_features,
        weight_key=config.weight_key, init_weights=init_weights, prepared=prepared,
        on_epoch_end=lambda epoch, metrics: fn_args.log_metrics(metrics, step=epoch))
    fit = result.fit
    if fit.stopped_reason == "nan_loss" and fit.best_epoch is None:
        raise ExecutorError("Trainer: the training loss became NaN/inf before any epoch "
                            f"finished (history: {fit.history}).",
                            fix="lower learning_rate, set clip_grad_norm, or check the data "
                                "for extreme values")
    final = fit.final_metrics
    # Say whether a checkpoint was resumed or another run's was discarded (issue 14 #10).
    fn_args.log_metrics({"resumed_from_epoch": float(fit.resumed_from_epoch),
                         "stale_checkpoint_discarded": float(bool(fit.checkpoint_discarded))})
    if rank_and_world()[0] == 0:
        summary = {"best_epoch": fit.best_epoch, "stopped_reason": fit.stopped_reason,
                   "steps": fit.steps, "skipped_rows": result.prepared.skipped_rows,
                   "resumed_from_epoch": fit.resumed_from_epoch,
                   "checkpoint_discarded": fit.checkpoint_discarded}
        fn_args.save_bundle(result.model, result.prepared, exports=tuple(config.exports),
                            extra={"metrics": final, "training": summary,
                                   "hyperparameters": config.model_dump()})
        write_model_run(fn_args.model_run_dir, fit.history, final, summary)
    return final


def _config(fn_args: FnArgs) -> TrainerConfig:
    import pydantic

    try:
        config = TrainerConfig.model_validate(fn_args.hyperparameters)
    except pydantic.ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
                             for err in e.errors())
        raise ConfigError(f"Trainer: invalid hyperparameters for the built-in model: "
                          f"{problems}.", fix="use TrainerConfig field names, or pass your "
                          "own run_fn for custom hyperparameters") from e
    if not config.label_key:
        raise ConfigError("Trainer: the built-in model needs a label column, got none.",
                          fix="pass config=TrainerConfig(label_key='<column>')")
    return config


def _warm_start(base_model: str | None) -> tuple[Any, Any]:
    """Reuse a base bundle's encoding (so ids mean the same) and its weights."""
    if not base_model:
        return None, None
    from safetensors.torch import load_file

    from gristmill.engine.labels import LabelSpec
    from gristmill.engine.serving import WEIGHTS_FILE, load_encoder, read_config
    from gristmill.engine.tabular import Prepared

    config = read_config(base_model)
    prepared = Prepared(load_encoder(base_model, config), LabelSpec.from_config(config["label"]))
    return prepared, load_file(os.path.join(base_model, WEIGHTS_FILE))


def write_model_run(directory: str, history: list[dict[str, float]], final: dict[str, float],
                    summary: dict[str, Any]) -> None:
    """Write ``history.json``, ``curves.csv`` and ``metrics.json`` into the ModelRun dir."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, HISTORY_FILE), "w", encoding="utf-8") as f:
        json.dump(history, f, indent=2)
    keys = sorted({k for row in history for k in row}, key=lambda k: (k != "epoch", k))
    with open(os.path.join(directory, CURVES_FILE), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    with open(os.path.join(directory, METRICS_FILE), "w", encoding="utf-8") as f:
        json.dump({"final": final, **summary}, f, indent=2)


def read_metrics(directory: str) -> dict[str, float]:
    """Final metrics written by :func:`write_model_run` (empty when absent)."""
    path = os.path.join(directory, METRICS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return dict(json.load(f).get("final", {}))


def read_history(directory: str) -> list[dict[str, float]]:
    """Per-epoch metrics written by :func:`write_model_run` (empty when absent)."""
    path = os.path.join(directory, HISTORY_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return list(json.load(f))


def _launch_ddp(fn_args: FnArgs, config: TrainerConfig) -> bool:
    """With 2+ GPUs (and not already a worker), run the default path under torchrun."""
    from gristmill.engine.distributed import gpu_count

    n = gpu_count()
    if config.distributed != "auto" or n < 2 or "WORLD_SIZE" in os.environ:
        return False
    path = os.path.join(fn_args.working_dir or fn_args.model_run_dir, "fn_args.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fn_args.to_json(path)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={n}", "-m", "gristmill.components.trainer.run", path]
    log.info("training on %d GPUs with DDP: %s", n, " ".join(cmd))
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        raise ExecutorError(f"Trainer: DDP training under torchrun failed with exit code "
                            f"{done.returncode} (command: {' '.join(cmd)}).",
                            fix="read the worker logs above, or set distributed='off'")
    for row in read_history(fn_args.model_run_dir):
        fn_args.log_metrics(row, step=int(row["epoch"]))
    return True


def _worker_main(path: str) -> None:
    from gristmill.engine.distributed import init_from_env

    device = init_from_env()
    fn_args = FnArgs.from_json(path)
    fn_args.hyperparameters = {**fn_args.hyperparameters, "device": str(device)}
    default_run_fn(fn_args)


if __name__ == "__main__":
    _worker_main(sys.argv[1])
