"""One dataset through Gristmill: files written, the automatic pipeline run, outcome classified.

The pipeline (docs/gauntlet.md, "Pipeline"): the dataset is written to ``data.csv`` and
``data.parquet``; both go through their ExampleGen and a StatisticsGen (both checked against
pandas); the *primary* format (CSV for even positions in the selection, Parquet for odd)
continues through SchemaGen -> ExampleValidator -> Transform (automatic preprocessing) ->
Trainer (built-in MLP) -> Evaluator.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
MODULE_FILE = str(HERE / "auto_preprocessing.py")
#: Built-in trainer settings: small and fast; early stopping on val_loss.
EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 0.01
#: A node error from our own code path that is not a GristmillError (the launcher's
#: wrapper of a foreign exception, or its "internal error" message).
FOREIGN_ERROR = re.compile(r"\) raised [A-Za-z_.]+: |internal error [A-Za-z_.]+:")
TRACEBACK_TAIL = re.compile(r'File "([^"]+)", line \d+')


@dataclass
class RunOutcome:
    """What the pipeline run gave: status, per-node results and the artifacts we check."""

    status: str
    outcome: str  # completed / clear_error / internal_error / harness_error
    message: str = ""
    node_states: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    uris: dict[str, str] = field(default_factory=dict)
    raw_tracebacks: int = 0


def write_files(frame: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """``csv/data.csv`` and ``parquet/data.parquet`` under ``folder`` (input_base of each)."""
    paths = {"csv": folder / "csv" / "data.csv", "parquet": folder / "parquet" / "data.parquet"}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False)
    return paths


def build_pipeline(name: str, data_dir: Path, root: Path, target: str, primary: str):
    """The automatic pipeline of one dataset (see the module docstring)."""
    from gristmill.components import (
        CsvExampleGen,
        EvalConfig,
        Evaluator,
        ExampleValidator,
        ModelSpec,
        ParquetExampleGen,
        SchemaGen,
        StatisticsGen,
        Trainer,
        TrainerConfig,
        Transform,
    )
    from gristmill.orchestrator import Pipeline

    gens = {"csv": CsvExampleGen(input_base=str(data_dir / "csv")).with_id("CsvExampleGen"),
            "parquet": ParquetExampleGen(input_base=str(data_dir / "parquet")).with_id(
                "ParquetExampleGen")}
    stats = {fmt: StatisticsGen(examples=gen.outputs["examples"]).with_id(f"StatisticsGen_{fmt}")
             for fmt, gen in gens.items()}
    examples, statistics = gens[primary].outputs["examples"], stats[primary].outputs["statistics"]
    schema_gen = SchemaGen(statistics=statistics)
    validator = ExampleValidator(statistics=statistics, schema=schema_gen.outputs["schema"])
    transform = Transform(examples=examples, schema=schema_gen.outputs["schema"],
                          module_file=MODULE_FILE, preprocessing_fn="preprocessing_fn",
                          custom_config={"label_key": target})
    trainer = Trainer(examples=transform.outputs["transformed_examples"],
                      transform_graph=transform.outputs["transform_graph"],
                      config=TrainerConfig(label_key=target, epochs=EPOCHS,
                                           batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
                                           exports=[], device="cpu", distributed="off"))
    evaluator = Evaluator(examples=examples, model=trainer.outputs["model"],
                          eval_config=EvalConfig(model_specs=[ModelSpec(label_key=target)]))
    components = [*gens.values(), *stats.values(), schema_gen,
                  validator, transform, trainer, evaluator]
    pipeline_name = "gauntlet-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)
    return Pipeline(pipeline_name, components, root=str(root / "root"),
                    metadata_url=str(root / "metadata.db"), enable_cache=False)


class _TracebackCounter(logging.Handler):
    """Counts log records that carry a traceback (a raw traceback a user would see)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "Traceback (most recent call last)" in record.getMessage():
            self.count += 1
            self.first = self.first or f"logger {record.name}: {self.format(record)[-1500:]}"


def run_pipeline(pipeline) -> RunOutcome:
    """Run in-process and classify: completed, clear error (a Gristmill error with a fix, or a
    validation halt with its reason), internal error, or harness error (our module's frames).

    Log records carrying a traceback (Beam logs one for every exception a DoFn raises, ours
    included) are counted in ``raw_tracebacks`` on their own, not folded into the outcome."""
    from gristmill.orchestrator import LocalDagRunner

    counter = _TracebackCounter()
    logging.getLogger().addHandler(counter)
    try:
        result = LocalDagRunner().run(pipeline)
    finally:
        logging.getLogger().removeHandler(counter)
    outcome = RunOutcome(result.status, "completed", raw_tracebacks=counter.count)
    for node in result.components:
        outcome.node_states[node.node_id] = node.display_state
        outcome.metrics[node.node_id] = dict(node.metrics)
        for key, artifacts in node.outputs.items():
            if artifacts:
                outcome.uris[f"{node.node_id}.{key}"] = artifacts[0].uri
    errors = [(n.node_id, n.error) for n in result.components if n.error
              and n.display_state == "FAILED"]
    halts = [(n.node_id, n.halt_reason) for n in result.components if n.halt_reason]
    if counter.count:
        outcome.message = f"(raw traceback logged by {counter.first})"
    if result.status == "COMPLETE":
        return outcome
    if errors:
        node_id, error = errors[0]
        outcome.message = f"{node_id}: {error}\n{outcome.message}".rstrip()
        outcome.outcome = classify_error(error)
    elif halts:
        outcome.outcome, outcome.message = "clear_error", f"{halts[0][0]} halted: {halts[0][1]}"
    else:
        outcome.outcome = "internal_error"
        outcome.message = f"status {result.status} with no failed node error"
    return outcome


def classify_error(error: str) -> str:
    """``clear_error`` for a Gristmill error with a ``Fix:``; ``harness_error`` when the
    traceback tail is in the harness's own module; else ``internal_error``."""
    files = TRACEBACK_TAIL.findall(error)
    if files and any(str(HERE) in f for f in files):
        return "harness_error"
    if FOREIGN_ERROR.search(error) or "Traceback" in error or "Fix:" not in error:
        return "internal_error"
    return "clear_error"
