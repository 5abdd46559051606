"""``gpu``: the built-in 3x256 MLP trained on device-resident data, and its serving throughput.

Issue #20 goal 7: on an H100/H200-class GPU, >= 20M rows/s for ``TabularMLP(hidden_units=
[256, 256, 256])`` with the data resident on the GPU, bf16 autocast and the fused AdamW the
engine uses. Training runs the engine's own epoch (``TrainingLoop.train_epoch``, what the
Trainer runs). Reported: ``rows_per_second`` (median epoch), ``optimizer_share`` (the share of
an epoch spent in ``optimizer.step``: one epoch of the hand-written loop with and without the
step, ``1 - without / with``), and serving rows/s and latency at batch 1 and 1024 under
``torch.inference_mode``. Without a GPU it runs on the CPU with fewer rows and says so
(``device``, ``gpu_available``): the CPU figures are not the goal's.
"""

from __future__ import annotations

import statistics
import time

HIDDEN = [256, 256, 256]


def add_arguments(parser) -> None:
    parser.set_defaults(rows=0)  # 0: 10M rows on a GPU, 200k on the CPU
    parser.add_argument("--batch-size", type=int, default=0,
                        help="0: 16384 on a GPU, 1024 on the CPU")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs")
    parser.add_argument("--device", default="auto")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(device):
    import torch

    from gristmill.engine.models import TabularMLP

    torch.manual_seed(0)
    return TabularMLP(8, [20, 300], 2, hidden_units=HIDDEN).to(device)


def _train_rate(data, batch_size: int, epochs: int, device) -> tuple[float, list[float]]:
    """Median rows/s of the engine's epoch, and each epoch's seconds."""
    from gristmill.engine.progress import EpochProgress
    from gristmill.engine.training import TrainConfig, TrainingLoop

    config = TrainConfig(batch_size=batch_size, learning_rate=1e-3, progress=False)
    loop = TrainingLoop(_model(device), data, None, "classification", config, device, (), 1.0)
    progress = EpochProgress(1, loop.steps_per_epoch, enabled=False)
    loop.train_epoch(progress)  # warm-up: kernels, allocator, optimizer state
    seconds = []
    for _ in range(epochs):
        _sync(device)
        start = time.perf_counter()
        loop.train_epoch(progress)
        _sync(device)
        seconds.append(time.perf_counter() - start)
    return len(data) / statistics.median(seconds), seconds


def _optimizer_share(data, batch_size: int, device) -> float:
    """``1 - epoch_without_step / epoch_with_step`` of the hand-written loop."""
    import torch

    from gristmill.engine.device import autocast_context, autocast_dtype

    def epoch(step: bool) -> float:
        model = _model(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
        dtype = autocast_dtype(device)
        timings = []
        for timed in (False, True):  # the first pass warms up
            _sync(device)
            start = time.perf_counter()
            for i in range(0, len(data), batch_size):
                with autocast_context(device, dtype):
                    out = model(data.numeric[i:i + batch_size], data.categorical[i:i + batch_size])
                loss = torch.nn.functional.cross_entropy(out.float(), data.target[i:i + batch_size])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if step:
                    optimizer.step()
            _sync(device)
            if timed:
                timings.append(time.perf_counter() - start)
        return timings[0]

    with_step, without_step = epoch(True), epoch(False)
    return max(0.0, 1.0 - without_step / with_step)


def _serving(data, device) -> dict:
    """Rows/s and per-batch latency of the eval-mode model at batch 1 and 1024."""
    import torch

    from gristmill.engine.device import autocast_context, autocast_dtype

    model, dtype, out = _model(device).eval(), autocast_dtype(device), {}
    for batch in (1, 1024):
        calls = 2000 if batch == 1 else 200
        numeric, categorical = data.numeric[:batch], data.categorical[:batch]
        with torch.inference_mode(), autocast_context(device, dtype):
            for _ in range(20):
                model(numeric, categorical)
            _sync(device)
            start = time.perf_counter()
            for _ in range(calls):
                model(numeric, categorical)
            _sync(device)
        seconds = time.perf_counter() - start
        out[f"serve_batch{batch}_rows_per_second"] = round(batch * calls / seconds)
        out[f"serve_batch{batch}_latency_ms"] = round(1000 * seconds / calls, 4)
    return out


def run(args) -> dict:
    import torch

    from gristmill.engine.device import autocast_dtype, select_device

    sys_path_bench()
    from trainer_bench import make_data

    device = select_device(args.device)
    on_gpu = device.type == "cuda"
    rows = args.rows or (10_000_000 if on_gpu else 200_000)
    batch_size = args.batch_size or (16384 if on_gpu else 1024)
    data = make_data(rows, device)
    rate, seconds = _train_rate(data, batch_size, args.epochs, device)
    result = {
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "gpu_available": torch.cuda.is_available(), "rows": rows, "batch_size": batch_size,
        "model": f"TabularMLP hidden_units={HIDDEN}", "autocast": str(autocast_dtype(device)),
        "rows_per_second": round(rate), "epoch_seconds": [round(s, 3) for s in seconds],
        "optimizer_share": round(_optimizer_share(data, batch_size, device), 3),
        "goal_rows_per_second": 20_000_000, **_serving(data, device),
    }
    if not on_gpu:
        result["note"] = "no GPU here: CPU figures, not the goal's (run on a GPU host)"
    return result


def sys_path_bench() -> None:
    """Make the sibling bench modules importable (``trainer_bench.make_data``)."""
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
