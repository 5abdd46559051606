"""Training checkpoints: everything needed to resume and end with the same weights.

A checkpoint holds the model, optimizer and scheduler states, the shuffling generator and
the global RNG states, the early-stopping bookkeeping and the history so far. It is written
atomically (temp file + rename) and read with ``weights_only=True`` (no code runs on load).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

CHECKPOINT_NAME = "last.pt"


@dataclass
class LoopState:
    """The mutable state of a training loop that a checkpoint captures."""

    epoch: int = 0
    step: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    epochs_without_improvement: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def save_checkpoint(directory: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, generator: torch.Generator, state: LoopState) -> str:
    """Write ``<directory>/last.pt`` atomically and return its path."""
    os.makedirs(directory, exist_ok=True)
    payload = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "generator": generator.get_state(), "cpu_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "epoch": state.epoch, "step": state.step, "best_metric": state.best_metric,
        "best_epoch": state.best_epoch, "best_state": state.best_state,
        "epochs_without_improvement": state.epochs_without_improvement,
        "history": state.history,
    }
    path = os.path.join(directory, CHECKPOINT_NAME)
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(directory: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, generator: torch.Generator) -> LoopState | None:
    """Restore from ``<directory>/last.pt`` when it exists; return the loop state or ``None``."""
    path = os.path.join(directory, CHECKPOINT_NAME)
    if not os.path.exists(path):
        return None
    # Loaded on the CPU: load_state_dict copies into the parameters' own device.
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    generator.set_state(payload["generator"])
    torch.set_rng_state(payload["cpu_rng"])
    if payload["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["cuda_rng"])
    return LoopState(epoch=payload["epoch"], step=payload["step"],
                     best_metric=payload["best_metric"], best_epoch=payload["best_epoch"],
                     best_state=payload["best_state"],
                     epochs_without_improvement=payload["epochs_without_improvement"],
                     history=list(payload["history"]))
