"""Helpers shared by the reliability harnesses: CLI subprocesses and store invariants."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CRASH_PIPELINE = Path(__file__).with_name("crash_pipeline.py")
CRASH_NODES = ("Source", "Stats", "Fit", "Report")
PG_URL_ENV = "GRISTMILL_TEST_DB_URL"


@dataclass
class HarnessResult:
    """What every harness returns: trial and failure counts plus the failures' details."""

    name: str
    trials: int = 0
    failures: int = 0
    details: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def check(self, ok: bool, detail: str, kind: str | None = None) -> bool:
        """Count one trial; record ``detail`` (and tally ``kind``) when it failed."""
        self.trials += 1
        if not ok:
            self.failures += 1
            if len(self.details) < 50:
                self.details.append(detail)
            if kind:
                kinds = self.figures.setdefault("failure_kinds", {})
                kinds[kind] = kinds.get(kind, 0) + 1
        return ok

    def to_dict(self) -> dict[str, Any]:
        """The harness's entry in ``make reliability``'s JSON line."""
        return {"trials": self.trials, "failures": self.failures,
                "seconds": round(time.time() - self.started, 1), "details": self.details,
                **({"figures": self.figures} if self.figures else {})}


def gristmill_command() -> list[str]:
    """The ``gristmill`` console script beside this interpreter, or ``python -m`` it."""
    script = Path(sys.executable).with_name("gristmill")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "gristmill.orchestrator.cli"]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a CLI subprocess: its own GRISTMILL_HOME, MLflow mirror off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRISTMILL_CRASH")}
    env.update({"GRISTMILL_HOME": str(home), "GRISTMILL_MLFLOW_MIRROR": "off",
                "PYTHONHASHSEED": "0"})
    env.update(extra)
    return env


def crash_run_args(root: Path, metadata_url: str, seed: int = 7, rows: int = 400) -> list[str]:
    """``gristmill run`` arguments for the crash pipeline."""
    return [*gristmill_command(), "run", str(CRASH_PIPELINE), "--json",
            f"--param=root={root}", f"--param=metadata_url={metadata_url}",
            f"--param=seed={seed}", f"--param=rows={rows}"]


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a CLI process in its own session, output to ``log``."""
    handle = open(log, "wb")  # noqa: SIM115 - closed by finish()
    process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True)
    process.log_handle = handle  # type: ignore[attr-defined]
    return process


def finish(process: subprocess.Popen, timeout: float = 120) -> int:
    """Wait for ``process`` (killing it past ``timeout``) and close its log."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        return process.wait()
    finally:
        process.log_handle.close()  # type: ignore[attr-defined]


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process and everything in its session."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_cli(args: list[str], env: dict[str, str], log: Path, timeout: float = 180
            ) -> tuple[int, dict[str, Any] | None, str]:
    """Run a CLI command to the end: exit code, its JSON line (if any), its output."""
    rc = finish(start(args, env, log), timeout)
    text = log.read_text(errors="replace")
    return rc, last_json(text), text


def last_json(text: str) -> dict[str, Any] | None:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_output_fingerprints(store, run_json: dict[str, Any]) -> dict[str, str]:
    """``{"node.key": fingerprint}`` of the artifacts a run's JSON reports."""
    found = {}
    for component in run_json.get("components", []):
        for key, refs in component.get("outputs", {}).items():
            ids = [ref["id"] for ref in refs]
            for artifact in store.get_artifacts(ids):
                found[f"{component['name']}.{key}"] = artifact.fingerprint
    return found


def store_problems(store) -> list[str]:
    """Violations of the store invariants that must hold at every moment.

    - no LIVE artifact points at missing files or files that differ from its fingerprint;
    - every LIVE artifact has exactly one producing COMPLETE execution;
    - no two artifact records share a URI.
    """
    from gristmill.metadata.fingerprint import fingerprint_path
    from gristmill.metadata.types import ArtifactState, EventType, ExecutionState

    problems = []
    live = store.list_artifacts(states=[ArtifactState.LIVE])
    for artifact in live:
        if not os.path.isdir(artifact.uri):
            problems.append(f"LIVE artifact {artifact.id} points at missing {artifact.uri}")
        elif not artifact.fingerprint or fingerprint_path(artifact.uri) != artifact.fingerprint:
            problems.append(f"LIVE artifact {artifact.id} at {artifact.uri} has partial or "
                            "changed files (fingerprint mismatch)")
        producers = [e.execution_id for e in store.get_events(artifact_id=artifact.id)
                     if e.type == EventType.OUTPUT]
        complete = [i for i in producers
                    if store.get_execution(i).state == ExecutionState.COMPLETE]
        if len(complete) != 1:
            problems.append(f"LIVE artifact {artifact.id} has {len(complete)} COMPLETE "
                            f"producers {complete}")
    uris: dict[str, int] = {}
    for artifact in store.list_artifacts():
        if artifact.uri in uris and artifact.state != ArtifactState.ABANDONED:
            problems.append(f"artifacts {uris[artifact.uri]} and {artifact.id} share uri "
                            f"{artifact.uri}")
        uris.setdefault(artifact.uri, artifact.id)
    return problems


def unfinished_executions(store) -> list[str]:
    """Executions still NEW or RUNNING."""
    from gristmill.metadata.types import ExecutionState

    return [f"execution {e.id} ({e.component_id}, pid {e.pid}) is {e.state.value}"
            for e in store.list_executions(states=[ExecutionState.NEW, ExecutionState.RUNNING])]


def postgres_schema_url(base: str, label: str) -> tuple[str, Any]:
    """A fresh schema on the PostgreSQL server at ``base``; returns (url, drop function)."""
    import uuid

    import psycopg

    admin = "postgresql://" + base.split("://", 1)[1]
    schema = f"rel_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return f"{base}{separator}options=-csearch_path%3D{schema}", drop


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
