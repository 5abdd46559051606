"""Training checkpoints: everything needed to resume and end with the same weights.

A checkpoint holds the model, optimizer and scheduler states, the shuffling generator and
the global RNG states, the early-stopping bookkeeping and the history so far. It is written
atomically (temp file + rename) and read with ``weights_only=True`` (no code runs on load).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

CHECKPOINT_NAME = "last.pt"
#: Settings that do not change what is trained, so they are left out of a run's identity.
IDENTITY_EXEMPT = ("checkpoint_dir", "progress", "cpu_threads")
#: Elements per float64 chunk when digesting a tensor (bounds its extra memory to 32 MB).
DIGEST_CHUNK = 1 << 22


class CheckpointMismatch(Exception):
    """The checkpoint found belongs to another training run (other data, config or model).

    Attributes:
        path: The checkpoint file.
        found: Its run identity (``None``: written before identities were recorded).
        expected: This run's identity.
    """

    def __init__(self, path: str, found: str | None, expected: str):
        self.path, self.found, self.expected = path, found, expected
        super().__init__(f"{path} was written by another training run (identity "
                         f"{found or 'not recorded'}, this run {expected}): other data, "
                         "hyperparameters or initial weights")


def tensor_digest(tensor: torch.Tensor, samples: int = 4096) -> list[Any]:
    """Shape, dtype, sum, sum of squares and ``samples`` evenly spaced values of ``tensor``.

    Cheap on any device (a pass and a small gather, no copy of the whole tensor); the sums
    are rounded to 10 significant digits so the last bit of a reduction never makes the
    same data look different, and the sampled values catch reordered rows.
    """
    flat = tensor.detach().reshape(-1)
    totals = torch.zeros(2, dtype=torch.float64, device=flat.device)
    for chunk in flat.split(DIGEST_CHUNK):  # float64 copies of one chunk at a time
        values = torch.nan_to_num(chunk.double(), nan=0.0, posinf=1e300, neginf=-1e300)
        totals += torch.stack([values.sum(), (values * values).sum()])
    index = torch.linspace(0, max(flat.numel() - 1, 0), min(samples, flat.numel()),
                           device=flat.device, dtype=torch.float64).long()
    picked = hashlib.sha256(flat[index].double().cpu().numpy().tobytes()).hexdigest()[:16]
    sums = [float(f"{v:.10g}") for v in totals.tolist()]
    return [list(tensor.shape), str(tensor.dtype), *sums, picked]


def data_digest(data: Any) -> Any:
    """A digest of a training split: its tensors when resident, else its files and rows."""
    if data is None:
        return None
    tensors = [getattr(data, k, None) for k in ("numeric", "categorical", "target", "weight")]
    if tensors[2] is not None:
        return [tensor_digest(t) if t is not None else None for t in tensors]
    stream = getattr(data, "stream", None)
    files = list(getattr(stream, "files", []))
    return {"rows": len(data), "files": [[f, os.path.getsize(f), os.path.getmtime(f)]
                                         for f in files if os.path.exists(f)]}


def run_identity(model: torch.nn.Module, task: str, config: Mapping[str, Any],
                 datasets: Iterable[Any]) -> str:
    """The identity of a training run: what a checkpoint must share to be resumed.

    Ingredients: the task, every training setting but :data:`IDENTITY_EXEMPT`, the model's
    class and initial state (weights, normalization buffers: warm starts and new data
    change them), and a digest of each split (:func:`data_digest`).
    """
    state = {k: tensor_digest(v) for k, v in model.state_dict().items()}
    ingredients = {"task": task, "model": f"{type(model).__module__}.{type(model).__qualname__}",
                   "config": {k: v for k, v in config.items() if k not in IDENTITY_EXEMPT},
                   "state": state, "data": [data_digest(d) for d in datasets]}
    text = json.dumps(ingredients, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
                    scheduler: Any, generator: torch.Generator, state: LoopState,
                    identity: str | None = None) -> str:
    """Write ``<directory>/last.pt`` atomically and return its path.

    ``identity`` (:func:`run_identity`) is stored so that only the same run resumes it.
    """
    os.makedirs(directory, exist_ok=True)
    payload = {
        "identity": identity,
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
                    scheduler: Any, generator: torch.Generator,
                    identity: str | None = None) -> LoopState | None:
    """Restore from ``<directory>/last.pt`` when it exists; return the loop state or ``None``.

    Raises:
        CheckpointMismatch: ``identity`` is given and the checkpoint's differs (nothing is
            restored then).
    """
    path = os.path.join(directory, CHECKPOINT_NAME)
    if not os.path.exists(path):
        return None
    # Loaded on the CPU: load_state_dict copies into the parameters' own device.
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if identity is not None and payload.get("identity") != identity:
        raise CheckpointMismatch(path, payload.get("identity"), identity)
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
