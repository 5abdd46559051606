"""Interrupted first start of each store, and damaged store files.

- metadata SQLite: a process opening a brand-new store is killed (SIGKILL) after a random
  delay in its first start; the next open must succeed at the head revision, with no
  half-made ``metadata.db`` ever visible.
- MLflow store: the same for ``ensure_tracking_store`` (MLflow's own schema creation).
- PostgreSQL (when ``GRISTMILL_TEST_DB_URL`` is set): the same on a fresh schema.
- damaged files (hypothesis-generated): empty, garbage, and a real store truncated or
  overwritten at a random offset. Opening must either return the store intact or refuse
  with a StoreError whose fix says restore/rename; never a raw exception, never a store
  silently treated as new.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import PG_URL_ENV, HarnessResult, fresh_dir, postgres_schema_url

_OPEN_METADATA = """
import sys
from gristmill.metadata.sql import migrate, session  # imports paid before "go"
import alembic.command
from gristmill.metadata.store import open_store
print("go", flush=True)
open_store(sys.argv[1]).close()
print("done", flush=True)
"""

_OPEN_MLFLOW = """
import sys
import mlflow.store.tracking.sqlalchemy_store, mlflow.store.db.utils
from mlflow import MlflowClient
from gristmill.components.framework.tracking_store import ensure_tracking_store
print("go", flush=True)
ensure_tracking_store(sys.argv[1])
print("done", flush=True)
"""


def _kill_after_go(code: str, target: str, delay: float, env: dict | None = None) -> str:
    """Start ``code``; SIGKILL it ``delay`` s after it prints "go"; what it printed."""
    process = subprocess.Popen([sys.executable, "-c", code, target], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        first = process.stdout.readline().strip()
        if first != "go":
            return f"child failed before go: {first!r}"
        time.sleep(delay)
        process.kill()
        rest = process.stdout.read()
    finally:
        process.wait(timeout=60)
    return "done" if "done" in rest else "killed"


def metadata_trial(base: Path, delay: float, url: str | None = None) -> list[str]:
    """Kill a first open of the metadata store, then open it: it must work at head."""
    from gristmill.metadata.sql.migrate import HEAD_REVISION, current_revision
    from gristmill.metadata.store import open_store

    target = url or str(base / "metadata.db")
    outcome = _kill_after_go(_OPEN_METADATA, target, delay)
    if outcome.startswith("child failed"):
        return [outcome]
    try:
        with open_store(target) as store:
            store.put_context("pipeline", "after-kill", {})
        revision = current_revision(target)
    except Exception as e:
        return [f"metadata store killed after {delay:.3f}s ({outcome}) stays broken: "
                f"{type(e).__name__}: {e}"]
    return [] if revision == HEAD_REVISION else [f"revision {revision} after a kill"]


def mlflow_trial(base: Path, delay: float) -> list[str]:
    """Kill a first ``ensure_tracking_store``, then ensure it again: it must work."""
    from gristmill.components.framework.tracking_store import ensure_tracking_store

    uri = f"sqlite:///{base / 'mlflow.db'}"
    outcome = _kill_after_go(_OPEN_MLFLOW, uri, delay)
    if outcome.startswith("child failed"):
        return [outcome]
    try:
        ensure_tracking_store(uri)
        from mlflow import MlflowClient

        if MlflowClient(uri).get_experiment_by_name("Default") is None:
            return [f"MLflow store killed after {delay:.3f}s has no Default experiment"]
    except Exception as e:
        return [f"MLflow store killed after {delay:.3f}s ({outcome}) stays broken: "
                f"{type(e).__name__}: {str(e)[:300]}"]
    return []


def damaged_trial(base: Path, damage: str, offset_fraction: float, payload: bytes,
                  reference: Path) -> list[str]:
    """Open a damaged copy of ``reference``: intact or refused with the fix, nothing else."""
    from gristmill.metadata.errors import StoreError
    from gristmill.metadata.store import open_store

    path = base / "metadata.db"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(payload or b"x")
    else:
        data = bytearray(reference.read_bytes())
        at = int(len(data) * offset_fraction)
        if damage == "truncate":
            data = data[:at]
        else:  # overwrite
            data[at:at + len(payload)] = payload
        path.write_bytes(bytes(data))
    try:
        with open_store(str(path)) as store:
            names = sorted(c.name for c in store.list_contexts("pipeline"))
    except StoreError as e:
        ok = "restore" in str(e) or "mv " in str(e)
        return [] if ok else [f"{damage}@{offset_fraction:.2f}: refused without the restore "
                              f"fix: {e}"]
    except Exception as e:
        return [f"{damage}@{offset_fraction:.2f}: raw {type(e).__name__}: {e}"]
    if names != sorted(f"p{i}" for i in range(40)):
        return [f"{damage}@{offset_fraction:.2f}: opened, but holds {len(names)} of 40 "
                "pipelines: damage went unnoticed"]
    return []


def _reference_store(base: Path) -> Path:
    from gristmill.metadata.store import open_store

    path = base / "reference.db"
    with open_store(str(path)) as store:
        for index in range(40):
            store.put_context("pipeline", f"p{index}", {"root": "r" * 300})
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def run(kills: int = 20, mlflow_kills: int = 6, damaged: int = 60, seed: int = 14) -> dict:
    """The interrupted-first-start and damaged-file trials."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    result = HarnessResult("first_start")
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="gm-first-start-") as tmp:
        for index in range(kills):
            delay = rng.uniform(0.0, 0.25)
            problems = metadata_trial(fresh_dir(Path(tmp) / f"m{index}"), delay)
            result.check(not problems, "; ".join(problems), kind="metadata kill")
        for index in range(mlflow_kills):
            delay = rng.uniform(0.0, 2.5)
            problems = mlflow_trial(fresh_dir(Path(tmp) / f"f{index}"), delay)
            result.check(not problems, "; ".join(problems), kind="mlflow kill")
        _postgres_trials(result, rng, max(2, kills // 5))
        reference = _reference_store(fresh_dir(Path(tmp) / "ref"))
        counter = iter(range(10**9))

        @settings(max_examples=damaged, database=None, derandomize=True, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(damage=st.sampled_from(["empty", "garbage", "truncate", "overwrite"]),
               offset=st.floats(0.0, 0.999), payload=st.binary(min_size=1, max_size=512))
        def damaged_case(damage, offset, payload):
            base = fresh_dir(Path(tmp) / f"d{next(counter)}")
            problems = damaged_trial(base, damage, offset, payload, reference)
            result.check(not problems, "; ".join(problems), kind=f"damaged {damage}")

        damaged_case()
    return result.to_dict()


def _postgres_trials(result: HarnessResult, rng: random.Random, trials: int) -> None:
    base = os.environ.get(PG_URL_ENV)
    if not base:
        result.figures["postgresql"] = f"skipped: {PG_URL_ENV} not set"
        return
    for index in range(trials):
        url, drop = postgres_schema_url(base, f"first{index}")
        try:
            problems = metadata_trial(Path(tempfile.gettempdir()), rng.uniform(0.0, 0.4), url)
        finally:
            drop()
        result.check(not problems, "; ".join(problems), kind="postgresql kill")
