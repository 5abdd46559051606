"""DistributedDataParallel: two CPU processes joined with gloo train one model."""

from __future__ import annotations

import json
import os

import pytest
import torch

from gristmill.engine import distributed

pytestmark = [pytest.mark.integration]


def _train_rank(rank: int, world_size: int, out_dir: str) -> None:
    """Each rank builds the same data and model; DDP keeps the replicas identical."""
    from gristmill.engine.data import TensorData
    from gristmill.engine.models import TabularMLP
    from gristmill.engine.training import TrainConfig, fit

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    numeric = torch.randn(512, 3, generator=gen)
    categorical = torch.randint(0, 4, (512, 1), generator=gen)
    target = ((numeric[:, 0] + numeric[:, 1] + (categorical[:, 0] == 2)) > 0).long()
    data = TensorData(numeric, categorical, target)
    torch.manual_seed(0)
    model = TabularMLP(3, [4], 2, hidden_units=[16])
    result = fit(model, data, data, task="classification",
                 config=TrainConfig(epochs=4, batch_size=32, learning_rate=1e-2))
    torch.save(model.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"history": result.history, "steps": result.steps,
                   "world": distributed.rank_and_world()[1]}, f)


@pytest.mark.slow
def test_ddp_two_cpu_processes_with_gloo(tmp_path):
    distributed.spawn(_train_rank, world_size=2, args=(str(tmp_path),))
    states = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert all(r["world"] == 2 for r in reports)
    assert reports[0]["steps"] == 4 * (256 // 32)  # each rank sees half of 512 rows per epoch
    history = reports[0]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.9
    # The loss is averaged over both ranks, so both report the same curve.
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in reports[1]["history"]]


def test_rank_and_world_without_a_process_group():
    assert distributed.rank_and_world() == (0, 1)
    assert distributed.mean_over_ranks(torch.tensor(6.0), 3) == 2.0
