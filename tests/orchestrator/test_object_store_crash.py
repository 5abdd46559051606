"""kill -9 against an object-store root: no LIVE artifact with missing objects, and what the
killed execution uploaded is deleted by the next run's stale recovery.

Uses the crash harness's pipeline (``tests/reliability/crash_pipeline.py``) and its named
kill points: just after one output was uploaded (``after_promote``), and inside the publish
transaction (every output uploaded, the transaction never commits). A kill inside an
executor leaves only local staging, as on a filesystem root (test_crash_and_concurrency.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import object_store_server
import pytest
from object_store_server import object_keys
from orchestrator_fakes import gristmill_command, subprocess_env

from gristmill.metadata.store import open_store
from gristmill.metadata.types import ArtifactState, ExecutionState
from gristmill.orchestrator import object_store

pytestmark = pytest.mark.integration
s3_endpoint, bucket = object_store_server.s3_endpoint, object_store_server.bucket  # fixtures
CRASH_PIPELINE = Path(__file__).resolve().parents[1] / "reliability" / "crash_pipeline.py"
CRASH_ENV = "GRISTMILL_CRASH_POINT"


def _run(root: str, url: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    args = gristmill_command("run", str(CRASH_PIPELINE), "--json", f"--param=root={root}",
                             f"--param=metadata_url={url}")
    return subprocess.run(args, env=subprocess_env(home, **env), capture_output=True,
                          text=True, timeout=180)


def _fingerprints(store, run_id: str) -> dict[str, str]:
    found = {}
    for execution in store.list_executions(run_id=run_id):
        for key, artifacts in store.get_outputs(execution.id).items():
            found[f"{execution.component_id}.{key}"] = artifacts[0].fingerprint
    return found


def _live_problems(store, fresh_home: Path, monkeypatch) -> list[str]:
    """LIVE artifacts whose objects are missing, changed, or download to other bytes."""
    monkeypatch.setenv("GRISTMILL_HOME", str(fresh_home))  # no local copies to lean on
    problems = []
    for artifact in store.list_artifacts(states=[ArtifactState.LIVE]):
        try:
            object_store.verify_remote(artifact, "check")
            object_store.materialize(artifact)
        except Exception as e:  # collect them all
            problems.append(f"{artifact.id}: {e}")
    return problems


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """Output fingerprints of an uninterrupted run on a local root."""
    tmp = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{tmp / 'm.db'}"
    done = _run(str(tmp / "root"), url, tmp / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = json.loads(done.stdout.strip().splitlines()[-1])["run_id"]
    with open_store(url) as store:
        return _fingerprints(store, run_id)


@pytest.mark.parametrize("point", ["after_promote:2", "in_publish_tx:2"])
def test_kill_9_on_s3_root_leaves_no_broken_live_artifact_and_recovery_deletes_leftovers(
        point, bucket, s3_endpoint, tmp_path, home, reference, monkeypatch):
    root, url = f"s3://{bucket}/crash", f"sqlite:///{tmp_path / 'metadata.db'}"
    killed_run = _run(root, url, home, **{CRASH_ENV: point})
    assert killed_run.returncode == -9, killed_run.stderr[-3000:]
    with open_store(url) as store:
        killed = store.list_executions(states=[ExecutionState.RUNNING])  # 1 or 2 (parallel)
        pending = [a for e in killed for v in store.get_outputs(e.id).values() for a in v]
        assert pending and all(a.state is ArtifactState.PENDING for a in pending)
        assert _live_problems(store, tmp_path / "fresh-1", monkeypatch) == []
    monkeypatch.setenv("GRISTMILL_HOME", str(home))
    prefixes = [a.uri.removeprefix(f"s3://{bucket}/") + "/" for a in pending]
    left = [k for p in prefixes for k in object_keys(s3_endpoint, bucket, p)]
    assert left  # what the killed execution had uploaded
    tokens = {a.uri.rsplit("/", 1)[1] for a in pending}
    work = Path(object_store.local_dir(root))

    rerun = _run(root, url, home)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    result = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert result["status"] == "COMPLETE"
    with open_store(url) as store:
        assert {store.get_execution(e.id).state for e in killed} == {ExecutionState.FAILED}
        assert {a.state for a in store.get_artifacts([a.id for a in pending])} == {
            ArtifactState.ABANDONED}
        assert [k for p in prefixes for k in object_keys(s3_endpoint, bucket, p)] == []
        assert not any((work / d / t).exists() for d in (".staging", ".tmp") for t in tokens)
        assert store.list_executions(states=[ExecutionState.RUNNING, ExecutionState.NEW]) == []
        assert _live_problems(store, tmp_path / "fresh-2", monkeypatch) == []
        assert _fingerprints(store, result["run_id"]) == reference
