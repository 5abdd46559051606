"""Helpers shared by the Trainer tests: a small labelled table, an Examples artifact, a
reporter that records what the executor logs, and one call that runs the executor."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.components.trainer.config import TrainerParameters
from gristmill.components.trainer.executor import TrainerExecutor
from gristmill.metadata.standard_artifacts import Examples, Model, ModelRun

FAST = dict(label_key="label", epochs=4, batch_size=64, learning_rate=1e-2, exports=["onnx"])


def table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    label = np.where(x1 + (color == "red") * 1.5 > 0.5, "yes", "no")
    return pa.table({"x1": x1, "color": color, "label": label})


def make_examples(root, seeds: tuple[int, int], artifact_id: int = 2) -> Examples:
    """An Examples artifact with 600 train and 200 eval rows of :func:`table`."""
    artifact = Examples(str(root), id=artifact_id)
    artifact.splits = ["train", "eval"]
    for split, n, seed in (("train", 600, seeds[0]), ("eval", 200, seeds[1])):
        os.makedirs(artifact.split_uri(split))
        pq.write_table(table(n, seed), f"{artifact.split_uri(split)}/part-00000.parquet")
    return artifact




class RecordingReporter(Reporter):
    def __init__(self):
        self.metrics: list[tuple[int | None, dict]] = []
        self.models: list[str] = []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))

    def log_model(self, model_dir, name="model"):
        self.models.append(model_dir)


def run_trainer(tmp_path, examples, extra_inputs=None, **params):
    model, run = Model(str(tmp_path / "model")), ModelRun(str(tmp_path / "run"))
    os.makedirs(model.uri)
    os.makedirs(run.uri)
    reporter = RecordingReporter()
    context = ExecutionContext(component_id="Trainer", tmp_dir=str(tmp_path / "tmp"),
                               reporter=reporter)
    os.makedirs(context.tmp_dir)
    TrainerExecutor(context).Do({"examples": [examples], **(extra_inputs or {})},
                                {"model": [model], "model_run": [run]},
                                TrainerParameters(**params))
    return model, run, reporter
