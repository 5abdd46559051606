"""The training loop: fused AdamW, bf16 autocast on CUDA, schedules, early stopping,
checkpoints and resume, NaN stop, class weights, optional ``torch.compile`` and DDP.

Batches come from :class:`gristmill.engine.data.TensorData` (device-resident, index
batched) or any object with the same ``batches``/``num_batches`` methods (streaming).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from gristmill.engine import distributed
from gristmill.engine.checkpoint import (
    CheckpointMismatch,
    LoopState,
    load_checkpoint,
    run_identity,
    save_checkpoint,
)
from gristmill.engine.device import (
    autocast_context,
    autocast_dtype,
    cpu_thread_limit,
    deterministic_mode,
    seed_everything,
    select_device,
)
from gristmill.engine.models import dropout_generator
from gristmill.engine.objectives import class_weight_tensor, compute_loss, evaluate
from gristmill.engine.optim import make_optimizer, make_scheduler
from gristmill.engine.progress import EpochProgress

log = logging.getLogger(__name__)

#: Check the running loss for NaN/inf every this many steps (each check syncs the device).
NAN_CHECK_EVERY = 50
#: Per-step work (batch rows x trainable parameters) under which CPU training uses one
#: thread: more intra-op threads cost more in synchronisation than they save, and on a busy
#: machine their spin-waiting made small steps 5-30x slower (2 cores: an 8.6k-parameter MLP,
#: 100 steps of 4,096 rows took 0.44 s on one thread, 15.6 s on two).
SINGLE_THREAD_WORK = 64_000_000


@dataclass
class TrainConfig:
    """Settings of one training run (all JSON-able, recorded with the model run).

    Attributes:
        epochs: Passes over the training data.
        batch_size: Examples per step (per process under DDP).
        learning_rate: Peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        clip_grad_norm: Clip the global gradient norm to this value (``None``: no clipping).
        lr_schedule: ``constant``, ``cosine``, ``linear`` (decay to 0) or ``step``.
        warmup_steps: Linear warm-up steps before the schedule.
        step_epochs: For ``step``: multiply the LR by ``step_gamma`` every this many epochs.
        step_gamma: For ``step``: the factor.
        early_stopping_patience: Stop after this many epochs without improvement.
        early_stopping_metric: ``val_loss`` (default), ``val_accuracy``, ``train_loss`` ...
        min_delta: Smallest change that counts as improvement.
        restore_best: End with the weights of the best epoch.
        checkpoint_dir: Write ``last.pt`` here every epoch; resume from it when it holds a
            checkpoint of the same run (same data, settings and initial weights); another
            run's checkpoint is discarded with a warning (``FitResult.checkpoint_discarded``).
        class_weights: ``None``, ``"balanced"`` or one weight per class.
        compile: ``torch.compile`` the model (CUDA only; ignored with a warning elsewhere).
        precision: ``auto`` (bf16 autocast on CUDA), ``bf16`` or ``fp32``.
        seed: Seed for initialization, shuffling and dropout.
        deterministic: Deterministic kernels for this fit (``torch.use_deterministic_
            algorithms``, cuDNN deterministic, cuBLAS workspace; restored after). Needed
            for bit-identical GPU runs; CPU runs of the built-in models are bit-identical
            without it.
        max_steps: Stop after this many optimizer steps in total.
        eval_steps: Evaluate on at most this many batches.
        eval_batch_size: Batch size for evaluation (default: 4x ``batch_size``).
        progress: Show a progress bar on a terminal.
        cpu_threads: Intra-op threads when training on the CPU; ``None``: one thread when
            a step is small (see :data:`SINGLE_THREAD_WORK`), else torch's default.
    """

    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    clip_grad_norm: float | None = None
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    step_epochs: int = 10
    step_gamma: float = 0.5
    early_stopping_patience: int | None = None
    early_stopping_metric: str = "val_loss"
    min_delta: float = 0.0
    restore_best: bool = True
    checkpoint_dir: str | None = None
    class_weights: str | list[float] | None = None
    compile: bool = False
    precision: str = "auto"
    seed: int = 0
    deterministic: bool = False
    max_steps: int | None = None
    eval_steps: int | None = None
    eval_batch_size: int | None = None
    progress: bool = True
    cpu_threads: int | None = None


@dataclass
class FitResult:
    """What :func:`fit` reports.

    Attributes:
        history: Per-epoch metrics (``epoch``, ``train_loss``, ``val_loss`` ..., ``lr``,
            ``epoch_seconds``).
        best_epoch: Epoch whose weights the model ends with when ``restore_best``.
        best_metric: The early-stopping metric at ``best_epoch``.
        stopped_reason: ``completed``, ``early_stopping``, ``max_steps``, ``nan_loss`` or
            ``callback``.
        steps: Optimizer steps taken.
        resumed_from_epoch: Epochs already done in the checkpoint resumed from (0: fresh).
        checkpoint_discarded: Why a checkpoint found in ``checkpoint_dir`` was not resumed
            (it belongs to another run), else ``None``.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_reason: str = "completed"
    steps: int = 0
    resumed_from_epoch: int = 0
    checkpoint_discarded: str | None = None

    @property
    def final_metrics(self) -> dict[str, float]:
        """The metrics of the best epoch (or the last one)."""
        if not self.history:
            return {}
        by_epoch = {int(h["epoch"]): h for h in self.history}
        return dict(by_epoch.get(self.best_epoch or -1, self.history[-1]))


EpochCallback = Callable[[int, dict[str, float]], Any]


def _improved(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _metric_mode(name: str) -> str:
    return "max" if any(k in name for k in ("accuracy", "auc", "r2")) else "min"


class TrainingLoop:
    """One training run's moving parts; :func:`fit` drives it epoch by epoch.

    Benchmarks call :meth:`train_epoch` directly to time exactly what :func:`fit` runs.
    """

    def __init__(self, model: nn.Module, train: Any, eval_data: Any, task: str,
                 config: TrainConfig, device: torch.device, class_counts: Sequence[int],
                 target_std: float):
        self.model, self.train, self.eval_data = model, train, eval_data
        self.task, self.config, self.device, self.target_std = task, config, device, target_std
        self.rank, self.world = distributed.rank_and_world()
        self.train_model = self._wrap(model)
        self.dtype = autocast_dtype(device, config.precision)
        self.class_weight = class_weight_tensor(config.class_weights, class_counts, device) \
            if task == "classification" else None
        self.optimizer = make_optimizer(model, config, device)
        self.steps_per_epoch = train.num_batches(config.batch_size, self.world)
        self.scheduler = make_scheduler(self.optimizer, config, self.steps_per_epoch)
        gen_device = device if device.type == "cuda" else torch.device("cpu")
        self.generator = torch.Generator(device=gen_device)
        self.generator.manual_seed(config.seed)
        self.state = LoopState()
        self.discarded: str | None = None
        self.identity = run_identity(model, task, config_dict(config), (train, eval_data)) \
            if config.checkpoint_dir else None
        self.metric = config.early_stopping_metric if eval_data is not None \
            else config.early_stopping_metric.replace("val_", "train_")

    def _wrap(self, model: nn.Module) -> nn.Module:
        # DDP first, then compile: the order torch recommends (DDP's hooks are traced).
        wrapped = distributed.wrap_ddp(model, self.device) if self.world > 1 else model
        if self.config.compile:
            if self.device.type == "cuda":
                wrapped = torch.compile(wrapped)
            else:
                log.warning("compile=True ignored: torch.compile is only used on CUDA (got %s)",
                            self.device)
        return wrapped

    def train_epoch(self, progress: EpochProgress) -> tuple[float, str | None]:
        """One pass; returns (mean train loss, stop reason or None)."""
        self.train_model.train()
        total = torch.zeros((), device=self.device, dtype=torch.float32)
        seen, stop, cfg = 0, None, self.config
        batches = self.train.batches(cfg.batch_size, shuffle=True, generator=self.generator,
                                     rank=self.rank, world_size=self.world)
        for batch in batches:
            with autocast_context(self.device, self.dtype):
                out = self.train_model(batch.numeric, batch.categorical)
            loss = compute_loss(out.float(), batch.target, self.task, self.class_weight,
                                batch.weight)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad_norm:
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm, foreach=True)
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            n = len(batch)
            total.add_(loss.detach(), alpha=n)
            seen += n
            self.state.step += 1
            progress.advance()
            if self.state.step % NAN_CHECK_EVERY == 0 and not torch.isfinite(total):
                stop = "nan_loss"
                break
            if cfg.max_steps is not None and self.state.step >= cfg.max_steps:
                stop = "max_steps"
                break
        mean = distributed.mean_over_ranks(total, seen)
        if not math.isfinite(mean):
            stop = "nan_loss"
        return mean, stop

    def end_epoch(self, epoch: int, train_loss: float, seconds: float) -> dict[str, float]:
        """Evaluate, update early stopping, and return this epoch's metrics."""
        cfg = self.config
        metrics = {"epoch": float(epoch), "train_loss": train_loss,
                   "lr": float(self.optimizer.param_groups[0]["lr"]), "epoch_seconds": seconds}
        if self.eval_data is not None:
            ev = evaluate(self.model, self.eval_data, self.task,
                          cfg.eval_batch_size or 4 * cfg.batch_size, cfg.eval_steps,
                          self.target_std, cfg.precision)
            metrics.update({f"val_{k}": v for k, v in ev.items()})
        value = metrics.get(self.metric, train_loss)
        if math.isfinite(value) and _improved(value, self.state.best_metric,
                                              _metric_mode(self.metric), cfg.min_delta):
            self.state.best_metric, self.state.best_epoch = value, epoch
            self.state.epochs_without_improvement = 0
            if cfg.restore_best:
                self.state.best_state = {k: v.detach().clone()
                                         for k, v in self.model.state_dict().items()}
        else:
            self.state.epochs_without_improvement += 1
        self.state.epoch = epoch
        self.state.history.append(metrics)
        return metrics

    def should_stop_early(self) -> bool:
        """Patience exhausted."""
        patience = self.config.early_stopping_patience
        return patience is not None and self.state.epochs_without_improvement >= patience

    def checkpoint(self) -> None:
        """Save ``last.pt`` (rank 0 only)."""
        if self.config.checkpoint_dir and self.rank == 0:
            save_checkpoint(self.config.checkpoint_dir, self.model, self.optimizer,
                            self.scheduler, self.generator, self.state, self.identity)

    def resume(self) -> int:
        """Load this run's checkpoint if there is one; return the epochs already done.

        Another run's checkpoint (other data, settings or initial weights) is not resumed:
        training starts fresh, says so in a warning and in ``self.discarded``, and the
        first epoch's checkpoint replaces it.
        """
        if not self.config.checkpoint_dir:
            return 0
        try:
            state = load_checkpoint(self.config.checkpoint_dir, self.model, self.optimizer,
                                    self.scheduler, self.generator, self.identity)
        except CheckpointMismatch as e:
            self.discarded = str(e)
            log.warning("not resuming: %s; training from scratch", e)
            return 0
        if state is None:
            return 0
        self.state = state
        log.info("resumed from %s at epoch %d (step %d)", self.config.checkpoint_dir,
                 state.epoch, state.step)
        return state.epoch


def fit(model: nn.Module, train: Any, eval_data: Any = None, *, task: str,
        config: TrainConfig | None = None, device: torch.device | None = None,
        class_counts: Sequence[int] = (), target_std: float = 1.0,
        on_epoch_end: EpochCallback | None = None) -> FitResult:
    """Train ``model`` in place.

    Args:
        model: Any module with ``forward(numeric, categorical)``, already on ``device``.
        train: Training data (``TensorData`` or a streaming source) on ``device``.
        eval_data: Optional evaluation data, evaluated after every epoch.
        task: ``"classification"`` or ``"regression"``.
        config: A :class:`TrainConfig`.
        device: Defaults to the training data's device.
        class_counts: Examples per class, for ``class_weights="balanced"``.
        target_std: Regression target scale, to report RMSE/MAE in label units.
        on_epoch_end: Called as ``fn(epoch, metrics)`` after each epoch; returning ``True``
            stops training.

    Returns:
        A :class:`FitResult`. The model ends with the best epoch's weights when
        ``restore_best`` is set and an evaluation metric was tracked.
    """
    config = config or TrainConfig()
    device = device or getattr(train, "device", None) or select_device()
    with cpu_thread_limit(cpu_threads_for(model, config, device)):
        return _fit(model, train, eval_data, task, config, device, class_counts, target_std,
                    on_epoch_end)


def cpu_threads_for(model: nn.Module, config: TrainConfig, device: torch.device) -> int | None:
    """Intra-op threads for training on ``device``: ``None`` keeps torch's setting.

    ``config.cpu_threads`` when set; else one thread on the CPU when a step is small
    (batch rows x trainable parameters under :data:`SINGLE_THREAD_WORK`).
    """
    if device.type != "cpu":
        return None
    if config.cpu_threads is not None:
        return config.cpu_threads
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return 1 if config.batch_size * params < SINGLE_THREAD_WORK else None


def _fit(model: nn.Module, train: Any, eval_data: Any, task: str, config: TrainConfig,
         device: torch.device, class_counts: Sequence[int], target_std: float,
         on_epoch_end: EpochCallback | None) -> FitResult:
    seed_everything(config.seed)
    loop = TrainingLoop(model, train, eval_data, task, config, device, class_counts, target_std)
    # Dropout masks come from the loop's own generator (checkpointed with it), so threads
    # training at the same time do not change each other's weights. torch.compile keeps
    # torch's global RNG (a generator argument would break its graph).
    masks = contextlib.nullcontext() if config.compile else dropout_generator(model,
                                                                              loop.generator)
    with deterministic_mode(config.deterministic, device), masks:
        return _run_epochs(loop, model, config, on_epoch_end)


def _run_epochs(loop: TrainingLoop, model: nn.Module, config: TrainConfig,
                on_epoch_end: EpochCallback | None) -> FitResult:
    start = loop.resume()
    result = FitResult(resumed_from_epoch=start, checkpoint_discarded=loop.discarded)
    progress = EpochProgress(config.epochs, loop.steps_per_epoch,
                             enabled=config.progress and loop.rank == 0)
    for epoch in range(start + 1, config.epochs + 1):
        began = time.perf_counter()
        with progress.epoch(epoch):
            train_loss, stop = loop.train_epoch(progress)
        metrics = loop.end_epoch(epoch, train_loss, time.perf_counter() - began)
        progress.report(metrics)
        if stop != "nan_loss":
            loop.checkpoint()
        if stop is None and loop.should_stop_early():
            stop = "early_stopping"
        if stop is None and on_epoch_end is not None and on_epoch_end(epoch, metrics) is True:
            stop = "callback"
        elif stop is not None and on_epoch_end is not None:
            on_epoch_end(epoch, metrics)
        if stop is not None:
            result.stopped_reason = stop
            break
    if config.restore_best and loop.state.best_state is not None:
        model.load_state_dict(loop.state.best_state)
    result.history, result.steps = loop.state.history, loop.state.step
    result.best_epoch, result.best_metric = loop.state.best_epoch, loop.state.best_metric
    return result


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """``config`` as a plain dict (for logging as parameters)."""
    return asdict(config)
