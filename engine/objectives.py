"""Losses, class weights and evaluation metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from gristmill.engine.device import autocast_context, autocast_dtype


def compute_loss(outputs: torch.Tensor, target: torch.Tensor, task: str,
                 class_weight: torch.Tensor | None = None,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy (ids of -1 ignored) or mean squared error, optionally example-weighted."""
    if task == "classification":
        if weight is None:
            return cross_entropy(outputs, target, weight=class_weight, ignore_index=-1)
        per = cross_entropy(outputs, target, weight=class_weight, ignore_index=-1,
                            reduction="none")
        return (per * weight).sum() / weight.sum().clamp_min(1e-12)
    per = (outputs[:, 0] - target) ** 2
    if weight is None:
        return per.mean()
    return (per * weight).sum() / weight.sum().clamp_min(1e-12)


def class_weight_tensor(spec: str | Sequence[float] | None, class_counts: Sequence[int],
                        device: torch.device) -> torch.Tensor | None:
    """``"balanced"`` -> ``n / (k * count_c)``; a list is used as is; ``None`` -> no weights."""
    if spec is None:
        return None
    if spec == "balanced":
        counts = torch.tensor([max(c, 1) for c in class_counts], dtype=torch.float32)
        weights = counts.sum() / (len(counts) * counts)
    elif isinstance(spec, str):
        raise ValueError(f"class_weights must be 'balanced' or a list of floats, got {spec!r}")
    else:
        weights = torch.tensor(list(spec), dtype=torch.float32)
    return weights.to(device)


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, task: str, batch_size: int,
             max_batches: int | None = None, target_std: float = 1.0,
             precision: str = "auto") -> dict[str, float]:
    """Loss plus accuracy (classification) or RMSE/MAE in label units (regression)."""
    was_training = model.training
    model.eval()
    device = data.device
    dtype = autocast_dtype(device, precision)
    totals = torch.zeros(3, device=device, dtype=torch.float64)
    for i, batch in enumerate(data.batches(batch_size)):
        if max_batches is not None and i >= max_batches:
            break
        with autocast_context(device, dtype):
            out = model(batch.numeric, batch.categorical).float()
        loss = compute_loss(out, batch.target, task)
        n = len(batch)
        if task == "classification":
            second = (out.argmax(dim=1) == batch.target).sum()
        else:
            second = (out[:, 0] - batch.target).abs().sum()
        totals += torch.stack([loss.double() * n, second.double(), torch.tensor(n, device=device)])
    model.train(was_training)
    loss_sum, second, n = totals.tolist()
    n = max(n, 1.0)
    metrics = {"loss": loss_sum / n}
    if task == "classification":
        metrics["accuracy"] = second / n
    else:
        metrics["rmse"] = math.sqrt(max(loss_sum / n, 0.0)) * target_std
        metrics["mae"] = second / n * target_std
    return metrics
