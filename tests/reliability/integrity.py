"""Integrity: a tampered or deleted artifact is caught before it is reused or consumed.

Each trial runs the crash pipeline once (in-process, fresh store and root), tampers with
one published artifact in one way, then either

- re-runs the whole pipeline with the cache on: the tampered artifact must not be reused
  (its producer runs again, the record is retired), the run succeeds, and its outputs equal
  an untouched run's; or
- runs only a consumer of the tampered artifact (``from_nodes``): the consumer must fail
  with an integrity error naming the artifact and must not execute.

Afterwards no LIVE artifact may point at files that differ from its fingerprint.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .common import HarnessResult, fresh_dir, store_problems

# output -> the node that consumes it (None: nothing downstream)
TARGETS = {"Source.examples": "Stats", "Stats.statistics": "Report", "Fit.model": "Report",
           "Fit.model_run": None, "Report.blessing": None}


def _largest_file(uri: str) -> Path:
    files = [p for p in Path(uri).rglob("*") if p.is_file()]
    return max(files, key=lambda p: (p.stat().st_size, str(p)))


def _flip_byte(uri: str) -> None:
    path = _largest_file(uri)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(uri: str) -> None:
    path = _largest_file(uri)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _rename(uri: str) -> None:
    path = _largest_file(uri)
    path.rename(path.with_name(path.name + ".old"))


TAMPERS: dict[str, Callable[[str], None]] = {
    "flip a byte": _flip_byte,
    "truncate a file": _truncate,
    "delete a file": lambda uri: _largest_file(uri).unlink(),
    "add a file": lambda uri: Path(uri, "extra.txt").write_text("x"),
    "rename a file": _rename,
    "delete the directory": lambda uri: shutil.rmtree(uri),
    "empty the directory": lambda uri: (shutil.rmtree(uri), os.makedirs(uri)),
}


def _run(home: Path, **kwargs):
    from gristmill.orchestrator.runner import SequentialRunner

    from .crash_pipeline import PAUSE_ENV, create_pipeline

    os.environ[PAUSE_ENV] = "0"  # no slow writes needed: nothing is killed here
    pipeline = create_pipeline(root=str(home / "root"),
                               metadata_url=f"sqlite:///{home / 'metadata.db'}")
    return SequentialRunner(mirror_mlflow=False).run(pipeline, **kwargs)


def _fingerprints(store, run) -> dict[str, str]:
    found = {}
    for node in run.components:
        for key, artifacts in node.outputs.items():
            found[f"{node.node_id}.{key}"] = store.get_artifacts([artifacts[0].id])[0].fingerprint
    return found


def cache_trial(home: Path, target: str, tamper: Callable[[str], None],
                reference: dict[str, str]) -> list[str]:
    """Tamper, re-run with the cache on; the producer must run again."""
    from gristmill.metadata.store import open_store
    from gristmill.metadata.types import ArtifactState, ExecutionState

    first = _run(home)
    node, key = target.split(".")
    artifact = first.node(node).outputs[key][0]
    tamper(artifact.uri)
    second = _run(home)
    problems = []
    if second.status != "COMPLETE":
        problems.append(f"re-run {second.status}: {[r.error for r in second.components]}")
    if second.node(node).state != ExecutionState.COMPLETE:
        problems.append(f"{node} was {second.node(node).state.value}, expected it to run again")
    with open_store(f"sqlite:///{home / 'metadata.db'}") as store:
        state = store.get_artifacts([artifact.id])[0].state
        if state == ArtifactState.LIVE:
            problems.append(f"tampered artifact {artifact.id} is still LIVE")
        if second.status == "COMPLETE" and _fingerprints(store, second) != reference:
            problems.append("outputs differ from an untouched run")
        problems += store_problems(store)
    return problems


def consume_trial(home: Path, target: str, tamper: Callable[[str], None],
                  consumer: str) -> list[str]:
    """Tamper, run only the consumer: it must fail on integrity and not execute."""
    from gristmill.metadata.store import open_store
    from gristmill.metadata.types import ExecutionState

    first = _run(home)
    node, key = target.split(".")
    artifact = first.node(node).outputs[key][0]
    tamper(artifact.uri)
    partial = _run(home, from_nodes=[consumer])
    result = partial.node(consumer)
    problems = []
    if result.state != ExecutionState.FAILED:
        problems.append(f"{consumer} was {result.state.value} on a tampered input")
    elif str(artifact.id) not in (result.error or "") or "Fix:" not in (result.error or ""):
        problems.append(f"{consumer}'s error does not name artifact {artifact.id} and the fix: "
                        f"{result.error}")
    with open_store(f"sqlite:///{home / 'metadata.db'}") as store:
        ran = store.list_executions(run_id=partial.run_id, component_id=consumer,
                                    states=[ExecutionState.COMPLETE])
        if ran:
            problems.append(f"{consumer} executed on a tampered input")
    return problems


def run(work: Path | None = None) -> dict:
    """Every tamper on every output, for reuse from cache and for downstream consumption."""
    result = HarnessResult("integrity")
    with tempfile.TemporaryDirectory(prefix="gm-integrity-") as tmp:
        base = work or Path(tmp)
        reference_home = fresh_dir(base / "reference")
        reference_run = _run(reference_home)
        from gristmill.metadata.store import open_store

        with open_store(f"sqlite:///{reference_home / 'metadata.db'}") as store:
            reference = _fingerprints(store, reference_run)
        index = 0
        for target, consumer in TARGETS.items():
            for name, tamper in TAMPERS.items():
                index += 1
                _trial(result, f"cache: {name} in {target}",
                       cache_trial, fresh_dir(base / f"t{index}c"), target, tamper, reference)
                if consumer:
                    _trial(result, f"consume: {name} in {target} -> {consumer}",
                           consume_trial, fresh_dir(base / f"t{index}d"), target, tamper,
                           consumer)
    return result.to_dict()


def _trial(result: HarnessResult, label: str, fn, *args) -> None:
    try:
        problems = fn(*args)
    except Exception as e:  # a crash of the harness or the runner is a failure too
        problems = [f"raised {type(e).__name__}: {e}"]
    result.check(not problems, f"{label}: {problems[:3]}")
