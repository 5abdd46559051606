"""DistributedDataParallel support.

Processes are started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) or by :func:`spawn` (tests, CPU runs with
gloo). The training loop asks :func:`rank_and_world` and wraps the model with
:func:`wrap_ddp`; every rank gets an equal share of each epoch's permutation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(backend: str | None = None) -> torch.device:
    """Join the process group described by torchrun's environment; return this rank's device.

    Args:
        backend: ``nccl`` on CUDA, ``gloo`` otherwise (default: chosen by device).
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if device.type == "cuda" else "gloo"))
    return device


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """Wrap ``model`` in DistributedDataParallel on ``device``."""
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        return DistributedDataParallel(model, device_ids=[device.index],
                                       output_device=device.index)
    return DistributedDataParallel(model)


def mean_over_ranks(total: torch.Tensor, count: int) -> float:
    """``sum(total) / sum(count)`` over all ranks (a local mean when not distributed)."""
    _, world = rank_and_world()
    if world == 1:
        return float(total) / max(count, 1)
    both = torch.stack([total.detach().double(),
                        torch.tensor(float(count), dtype=torch.float64, device=total.device)])
    dist.all_reduce(both)
    return float(both[0]) / max(float(both[1]), 1.0)


def gpu_count() -> int:
    """CUDA devices visible to this process."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _spawned(rank: int, world_size: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world_size),
                       "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., Any], world_size: int, args: tuple = (),
          port: int | None = None) -> None:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` CPU processes joined with gloo.

    ``fn`` must be importable (a module-level function) because processes are spawned.
    """
    import torch.multiprocessing as mp

    port = port or _free_port()
    mp.spawn(_spawned, args=(world_size, port, fn, args), nprocs=world_size, join=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
