"""Optimizer and learning-rate schedule construction."""

from __future__ import annotations

import inspect
import logging
import math
import sys
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from gristmill.engine.training import TrainConfig

log = logging.getLogger(__name__)


class EagerAdamW(torch.optim.AdamW):
    """``torch.optim.AdamW`` (same kernels, same results) without importing ``torch._dynamo``.

    torch wraps ``add_param_group``, ``zero_grad``, ``step`` and ``state_dict`` in
    dynamo-disable / graph-break wrappers that import ``torch._dynamo`` on first call: 1.5-1.8 s,
    more than training a small model takes. Outside ``torch.compile`` those wrappers do
    nothing else, so this class calls the wrapped functions directly; ``step`` runs under
    ``no_grad`` as the wrapper would (the optimizer is not differentiable). Used only when
    dynamo is not loaded anyway (see :func:`make_optimizer`).
    """

    def add_param_group(self, param_group: dict) -> None:
        inspect.unwrap(torch.optim.Optimizer.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        inspect.unwrap(torch.optim.Optimizer.zero_grad)(self, set_to_none)

    def step(self, closure=None):
        with torch.no_grad():
            return inspect.unwrap(torch.optim.Adam.step)(self, closure)

    def state_dict(self) -> dict:
        return inspect.unwrap(torch.optim.Optimizer.state_dict)(self)

    def load_state_dict(self, state_dict: dict) -> None:
        inspect.unwrap(torch.optim.Optimizer.load_state_dict)(self, state_dict)


def make_optimizer(model: nn.Module, config: TrainConfig,
                   device: torch.device) -> torch.optim.Optimizer:
    """AdamW, fused where the device supports it (CUDA, CPU, MPS), else foreach.

    Eager training gets :class:`EagerAdamW` (no ``torch._dynamo`` import); with
    ``config.compile`` or dynamo already loaded, plain ``torch.optim.AdamW``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    eager = not getattr(config, "compile", False) and "torch._dynamo" not in sys.modules
    adamw = EagerAdamW if eager else torch.optim.AdamW
    try:
        return adamw(params, lr=config.learning_rate, weight_decay=config.weight_decay,
                     fused=True)
    except (RuntimeError, ValueError) as e:
        log.warning("fused AdamW unavailable on %s (%s); using foreach", device, e)
        return adamw(params, lr=config.learning_rate, weight_decay=config.weight_decay,
                     foreach=True)


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
