"""The training loop: convergence, resume, early stopping, NaN stop, schedules, streaming."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from gristmill.engine.device import autocast_dtype, select_device
from gristmill.engine.objectives import class_weight_tensor
from gristmill.engine.tabular import train_tabular
from gristmill.engine.training import TrainConfig, fit

pytestmark = pytest.mark.integration


def separable(n: int, seed: int = 0, flip: bool = False) -> pa.Table:
    """Two classes split by x1 + x2 + a category bonus; ``flip`` inverts the labels."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    positive = x1 + x2 + (color == "red") * 1.5 > 0.5
    if flip:
        positive = ~positive
    return pa.table({"x1": x1, "x2": x2.astype(np.float32), "color": color,
                     "label": np.where(positive, "yes", "no")})


def test_training_converges_on_a_separable_problem():
    result = train_tabular(separable(1200), separable(400, seed=1), "label",
                           config=TrainConfig(epochs=12, batch_size=64, learning_rate=5e-3))
    final = result.fit.history[-1]
    assert result.prepared.label.classes == ["no", "yes"]
    assert final["val_accuracy"] >= 0.95
    assert final["train_loss"] < result.fit.history[0]["train_loss"] / 2
    assert result.fit.stopped_reason == "completed"
    assert result.fit.steps == 12 * 19


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_from_checkpoint_gives_the_same_final_weights(tmp_path):
    config = dict(epochs=4, batch_size=32, learning_rate=3e-3, lr_schedule="cosine",
                  warmup_steps=5, restore_best=False)
    kwargs = {"hidden_units": [16], "dropout": 0.2}
    train, evaluation = separable(300), separable(100, seed=1)
    straight = train_tabular(train, evaluation, "label", model_kwargs=kwargs,
                             config=TrainConfig(**config, checkpoint_dir=str(tmp_path / "a")))

    def crash_after_two(epoch, metrics):
        if epoch == 2:
            raise KeyboardInterrupt("simulated crash")

    with pytest.raises(KeyboardInterrupt):
        train_tabular(train, evaluation, "label", model_kwargs=kwargs,
                      config=TrainConfig(**config, checkpoint_dir=str(tmp_path / "b")),
                      on_epoch_end=crash_after_two)
    resumed = train_tabular(train, evaluation, "label", model_kwargs=kwargs,
                            config=TrainConfig(**config, checkpoint_dir=str(tmp_path / "b")))
    assert resumed.fit.resumed_from_epoch == 2
    assert [h["epoch"] for h in resumed.fit.history] == [1, 2, 3, 4]
    want, got = _state(straight.model), _state(resumed.model)
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path, caplog):
    # Issue 14 #10: a stable checkpoint_dir resumed the previous run's checkpoint at its last
    # epoch on new data and trained nothing, shipping the old model.
    config = dict(epochs=3, batch_size=64, learning_rate=1e-2, checkpoint_dir=str(tmp_path))
    first = train_tabular(separable(300), separable(100, seed=1), "label",
                          config=TrainConfig(**config))
    assert first.fit.resumed_from_epoch == 0
    changes = {"new data": (separable(300, seed=5, flip=True), {}),
               "new settings": (separable(300, seed=5, flip=True), {"learning_rate": 5e-3})}
    for what, (train, overrides) in changes.items():
        with caplog.at_level("WARNING", logger="gristmill.engine.training"):
            again = train_tabular(train, separable(100, seed=1, flip=True), "label",
                                  config=TrainConfig(**{**config, **overrides}))
        assert again.fit.resumed_from_epoch == 0, what
        assert [h["epoch"] for h in again.fit.history] == [1, 2, 3], what
        assert again.fit.steps == 3 * 5, what
        assert again.fit.history[-1]["val_accuracy"] >= 0.9, what  # learned the flipped rule
        assert "written by another training run" in again.fit.checkpoint_discarded, what
        assert "not resuming" in caplog.text and str(tmp_path) in caplog.text
        caplog.clear()
    # The same run (same data, settings, seed) still resumes: here at its finished end.
    same = train_tabular(separable(300, seed=5, flip=True), separable(100, seed=1, flip=True),
                         "label", config=TrainConfig(**{**config, "learning_rate": 5e-3}))
    assert same.fit.resumed_from_epoch == 3 and same.fit.steps == 3 * 5
    assert first.fit.checkpoint_discarded is None and same.fit.checkpoint_discarded is None


def test_early_stopping_restores_the_best_epoch():
    # Eval labels are the opposite rule: the better the fit, the worse val_loss gets.
    result = train_tabular(separable(400), separable(200, seed=1, flip=True), "label",
                           config=TrainConfig(epochs=30, batch_size=32, learning_rate=1e-2,
                                              early_stopping_patience=2))
    fit_result = result.fit
    assert fit_result.stopped_reason == "early_stopping"
    assert len(fit_result.history) == fit_result.best_epoch + 2
    from gristmill.engine.objectives import evaluate
    from gristmill.engine.tabular import to_tensor_data

    data = to_tensor_data(separable(200, seed=1, flip=True), result.prepared, result.device)
    restored = evaluate(result.model, data, "classification", 1024)["loss"]
    assert restored == pytest.approx(fit_result.best_metric, rel=1e-5)
    assert restored < fit_result.history[-1]["val_loss"]


class _Poisoned(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, numeric, categorical):
        return self.linear(numeric[:, :2]) * float("nan")


def test_nan_loss_stops_training():
    result = train_tabular(separable(200), None, "label", model=_Poisoned(),
                           config=TrainConfig(epochs=5, batch_size=50))
    assert result.fit.stopped_reason == "nan_loss"
    assert result.fit.best_epoch is None
    assert len(result.fit.history) == 1


def test_cosine_schedule_decays_to_zero_and_max_steps_stops():
    result = train_tabular(separable(256), None, "label",
                           config=TrainConfig(epochs=3, batch_size=64, lr_schedule="cosine"))
    lrs = [h["lr"] for h in result.fit.history]
    assert lrs[0] < 1e-3 and lrs[-1] == pytest.approx(0.0, abs=1e-9)
    capped = train_tabular(separable(256), None, "label",
                           config=TrainConfig(epochs=3, batch_size=64, max_steps=5))
    assert capped.fit.steps == 5 and capped.fit.stopped_reason == "max_steps"


def test_balanced_class_weights():
    weights = class_weight_tensor("balanced", [30, 10], torch.device("cpu"))
    assert weights.tolist() == pytest.approx([40 / 60, 40 / 20])
    assert class_weight_tensor([1.0, 3.0], [1, 1], torch.device("cpu")).tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="balanced"):
        class_weight_tensor("heavy", [1, 1], torch.device("cpu"))


def test_regression_reports_rmse_in_label_units():
    rng = np.random.default_rng(0)
    x = rng.normal(size=600)
    table = pa.table({"x": x, "y": 1000.0 + 200.0 * x + rng.normal(scale=5.0, size=600)})
    result = train_tabular(table.slice(0, 500), table.slice(500), "y",
                           config=TrainConfig(epochs=30, batch_size=32, learning_rate=1e-2))
    assert result.prepared.label.task == "regression"
    assert result.fit.history[-1]["val_rmse"] < 30.0


def test_streaming_by_row_group_trains(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(separable(1000), path, row_group_size=200)
    result = train_tabular([str(path)], separable(300, seed=1), "label", residency="stream",
                           config=TrainConfig(epochs=8, batch_size=64, learning_rate=5e-3))
    from gristmill.engine.data import StreamingData
    from gristmill.engine.tabular import load_split

    assert result.fit.steps == 8 * 5 * 4  # 5 row groups of 200 rows -> 4 batches each
    assert result.fit.history[-1]["val_accuracy"] >= 0.93
    source = load_split([str(path)], result.prepared, result.device, residency="stream")
    assert isinstance(source, StreamingData) and len(source) == 1000


def test_fit_accepts_a_plain_module_and_example_weights():
    from gristmill.engine.data import TensorData

    torch.manual_seed(0)
    numeric = torch.randn(256, 2)
    target = (numeric.sum(1) > 0).long()
    data = TensorData(numeric, torch.zeros(256, 0, dtype=torch.int64), target,
                      torch.ones(256))

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, numeric, categorical):
            return self.linear(numeric)

    result = fit(Plain(), data, data, task="classification",
                 config=TrainConfig(epochs=15, batch_size=32, learning_rate=5e-2))
    assert result.history[-1]["val_accuracy"] > 0.95


def test_device_selection_and_precision():
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert select_device("auto").type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")
    assert autocast_dtype(torch.device("cpu")) is None
    assert autocast_dtype(torch.device("cpu"), "bf16") is torch.bfloat16
    assert autocast_dtype(torch.device("cuda"), "fp32") is None


def test_small_cpu_training_runs_on_one_thread_and_restores_the_count():
    from gristmill.engine.training import SINGLE_THREAD_WORK, cpu_thread_limit, cpu_threads_for

    small, cpu = nn.Linear(8, 2), torch.device("cpu")
    assert cpu_threads_for(small, TrainConfig(batch_size=64), cpu) == 1
    big = nn.Linear(SINGLE_THREAD_WORK // 64, 1)
    assert cpu_threads_for(big, TrainConfig(batch_size=64), cpu) is None
    assert cpu_threads_for(small, TrainConfig(cpu_threads=2), cpu) == 2
    assert cpu_threads_for(small, TrainConfig(), torch.device("meta")) is None
    before = torch.get_num_threads()
    seen = []
    result = train_tabular(separable(200), None, "label",
                           config=TrainConfig(epochs=1, batch_size=50, progress=False),
                           on_epoch_end=lambda epoch, metrics: seen.append(
                               torch.get_num_threads()))
    assert seen == [1] and result.fit.steps == 4
    assert torch.get_num_threads() == before
    with cpu_thread_limit(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_the_deterministic_switch_holds_during_training_and_is_restored_after():
    # Issue 18 #12 (GPU): deterministic=True asks torch for deterministic kernels for the
    # fit alone; it used to stay on for the rest of the process.
    import os

    seen = []

    def record(epoch, metrics):
        seen.append((torch.are_deterministic_algorithms_enabled(),
                     torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
                     os.environ.get("CUBLAS_WORKSPACE_CONFIG")))

    assert not torch.are_deterministic_algorithms_enabled()
    for deterministic in (True, False):
        train_tabular(separable(200), None, "label", on_epoch_end=record,
                      config=TrainConfig(epochs=1, batch_size=64, deterministic=deterministic))
        assert not torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.deterministic
    assert seen[0] == (True, True, False, ":4096:8")
    assert seen[1][:2] == (False, False)
    from gristmill.components.framework.trainer_config import TrainerConfig

    assert TrainerConfig(deterministic=True).train_config(None, None, None).deterministic


def test_concurrent_training_does_not_change_the_weights():
    import threading

    def weights(results, key):
        result = train_tabular(separable(300), None, "label",
                               model_kwargs={"hidden_units": [16], "dropout": 0.3},
                               config=TrainConfig(epochs=3, batch_size=32, progress=False))
        results[key] = _state(result.model)

    alone: dict = {}
    weights(alone, 0)
    together: dict = {}
    threads = [threading.Thread(target=weights, args=(together, i)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got in together.values():
        assert all(torch.equal(alone[0][k], got[k]) for k in alone[0])
