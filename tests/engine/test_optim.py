"""Optimizer construction: EagerAdamW matches torch's AdamW without importing torch._dynamo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from gristmill.engine.optim import EagerAdamW, make_optimizer, make_scheduler
from gristmill.engine.training import TrainConfig

pytestmark = pytest.mark.integration


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def _train(model: nn.Module, optimizer, scheduler, steps: int = 30) -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(64, 4, generator=generator)
    y = torch.randint(0, 3, (64,), generator=generator)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


@pytest.mark.parametrize("fused", [True, False])
def test_eager_adamw_gives_torch_adamw_weights_and_state(fused):
    config = TrainConfig(learning_rate=1e-2, weight_decay=1e-3, lr_schedule="cosine",
                         warmup_steps=5, epochs=3)
    ours, theirs = _model(0), _model(0)
    kwargs = {"lr": 1e-2, "weight_decay": 1e-3, "fused": fused or None}
    opt_ours = EagerAdamW(ours.parameters(), **kwargs)
    opt_theirs = torch.optim.AdamW(theirs.parameters(), **kwargs)
    _train(ours, opt_ours, make_scheduler(opt_ours, config, 10))
    _train(theirs, opt_theirs, make_scheduler(opt_theirs, config, 10))
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)
    state = opt_ours.state_dict()
    assert state["param_groups"][0]["lr"] == opt_theirs.state_dict()["param_groups"][0]["lr"]
    restored = EagerAdamW(_model(0).parameters(), **kwargs)
    restored.load_state_dict(state)
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], state["state"][0]["exp_avg"])


def test_make_optimizer_is_fused_adamw():
    optimizer = make_optimizer(_model(0), TrainConfig(), torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["fused"] is True


def test_training_does_not_import_dynamo():
    code = ("import sys, torch\n"
            "from gristmill.engine.optim import make_optimizer\n"
            "from gristmill.engine.training import TrainConfig\n"
            "model = torch.nn.Linear(3, 2)\n"
            "opt = make_optimizer(model, TrainConfig(), torch.device('cpu'))\n"
            "opt.zero_grad(); model(torch.ones(4, 3)).sum().backward(); opt.step()\n"
            "opt.load_state_dict(opt.state_dict())\n"
            "print(type(opt).__name__, 'torch._dynamo' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["EagerAdamW", "False"]
