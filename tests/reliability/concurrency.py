"""Concurrency: 4 and 8 simultaneous ``gristmill run`` processes on one metadata store.

Runs on SQLite always and on PostgreSQL when ``GRISTMILL_TEST_DB_URL`` is set (each round
gets a fresh schema). Half of the runs of a round share their parameters, so they race for
the same cache entries; the other half differ. A trial is one run; it passes when the run
succeeded and its lineage is complete: one execution per node, each input the very artifact
its upstream node's execution of the same run published, every artifact LIVE and intact.
Each round also checks the whole store: no lost or duplicated executions, contexts or
artifacts, nothing left RUNNING.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .common import (
    CRASH_NODES,
    PG_URL_ENV,
    HarnessResult,
    cli_env,
    crash_run_args,
    finish,
    fresh_dir,
    postgres_schema_url,
    start,
    store_problems,
    unfinished_executions,
)
from .common import last_json as _last_json

# node -> (input key, upstream node, upstream output key)
_WIRING = {"Stats": [("examples", "Source", "examples")],
           "Fit": [("examples", "Source", "examples")],
           "Report": [("statistics", "Stats", "statistics"), ("model", "Fit", "model")]}


def run_lineage_problems(store, run_id: str) -> list[str]:
    """What is missing or duplicated in one run's executions and lineage."""
    from gristmill.metadata.types import ArtifactState

    executions = store.list_executions(run_id=run_id)
    by_node: dict[str, Any] = {}
    problems = []
    for execution in executions:
        if execution.component_id in by_node:
            problems.append(f"node {execution.component_id} has two executions")
        by_node[execution.component_id] = execution
        if not execution.state.succeeded:
            problems.append(f"{execution.component_id} is {execution.state.value}: "
                            f"{execution.error}")
    if sorted(by_node) != sorted(CRASH_NODES):
        return [*problems, f"executions for nodes {sorted(by_node)}, expected "
                           f"{sorted(CRASH_NODES)}"]
    outputs = {node: store.get_outputs(e.id) for node, e in by_node.items()}
    for node, artifacts in outputs.items():
        for key, arts in artifacts.items():
            if len(arts) != 1 or arts[0].state != ArtifactState.LIVE:
                problems.append(f"{node}.{key}: expected one LIVE artifact, got {arts}")
    for node, wiring in _WIRING.items():
        inputs = store.get_inputs(by_node[node].id)
        for key, upstream, upstream_key in wiring:
            got = [a.id for a in inputs.get(key, [])]
            want = [a.id for a in outputs[upstream].get(upstream_key, [])]
            if got != want or not got:
                problems.append(f"{node}({key}) consumed {got}, but {upstream} published {want}")
    blessing = outputs["Report"].get("blessing", [])
    if blessing:
        graph = store.get_lineage(blessing[0].id, direction="upstream", hops=3)
        reached = {a.id for a in graph.artifacts}
        source = outputs["Source"]["examples"][0].id
        if source not in reached:
            problems.append(f"lineage of blessing {blessing[0].id} does not reach the "
                            f"examples {source}")
    return problems


def store_count_problems(store, runs: int) -> list[str]:
    """Whole-store checks after a round of ``runs`` runs."""
    from gristmill.metadata.store import NODE, PIPELINE, PIPELINE_RUN

    problems = store_problems(store) + unfinished_executions(store)
    executions = store.list_executions()
    if len(executions) != runs * len(CRASH_NODES):
        problems.append(f"{len(executions)} executions, expected {runs * len(CRASH_NODES)}")
    for kind, expected in ((PIPELINE, 1), (PIPELINE_RUN, runs), (NODE, len(CRASH_NODES))):
        names = [c.name for c in store.list_contexts(kind)]
        if len(names) != expected or len(set(names)) != len(names):
            problems.append(f"{kind} contexts {names}: expected {expected} distinct")
    return problems


def run_round(work: Path, size: int, url: str, label: str, result: HarnessResult) -> None:
    """Start ``size`` runs at once on one store and check every run and the store."""
    from gristmill.metadata.store import open_store

    home = fresh_dir(work / label)
    processes = []
    for i in range(size):
        seed = 7 if i % 2 == 0 else 100 + i
        processes.append(start(crash_run_args(home / "root", url, seed=seed),
                               cli_env(home), home / f"log-{i}.txt"))
    codes = [finish(p, timeout=300) for p in processes]
    run_ids = []
    with open_store(url) as store:
        for i, rc in enumerate(codes):
            text = (home / f"log-{i}.txt").read_text(errors="replace")
            summary = _last_json(text)
            if rc != 0 or summary is None or "Traceback" in text:
                result.check(False, f"{label} run {i}: rc {rc}: {text[-600:]}")
                continue
            run_ids.append(summary["run_id"])
            problems = run_lineage_problems(store, summary["run_id"])
            result.check(not problems, f"{label} run {i}: {problems[:3]}")
        problems = store_count_problems(store, size)
        states: dict[str, int] = {}
        for execution in store.list_executions():
            states[execution.state.value] = states.get(execution.state.value, 0) + 1
    result.check(not problems, f"{label} store: {problems[:5]}")
    result.figures.setdefault("rounds", []).append(
        {"round": label, "runs": size, "ok_runs": len(run_ids), "executions": states})


def run(sizes: tuple[int, ...] = (4, 8), repeats: int = 2, work: Path | None = None) -> dict:
    """Every size ``repeats`` times on SQLite, and on PostgreSQL when configured."""
    result = HarnessResult("concurrency")
    pg_base = os.environ.get(PG_URL_ENV)
    result.figures["postgresql"] = bool(pg_base)
    with tempfile.TemporaryDirectory(prefix="gm-concurrency-") as tmp:
        work = work or Path(tmp)
        for repeat in range(repeats):
            for size in sizes:
                label = f"sqlite-{size}-{repeat}"
                url = f"sqlite:///{work / label}.db"
                _guarded(run_round, (work, size, url, label, result), label, result)
                if pg_base:
                    _postgres_round(work, size, pg_base, f"pg-{size}-{repeat}", result)
    return result.to_dict()


def _postgres_round(work: Path, size: int, base: str, label: str,
                    result: HarnessResult) -> None:
    try:
        url, drop = postgres_schema_url(base, label.replace("-", "_"))
    except Exception as e:
        result.check(False, f"{label}: cannot create a schema on {PG_URL_ENV}: {e}")
        return
    try:
        _guarded(run_round, (work, size, url, label, result), label, result)
    finally:
        drop()


def _guarded(fn, args: tuple, label: str, result: HarnessResult) -> None:
    try:
        fn(*args)
    except Exception as e:  # a harness error is a failure, and the other rounds still run
        result.check(False, f"{label}: harness error {type(e).__name__}: {e}")
