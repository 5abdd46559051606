"""``trainer``: one training epoch of the Trainer's engine versus a hand-written floor.

Both train the same ``TabularMLP`` (same initial weights) on the same device-resident
tensors with the same batch size and fused AdamW. The floor is the shortest correct loop:
``randperm``, index gather, forward, cross-entropy, ``zero_grad``, backward, step (under the
same bf16 autocast on CUDA). The engine is ``TrainingLoop.train_epoch``, the epoch body of
``gristmill.engine.training.fit`` that the Trainer runs. After one untimed warm-up epoch
each, epochs alternate between the two (one at a time, order flipped every round) and each
side reports its median. ``ratio = seconds / floor_seconds``.
"""

from __future__ import annotations

import statistics
import time


def add_arguments(parser) -> None:
    parser.set_defaults(rows=200_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per contestant")
    parser.add_argument("--rounds", type=int, default=1, help="multiplies --epochs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default)")


def make_data(rows: int, device):
    """Synthetic separable data: 8 numerics, 2 categoricals, 2 classes, on ``device``."""
    import torch

    from gristmill.engine.data import TensorData

    gen = torch.Generator().manual_seed(0)
    numeric = torch.randn(rows, 8, generator=gen)
    categorical = torch.stack([torch.randint(0, 20, (rows,), generator=gen),
                               torch.randint(0, 300, (rows,), generator=gen)], dim=1)
    logit = numeric[:, :4].sum(1) + (categorical[:, 0] % 3 == 0) * 1.5 - 0.5
    target = (logit + 0.3 * torch.randn(rows, generator=gen) > 0).long()
    return TensorData(numeric.to(device), categorical.to(device), target.to(device))


def new_model(device):
    import torch

    from gristmill.engine.models import TabularMLP

    torch.manual_seed(0)
    return TabularMLP(8, [20, 300], 2, hidden_units=[128, 64]).to(device)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


class FloorLoop:
    """The hand-written loop: randperm, gather, forward, loss, zero_grad, backward, step."""

    def __init__(self, data, batch_size: int, device):
        import torch

        from gristmill.engine.device import autocast_dtype

        self.data, self.batch_size, self.device = data, batch_size, device
        self.model = new_model(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=1e-2,
                                           fused=True)
        self.dtype = autocast_dtype(device)
        self.gen = torch.Generator(device=device if device.type == "cuda" else "cpu")
        self.gen.manual_seed(0)

    def epoch(self) -> float:
        import torch

        from gristmill.engine.device import autocast_context

        data, model, optimizer = self.data, self.model, self.optimizer
        perm = torch.randperm(len(data), device=self.device, generator=self.gen)
        for i in range(0, len(data), self.batch_size):
            idx = perm[i:i + self.batch_size]
            with autocast_context(self.device, self.dtype):
                out = model(data.numeric[idx], data.categorical[idx])
            loss = torch.nn.functional.cross_entropy(out.float(), data.target[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return float(loss.detach())  # one sync per epoch, as the engine does


class EngineLoop:
    """The engine: the very ``TrainingLoop.train_epoch`` that ``fit`` runs each epoch."""

    def __init__(self, data, batch_size: int, device):
        from gristmill.engine.progress import EpochProgress
        from gristmill.engine.training import TrainConfig, TrainingLoop

        config = TrainConfig(batch_size=batch_size, learning_rate=1e-3, progress=False)
        self.loop = TrainingLoop(new_model(device), data, None, "classification", config,
                                 device, (), 1.0)
        self.progress = EpochProgress(1, self.loop.steps_per_epoch, enabled=False)

    def epoch(self) -> float:
        loss, _ = self.loop.train_epoch(self.progress)
        return loss


def _timed(contestant, device) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds of one epoch."""
    _sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    contestant.epoch()
    _sync(device)
    return time.perf_counter() - start, time.process_time() - cpu


def run(args) -> dict:
    import torch

    from gristmill.engine.device import select_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    data = make_data(args.rows, device)
    floor, engine = FloorLoop(data, args.batch_size, device), EngineLoop(data, args.batch_size,
                                                                          device)
    floor.epoch()  # warm-up: kernels, allocator, fused optimizer state
    engine.epoch()
    timings: dict[str, list[tuple[float, float]]] = {"floor": [], "engine": []}
    for i in range(args.epochs * args.rounds):
        # Alternate which goes first so load drift on a shared machine hits both alike.
        for name in (("floor", "engine") if i % 2 == 0 else ("engine", "floor")):
            timings[name].append(_timed(floor if name == "floor" else engine, device))
    engine_times = [wall for wall, _ in timings["engine"]]
    floor_times = [wall for wall, _ in timings["floor"]]
    seconds, floor_seconds = statistics.median(engine_times), statistics.median(floor_times)
    # On a shared CPU, wall time swings with other processes' load; CPU time far less.
    cpu = statistics.median(c for _, c in timings["engine"])
    cpu_floor = statistics.median(c for _, c in timings["floor"])
    return {"rows": args.rows, "device": str(device), "batch_size": args.batch_size,
            "epochs_timed": len(engine_times), "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "seconds": round(seconds, 4), "floor_seconds": round(floor_seconds, 4),
            "ratio": round(seconds / floor_seconds, 3),
            "cpu_seconds": round(cpu, 4), "cpu_floor_seconds": round(cpu_floor, 4),
            "cpu_ratio": round(cpu / cpu_floor, 3),
            "engine_epochs": [round(t, 4) for t in engine_times],
            "floor_epochs": [round(t, 4) for t in floor_times]}
