"""Device choice, seeding and deterministic mode.

The engine runs on CUDA when present, then Apple MPS, then the CPU. ``GRISTMILL_DEVICE``
(or an explicit argument) overrides the choice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading

import numpy as np
import torch

_ENV_DEVICE = "GRISTMILL_DEVICE"
#: cuBLAS workspace setting that makes its kernels deterministic (CUDA docs).
DETERMINISTIC_CUBLAS_WORKSPACE = ":4096:8"
log = logging.getLogger(__name__)


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


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's process-wide generators (all devices).

    The built-in models do not depend on them (their initial weights and dropout masks come
    from generators of their own); user models and user code may.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic_mode(enabled: bool, device: torch.device | None = None):
    """Run the block with deterministic kernels when ``enabled``; restore the settings after.

    Sets ``torch.use_deterministic_algorithms(True)`` (an op without a deterministic kernel
    then raises instead of silently varying), turns cuDNN's benchmark off and its
    deterministic flag on, and sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` when it is not set.
    cuBLAS reads that variable when CUDA first creates its handle, so if CUDA was already
    used in this process without it a warning says to export it before starting. The
    settings are process-wide: fits running at the same time share them.

    Args:
        enabled: Turn deterministic mode on for the block (``False``: change nothing).
        device: The training device (for the cuBLAS check).
    """
    if not enabled:
        yield
        return
    if "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        if device is not None and device.type == "cuda" and torch.cuda.is_initialized():
            log.warning("deterministic=True: CUDA was already in use in this process, so "
                        "CUBLAS_WORKSPACE_CONFIG set now may not take effect; export "
                        "CUBLAS_WORKSPACE_CONFIG=:4096:8 before starting for deterministic "
                        "cuBLAS")
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = DETERMINISTIC_CUBLAS_WORKSPACE
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2:]


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


_threads_lock = threading.Lock()
_threads_users: list[int] = []  # the count before the first limit, while any limit is held


@contextlib.contextmanager
def cpu_thread_limit(threads: int | None):
    """Run the block with ``torch.set_num_threads(threads)``; the last one out restores.

    The setting is process-wide, so concurrent fits (Tuner trials in threads) share it: the
    count from before the first of them comes back when the last one ends.
    """
    if threads is None:
        yield
        return
    with _threads_lock:
        _threads_users.append(torch.get_num_threads())
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        with _threads_lock:
            before = _threads_users.pop()
            if not _threads_users:
                torch.set_num_threads(before)
