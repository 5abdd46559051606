"""A small, deterministic pipeline for the crash-safety and concurrency harnesses.

``gristmill run tests/reliability/crash_pipeline.py --param root=... --param metadata_url=...``

Shape: ``Source -> (Stats, Fit) -> Report``. ``Fit`` has two outputs, so a crash can land
between the promotion of one output and the next. Every executor writes its files in chunks
with a short pause between them, so a kill at a random moment often lands mid-write.

Crash injection (used by ``tests/reliability/crash.py``): when ``GRISTMILL_CRASH_POINT`` is
``"<point>:<n>"``, the process SIGKILLs itself at the n-th time it reaches ``<point>``:

- ``register``: right after an execution was registered (RUNNING, nothing written yet);
- ``executor``: inside an executor, after it wrote part of its files;
- ``promote``: just before an output directory is renamed from staging to its final URI;
- ``after_promote``: just after that rename, before the publish transaction;
- ``in_publish_tx``: inside the publish transaction, after outputs were marked LIVE but
  before the commit;
- ``after_publish``: right after the publish transaction (between components).

``GRISTMILL_CRASH_READY`` names a file this module creates when the pipeline is defined, so
the harness can time random kills from the start of the real work.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.metadata.standard_artifacts import (
    Examples,
    ExampleStatistics,
    Model,
    ModelBlessing,
    ModelRun,
)
from gristmill.orchestrator import Pipeline

CRASH_ENV = "GRISTMILL_CRASH_POINT"
READY_ENV = "GRISTMILL_CRASH_READY"
POINTS = ("register", "executor", "promote", "after_promote", "in_publish_tx", "after_publish")
PAUSE_ENV = "GRISTMILL_CRASH_PAUSE"
_counts: dict[str, int] = {}
_lock = threading.Lock()


def crash_here(point: str) -> None:
    """SIGKILL this process when ``point`` is reached for the configured n-th time."""
    wanted = os.environ.get(CRASH_ENV, "")
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    with _lock:
        _counts[point] = _counts.get(point, 0) + 1
        hit = _counts[point] == int(nth or 1)
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)


def _write_chunks(path: str, lines: list[str], chunks: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    step = max(1, len(lines) // chunks)
    with open(path, "w") as f:
        for start in range(0, len(lines), step):
            f.write("".join(lines[start:start + step]))
            f.flush()
            time.sleep(float(os.environ.get(PAUSE_ENV, "0.01")))


@component
def Source(examples: OutputArtifact[Examples], rows: Parameter[int] = 400,
           seed: Parameter[int] = 7, files: Parameter[int] = 3) -> dict:
    """Write ``rows`` points of y = 3x + 1 per split, in ``files`` part files."""
    rng = random.Random(seed)
    for split in ("train", "eval"):
        for part in range(files):
            lines = []
            for _ in range(rows // files):
                x = rng.uniform(-10, 10)
                lines.append(json.dumps({"x": round(x, 6), "y": round(3 * x + 1, 6)}) + "\n")
            _write_chunks(os.path.join(examples.split_uri(split), f"part-{part:05d}.jsonl"),
                          lines, 4)
            if part == 0:
                crash_here("executor")
    examples.splits = ["train", "eval"]
    return {"rows": float(rows)}


def _points(examples: Examples, split: str) -> list[dict]:
    folder = examples.split_uri(split)
    points = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            points.extend(json.loads(line) for line in f)
    return points


@component
def Stats(examples: InputArtifact[Examples], statistics: OutputArtifact[ExampleStatistics]
          ) -> dict:
    """Count and mean of x per split."""
    for split in examples.splits:
        xs = [p["x"] for p in _points(examples, split)]
        body = json.dumps({"count": len(xs), "mean_x": round(sum(xs) / len(xs), 9)})
        _write_chunks(os.path.join(statistics.split_uri(split), "stats.json"), [body], 1)
        crash_here("executor")
    statistics.splits = list(examples.splits)
    return {"splits": float(len(examples.splits))}


@component
def Fit(examples: InputArtifact[Examples], model: OutputArtifact[Model],
        model_run: OutputArtifact[ModelRun]) -> dict:
    """Least-squares line on the train split; a per-row residual log as the run output."""
    points = _points(examples, "train")
    n = len(points)
    mx, my = sum(p["x"] for p in points) / n, sum(p["y"] for p in points) / n
    a = sum((p["x"] - mx) * (p["y"] - my) for p in points) / sum((p["x"] - mx) ** 2
                                                                   for p in points)
    b = my - a * mx
    residuals = [f"{p['y'] - (a * p['x'] + b):.6f}\n" for p in points]
    _write_chunks(os.path.join(model_run.uri, "residuals.txt"), residuals, 4)
    crash_here("executor")
    _write_chunks(os.path.join(model.uri, "line.json"),
                  [json.dumps({"a": round(a, 9), "b": round(b, 9)})], 1)
    return {"slope": round(a, 9)}


@component
def Report(statistics: InputArtifact[ExampleStatistics], model: InputArtifact[Model],
           blessing: OutputArtifact[ModelBlessing]) -> dict:
    """Bless the model when its slope is close to 3."""
    with open(os.path.join(model.uri, "line.json")) as f:
        line = json.load(f)
    with open(os.path.join(statistics.split_uri("eval"), "stats.json")) as f:
        stats = json.load(f)
    ok = abs(line["a"] - 3) < 0.01
    crash_here("executor")
    _write_chunks(os.path.join(blessing.uri, "BLESSED" if ok else "NOT_BLESSED"), [""], 1)
    _write_chunks(os.path.join(blessing.uri, "blessing.json"),
                  [json.dumps({"slope": line["a"], "eval_rows": stats["count"]})], 1)
    return {"blessed": float(ok)}


def _install_crash_points() -> None:
    """Wrap the orchestrator's publish steps so ``GRISTMILL_CRASH_POINT`` can stop them."""
    if not os.environ.get(CRASH_ENV):
        return
    from gristmill.metadata.sql import publish as sql_publish
    from gristmill.orchestrator import publisher

    def around(module, name, before=None, after=None):
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            if before:
                crash_here(before)
            out = original(*args, **kwargs)
            if after:
                crash_here(after)
            return out

        setattr(module, name, wrapped)

    around(publisher, "register_execution", after="register")
    around(publisher, "_promote", before="promote", after="after_promote")
    around(sql_publish, "_make_live", after="in_publish_tx")
    around(publisher, "publish_succeeded", after="after_publish")


_install_crash_points()


def create_pipeline(root: str | None = None, metadata_url: str | None = None,
                    rows: int = 400, seed: int = 7, tracking_uri: str = "") -> Pipeline:
    """The diamond ``Source -> (Stats, Fit) -> Report``."""
    ready = os.environ.get(READY_ENV)
    if ready:
        with open(ready, "w") as f:
            f.write(str(time.time()))
    source = Source(rows=int(rows), seed=int(seed))
    stats = Stats(examples=source.outputs["examples"])
    fit = Fit(examples=source.outputs["examples"])
    report = Report(statistics=stats.outputs["statistics"], model=fit.outputs["model"])
    return Pipeline("crashtest", [source, stats, fit, report], root=root,
                    metadata_url=metadata_url, tracking_uri=tracking_uri)
