"""Device choice, seeding and deterministic mode.

The engine runs on CUDA when present, then Apple MPS, then the CPU. ``GRISTMILL_DEVICE``
(or an explicit argument) overrides the choice.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

_ENV_DEVICE = "GRISTMILL_DEVICE"


def select_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the device to train and predict on.

    Args:
        preferred: ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``, ``"auto"`` or ``None``.
            ``None``/``"auto"`` read ``GRISTMILL_DEVICE`` and otherwise pick CUDA, then MPS,
            then CPU.

    Raises:
        ValueError: The requested device is not available on this machine.
    """
    choice = str(preferred) if preferred is not None else os.environ.get(_ENV_DEVICE, "auto")
    if choice in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {choice!r} was requested but CUDA is not available here; "
                         f"use device='auto' or 'cpu'")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {choice!r} was requested but Apple MPS is not available here; "
                         f"use device='auto' or 'cpu'")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally make kernels deterministic.

    Args:
        seed: The seed.
        deterministic: Ask torch for deterministic algorithms (slower on GPU; ops without a
            deterministic kernel then raise instead of silently varying).
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; must be set before first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``device``, or ``None`` to train in float32.

    Args:
        device: The training device.
        precision: ``"auto"`` (bf16 on CUDA when supported, else fp32), ``"bf16"`` or
            ``"fp32"``.
    """
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if precision == "bf16" and device.type == "cpu":
        return torch.bfloat16
    return None


def memory_budget_bytes(device: torch.device, fraction: float = 0.5) -> int:
    """Bytes of ``device`` memory a resident dataset may use (``fraction`` of what is free)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * fraction)
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        pages = 8 * 2**30
    return int(pages * fraction)


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op context for float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
