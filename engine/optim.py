"""Optimizer and learning-rate schedule construction."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from gristmill.engine.training import TrainConfig

log = logging.getLogger(__name__)


def make_optimizer(model: nn.Module, config: TrainConfig,
                   device: torch.device) -> torch.optim.Optimizer:
    """AdamW, fused where the device supports it (CUDA, CPU, MPS), else foreach."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.AdamW(params, lr=config.learning_rate,
                                 weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, ValueError) as e:
        log.warning("fused AdamW unavailable on %s (%s); using foreach", device, e)
        return torch.optim.AdamW(params, lr=config.learning_rate,
                                 weight_decay=config.weight_decay, foreach=True)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step ``LambdaLR`` for the configured schedule, or ``None`` for a constant LR."""
    total = max(1, config.max_steps or config.epochs * steps_per_epoch)
    warmup, kind = config.warmup_steps, config.lr_schedule
    if kind == "constant" and warmup == 0:
        return None
    if kind not in ("constant", "cosine", "linear", "step"):
        raise ValueError(f"lr_schedule must be constant, cosine, linear or step, got {kind!r}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if kind == "linear":
            return 1.0 - progress
        if kind == "step":
            return config.step_gamma ** (step // max(1, config.step_epochs * steps_per_epoch))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
