"""``trainer-e2e``: the Trainer component's wall versus its training loop alone.

Two datasets: penguin (``pipelines/penguin/data/labelled``, the pipeline's hyperparameters)
and ``--rows`` taxi-like rows (:mod:`datagen`, label ``big_tipper``: tips > 20% of the
fare). Both with the default ``TrainerConfig.exports``, on the CPU.

* ``trainer_seconds``: ``TrainerExecutor(context).Do(...)`` as the tests call it: fn_args,
  ``default_run_fn`` (training, ``save_bundle`` with every export and its checks, the model
  run files), then ``finish`` (input example, edge report, MLflow pyfunc, metrics).
* ``loop_seconds`` (the floor): ``gristmill.engine.tabular.train_tabular`` with the same
  arguments ``default_run_fn`` passes, nothing else.

torch, onnx and onnxruntime are imported, and one untimed run of each side made, before
timing; then the two alternate (order flipped each round) in fresh directories (a stable
checkpoint directory would resume). Medians. ``breakdown`` is the median seconds of each
piece inside the Trainer (timers wrapped around the functions it calls); with exports in a
background thread the pieces overlap, so they need not add up to ``trainer_seconds``.
Top-level ``seconds``/``floor_seconds``/``ratio`` are the dataset with the worse ratio.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: (module, function, breakdown key): the pieces of the Trainer's time.
PIECES = [
    ("gristmill.engine.tabular", "train_tabular", "loop"),
    ("gristmill.engine.serving", "save_bundle", "save_bundle"),
    ("gristmill.engine.export", "export_program", "program"),
    ("torch.export", "export", "program_trace"),
    ("torch.export", "save", "program_save"),
    ("torch.export", "load", "program_load"),
    ("gristmill.engine.export", "export_onnx", "onnx_tensors"),
    ("gristmill.engine.onnx_raw", "export_raw_onnx", "onnx"),
    ("gristmill.engine.onnx_edge", "quantize_int8", "onnx_int8"),
    ("gristmill.components.trainer.run", "write_model_run", "write_model_run"),
    ("gristmill.components.trainer.model_pyfunc", "input_example", "input_example"),
    ("gristmill.components.trainer.edge", "write_trainer_edge_report", "edge_report"),
    ("gristmill.components.trainer.model_pyfunc", "save_pyfunc", "save_pyfunc"),
]
#: Pieces on the Trainer's own thread one after another (the rest is "other").
TOP_LEVEL = ("loop", "save_bundle", "write_model_run", "input_example", "edge_report",
             "save_pyfunc")


def add_arguments(parser) -> None:
    """``--rows`` taxi rows (15,000), ``--repeats`` timed runs per side, ``--exports``."""
    parser.set_defaults(rows=15_000)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side")
    parser.add_argument("--exports", default=None,
                        help="comma-separated exports (default: TrainerConfig's default)")
    parser.add_argument("--datasets", default="penguin,taxi")


def _split(table, root: str):
    """An Examples artifact: every 5th row to eval, the rest to train."""
    import numpy as np
    import pyarrow.parquet as pq

    from gristmill.metadata.standard_artifacts import Examples

    artifact = Examples(root, id=1)
    artifact.splits = ["train", "eval"]
    is_eval = np.arange(table.num_rows) % 5 == 0
    for split, mask in (("train", ~is_eval), ("eval", is_eval)):
        os.makedirs(artifact.split_uri(split))
        pq.write_table(table.filter(mask), f"{artifact.split_uri(split)}/part-00000.parquet")
    return artifact


def penguin(root: str, exports: list[str]):
    """The labelled penguins with the pipeline's hyperparameters (default exports)."""
    import sys

    import pyarrow.csv as pacsv

    sys.path.insert(0, str(REPO / "pipelines" / "penguin"))
    from pipeline import trainer_config

    table = pacsv.read_csv(REPO / "pipelines" / "penguin" / "data" / "labelled" /
                           "penguins.csv")
    config = trainer_config(40).model_dump() | {"exports": exports}
    return _split(table, root), config


def taxi(root: str, exports: list[str], rows: int):
    """``rows`` taxi-like rows, label ``big_tipper``, default hyperparameters on the CPU."""
    import pyarrow.compute as pc
    from datagen import make_chunk

    table = make_chunk(0, rows)
    big = pc.greater(table["tips"], pc.multiply(pc.fill_null(table["fare"], 0.0), 0.2))
    table = table.drop_columns(["tips"]).append_column(
        "big_tipper", pc.if_else(big, "yes", "no"))
    config = {"label_key": "big_tipper", "device": "cpu", "distributed": "off",
              "exports": exports}
    return _split(table, root), config


@contextlib.contextmanager
def timers(seconds: dict[str, float]):
    """Wrap each function of :data:`PIECES` so its wall time is added to ``seconds``."""
    saved = []
    for module_name, attr, key in PIECES:
        module = importlib.import_module(module_name)
        original = getattr(module, attr)

        def timed(*a, __f=original, __k=key, **kw):
            start = time.perf_counter()
            try:
                return __f(*a, **kw)
            finally:
                seconds[__k] = seconds.get(__k, 0.0) + time.perf_counter() - start

        saved.append((module, attr, original))
        setattr(module, attr, timed)
    try:
        yield seconds
    finally:
        for module, attr, original in reversed(saved):
            setattr(module, attr, original)


def trainer_once(examples, config: dict, root: str) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU seconds of one ``TrainerExecutor.Do``, and its breakdown."""
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.components.trainer.config import TrainerParameters
    from gristmill.components.trainer.executor import TrainerExecutor
    from gristmill.metadata.standard_artifacts import Model, ModelRun

    model, run = Model(os.path.join(root, "model")), ModelRun(os.path.join(root, "run"))
    context = ExecutionContext(component_id="Trainer", tmp_dir=os.path.join(root, "tmp"))
    for path in (model.uri, run.uri, context.tmp_dir):
        os.makedirs(path)
    params = TrainerParameters(config=config)
    breakdown: dict[str, float] = {}
    with timers(breakdown):
        start, cpu = time.perf_counter(), time.process_time()
        TrainerExecutor(context).Do({"examples": [examples]},
                                    {"model": [model], "model_run": [run]}, params)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    missing = [f for f in model.get_custom_property("exports")
               if not os.path.exists(os.path.join(model.uri, _FILES.get(f, f)))]
    if missing:
        raise RuntimeError(f"Trainer published exports without their files: {missing}")
    breakdown["other"] = wall - sum(breakdown.get(k, 0.0) for k in TOP_LEVEL)
    return wall, cpu, breakdown


_FILES = {"program": "program.pt2", "onnx": "model.onnx", "onnx_tensors": "model_tensors.onnx",
          "onnx_int8": "model_int8.onnx"}


def loop_once(examples, config: dict, root: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``train_tabular`` alone, called as ``default_run_fn`` does."""
    from gristmill.components.framework.fn_args import split_files
    from gristmill.components.framework.trainer_config import TrainerConfig
    from gristmill.engine.tabular import train_tabular

    cfg = TrainerConfig.model_validate(config)
    train, evals = split_files(examples.split_uri("train")), split_files(
        examples.split_uri("eval"))
    start, cpu = time.perf_counter(), time.process_time()
    train_tabular(train, evals, cfg.label_key, model=cfg.model, model_kwargs=cfg.model_kwargs(),
                  config=cfg.train_config(os.path.join(root, "checkpoints"), None, None),
                  task=cfg.task, transform=None, inputs_are_transformed=False,
                  device=cfg.device, residency=cfg.data_residency,
                  categorical=cfg.categorical_features, weight_key=cfg.weight_key,
                  on_epoch_end=lambda epoch, metrics: None)
    return time.perf_counter() - start, time.process_time() - cpu


def measure(examples, config: dict, repeats: int, scratch: str) -> dict:
    """Warm-up, then ``repeats`` alternating runs of each side; medians.

    ``overhead_seconds`` is the median, over the Trainer runs, of the Trainer's wall minus
    its own training loop's: the same run on both sides, so load swings on a shared machine
    cancel out better than in the ratio of two medians.
    """
    counter = iter(range(10**6))

    def fresh() -> str:
        return tempfile.mkdtemp(prefix=f"r{next(counter)}-", dir=scratch)

    trainer_once(examples, config, fresh())  # warm-up: lazy imports, first-call costs
    loop_once(examples, config, fresh())
    trainer, loop, parts = [], [], []
    for i in range(repeats):
        for side in (("trainer", "loop") if i % 2 == 0 else ("loop", "trainer")):
            if side == "trainer":
                wall, cpu, breakdown = trainer_once(examples, config, fresh())
                trainer.append((wall, cpu))
                parts.append(breakdown)
            else:
                loop.append(loop_once(examples, config, fresh()))
    med = statistics.median
    t, f = med(w for w, _ in trainer), med(w for w, _ in loop)
    overhead = med(w - p["loop"] for (w, _), p in zip(trainer, parts, strict=True))
    cpu_t, cpu_f = med(c for _, c in trainer), med(c for _, c in loop)
    return {"trainer_seconds": round(t, 3), "loop_seconds": round(f, 3),
            "ratio": round(t / f, 3), "overhead_seconds": round(overhead, 3),
            "overhead_ratio": round((f + overhead) / f, 3),
            "cpu_trainer_seconds": round(cpu_t, 3), "cpu_loop_seconds": round(cpu_f, 3),
            "cpu_ratio": round(cpu_t / cpu_f, 3),
            "breakdown": {k: round(med(p.get(k, 0.0) for p in parts), 3)
                          for k in sorted({k for p in parts for k in p})},
            "trainer_runs": [round(w, 3) for w, _ in trainer],
            "loop_runs": [round(w, 3) for w, _ in loop]}


def run(args) -> dict:
    """Both datasets; the top-level figures are the worse ratio's."""
    import onnx  # noqa: F401  (warm imports: not part of either side's time)
    import onnxruntime  # noqa: F401
    import torch

    from gristmill.components.framework.trainer_config import TrainerConfig

    exports = args.exports.split(",") if args.exports else list(TrainerConfig().exports)
    scratch = tempfile.mkdtemp(prefix="gristmill-trainer-e2e-")
    results = {}
    try:
        for name in args.datasets.split(","):
            root = os.path.join(scratch, name)
            examples, config = (penguin(root, exports) if name == "penguin"
                                else taxi(root, exports, args.rows))
            results[name] = {"rows": examples_rows(examples),
                             **measure(examples, config, args.repeats, scratch)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    worst = max(results.values(), key=lambda r: r["ratio"])
    return {"rows": args.rows, "exports": exports, "threads": torch.get_num_threads(),
            "repeats": args.repeats, "seconds": worst["trainer_seconds"],
            "floor_seconds": worst["loop_seconds"], "ratio": worst["ratio"], **results}


def examples_rows(examples) -> int:
    """Rows over the train and eval splits."""
    import pyarrow.parquet as pq

    from gristmill.components.framework.fn_args import split_files

    return sum(pq.ParquetFile(f).metadata.num_rows for split in examples.splits
               for f in split_files(examples.split_uri(split)))
