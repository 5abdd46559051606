"""RayDagRunner on a real Ray cluster on 127.0.0.1: a head and a second node, 1 CPU each.

The cluster is started once for the module (``ray.cluster_utils.Cluster``: real raylet,
GCS and worker processes; no dashboard; small object stores). Two single-CPU nodes make two
things checkable: two nodes running at once must run on different Ray nodes, and a node
whose executor is still running holds a whole node's CPU.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from orchestrator_fakes import gristmill_command, subprocess_env

from gristmill.metadata.store import open_store
from gristmill.metadata.types import ExecutionState
from gristmill.orchestrator import LocalDagRunner, RayDagRunner
from gristmill.orchestrator.cli_commands import load_pipeline

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "pipelines" / "hello" / "pipeline.py"
MEET = Path(__file__).resolve().parent / "ray_pipeline.py"
SMALL_OBJECT_STORE = 80 * 2 ** 20  # Ray's minimum is 75 MiB; the machine is shared


@pytest.fixture(scope="module")
def ray_cluster():
    """A head node and one more node process on this machine, 1 CPU each."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": SMALL_OBJECT_STORE})
    cluster.add_node(num_cpus=1, object_store_memory=SMALL_OBJECT_STORE)
    cluster.wait_for_nodes(timeout=120)  # generous: the machine is shared
    yield cluster
    cluster.shutdown()


def executions(metadata_url: str, pipeline: str) -> dict[str, list]:
    """Node id -> its executions, oldest first."""
    with open_store(metadata_url) as store:
        found: dict[str, list] = {}
        for execution in store.list_executions(pipeline_name=pipeline):
            found.setdefault(execution.component_id, []).append(execution)
        return found


def output_fingerprints(result) -> dict[tuple[str, str], list[str]]:
    """(node, output key) -> the fingerprints of its output artifacts."""
    return {(node.node_id, key): [a.fingerprint for a in artifacts]
            for node in result.components for key, artifacts in node.outputs.items()}


def hello(tmp_path: Path, name: str):
    params = [f"root={tmp_path / name / 'root'}",
              f"metadata_url=sqlite:///{tmp_path / name / 'metadata.db'}", "tracking_uri="]
    return load_pipeline(str(HELLO), params)[0]


def test_outputs_equal_the_local_runners_and_executors_ran_in_ray_workers(
        ray_cluster, tmp_path):
    local = LocalDagRunner().run(hello(tmp_path, "local"))
    pipeline = hello(tmp_path, "ray")
    remote = RayDagRunner(ray_cluster.address).run(pipeline)

    assert local.status == remote.status == "COMPLETE"
    assert output_fingerprints(remote) == output_fingerprints(local)
    assert all(fingerprints[0] for fingerprints in output_fingerprints(remote).values())
    assert [n.metrics for n in remote.components] == [n.metrics for n in local.components]
    cluster_nodes = {node["NodeID"] for node in _ray_nodes(ray_cluster)}
    for node_id, [execution] in executions(pipeline.metadata_url, "hello").items():
        where = execution.custom_properties
        assert where["executor_pid"] != os.getpid(), node_id
        assert where["ray_node_id"] in cluster_nodes, node_id
        assert where["executor_started"] <= where["executor_ended"]
    # the local runner records no placement: its executors run in this process
    local_props = executions(f"sqlite:///{tmp_path / 'local' / 'metadata.db'}", "hello")
    assert all("executor_pid" not in e.custom_properties
               for [e] in local_props.values())


def _ray_nodes(cluster) -> list[dict]:
    import ray

    ray.init(address=cluster.address)
    try:
        return [n for n in ray.nodes() if n["Alive"]]
    finally:
        ray.shutdown()


def test_independent_nodes_run_at_the_same_time_on_two_ray_nodes(ray_cluster, tmp_path):
    meet_dir = tmp_path / "meet"
    meet_dir.mkdir()
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    pipeline = load_pipeline(str(MEET), [f"meet_dir={meet_dir}", f"root={tmp_path / 'root'}",
                                         f"metadata_url={url}"])[0]
    result = RayDagRunner(ray_cluster.address).run(pipeline)

    assert result.status == "COMPLETE", [n.error for n in result.components]
    assert result.node("Join").metrics == {"value": 4.0}
    found = executions(url, "ray_meet")
    left, right = found["left"][0].custom_properties, found["right"][0].custom_properties
    # each waited for the other, so their recorded intervals overlap
    assert left["executor_started"] < right["executor_ended"]
    assert right["executor_started"] < left["executor_ended"]
    # one CPU per Ray node: two tasks at once ran on two nodes, in two processes
    assert left["ray_node_id"] != right["ray_node_id"]
    assert len({left["executor_pid"], right["executor_pid"], os.getpid()}) == 3


def test_a_worker_killed_mid_node_is_retried_as_a_new_execution(ray_cluster, tmp_path):
    (tmp_path / "meet").mkdir()
    flag = tmp_path / "kill-me"
    flag.touch()
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    pipeline = load_pipeline(str(MEET), [
        f"meet_dir={tmp_path / 'meet'}", f"kill_flag={flag}", "retries=1",
        f"root={tmp_path / 'root'}", f"metadata_url={url}"])[0]
    result = RayDagRunner(ray_cluster.address).run(pipeline)

    assert result.status == "COMPLETE", [n.error for n in result.components]
    assert not flag.exists()  # the first attempt really ran and killed its worker
    killed, retried = executions(url, "ray_meet")["Crasher"]
    assert killed.state is ExecutionState.FAILED
    assert "Ray task ended without an answer" in killed.error
    assert retried.state is ExecutionState.COMPLETE
    assert result.node("Crasher").attempts == 2
    assert not list((tmp_path / "root" / ".staging").glob("*/*"))  # nothing half-written left


def test_a_killed_worker_fails_the_run_with_the_resume_command(ray_cluster, tmp_path, home):
    (tmp_path / "meet").mkdir()
    flag = tmp_path / "kill-me"
    flag.touch()
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    done = subprocess.run(gristmill_command(
        "run", str(MEET), "--runner", "ray", "--ray-address", ray_cluster.address, "--json",
        "--param", f"meet_dir={tmp_path / 'meet'}", "--param", f"kill_flag={flag}",
        "--param", f"root={tmp_path / 'root'}", "--param", f"metadata_url={url}"),
        capture_output=True, text=True, timeout=120, env=subprocess_env(home), cwd=tmp_path)

    assert done.returncode == 1, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "FAILED"
    crasher = next(c for c in summary["components"] if c["name"] == "Crasher")
    assert "its executor's Ray task ended without an answer" in crasher["error"]
    resume = (f"--runner=ray --ray-address={ray_cluster.address}")
    assert resume in summary["resume_command"]
    assert f"resume:    gristmill run {MEET}" in done.stderr
    assert resume in done.stderr
    assert {c["name"]: c["state"] for c in summary["components"]} == {
        "Start": "COMPLETE", "left": "COMPLETE", "right": "COMPLETE", "Join": "COMPLETE",
        "Crasher": "FAILED"}


def test_ctrl_c_cancels_the_execution_and_its_ray_task(ray_cluster, tmp_path, home):
    (tmp_path / "meet").mkdir()
    pid_file = tmp_path / "sleeper.pid"
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    run = subprocess.Popen(gristmill_command(
        "run", str(MEET), "--runner", "ray", "--ray-address", ray_cluster.address,
        "--param", f"meet_dir={tmp_path / 'meet'}", "--param", f"sleeper_pid_file={pid_file}",
        "--param", f"root={tmp_path / 'root'}", "--param", f"metadata_url={url}"),
        stderr=subprocess.PIPE, text=True, env=subprocess_env(home), cwd=tmp_path)
    deadline = time.time() + 90
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    run.send_signal(signal.SIGINT)
    stderr = run.communicate(timeout=60)[1]

    assert run.returncode == 130, stderr[-3000:]
    assert re.search(r"interrupted: run \S+ is CANCELED; stopped and recorded CANCELED: .*Sleeper",
                     stderr)
    assert "resume:    gristmill run" in stderr and "--runner=ray" in stderr
    # the cancel is not mistaken for a lost worker, nor recorded twice
    assert "Ray task ended without an answer" not in stderr
    assert "could not be recorded" not in stderr
    [sleeper] = executions(url, "ray_meet")["Sleeper"]
    assert sleeper.state is ExecutionState.CANCELED
    assert _ends_within(worker, 20), f"the Ray worker {worker} still runs the node"


def _ends_within(pid: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.unit
def test_the_local_path_never_imports_ray(tmp_path):
    code = ("import json, sys\n"
            "import gristmill.orchestrator as o\n"
            "for name in o.__all__: getattr(o, name)\n"
            "from gristmill.orchestrator.cli_commands import load_pipeline\n"
            f"p = load_pipeline({str(HELLO)!r}, ['root={tmp_path / 'root'}', "
            f"'metadata_url=sqlite:///{tmp_path / 'm.db'}', 'tracking_uri='])[0]\n"
            "assert o.LocalDagRunner().run(p).status == 'COMPLETE'\n"
            "print(json.dumps('ray' in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "GRISTMILL_MLFLOW_MIRROR": "off"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) is False


def _context(tmp_path: Path):
    from gristmill.components.framework.executor import ExecutionContext

    scratch = tmp_path / "root" / ".tmp" / "token"
    scratch.mkdir(parents=True)
    return ExecutionContext(component_id="Trainer", pipeline_root=str(tmp_path / "root"),
                            tmp_dir=str(scratch))


@pytest.mark.unit
def test_a_worker_that_does_not_see_the_drivers_root_refuses_to_execute(tmp_path):
    from gristmill.orchestrator.ray_runner import ROOT_MARKER, root_not_shared

    context = _context(tmp_path)
    refusal = root_not_shared(context, "abc123")
    assert refusal is not None
    assert "Trainer: the Ray worker on host" in refusal
    assert f"does not see the pipeline root {tmp_path / 'root'}" in refusal
    assert "(no such file)" in refusal and "nothing was executed" in refusal
    (Path(context.tmp_dir) / ROOT_MARKER).write_text("another run's marker")
    assert "(a different file)" in root_not_shared(context, "abc123")
    (Path(context.tmp_dir) / ROOT_MARKER).write_text("abc123")
    assert root_not_shared(context, "abc123") is None


@pytest.mark.unit
def test_outputs_the_driver_cannot_see_are_refused_not_published_empty(tmp_path):
    from ray_pipeline import Start

    from gristmill.metadata.standard_artifacts import Model
    from gristmill.orchestrator.ray_runner import (
        ExecutorReply,
        RemoteExecutorError,
        check_outputs_visible,
        files_written,
    )

    staging = tmp_path / "staging"
    (staging / "sub").mkdir(parents=True)
    (staging / "sub" / "weights.bin").write_bytes(b"12345")
    outputs = {"model": [Model(str(staging))]}
    written = files_written(outputs)
    assert written == {"model": {"0/sub/weights.bin": 5}}
    node = Start(value=1)
    check_outputs_visible(node, outputs, ExecutorReply(outputs, {}, None, [], {}, None,
                                                       written), wait_s=0.0)
    # the worker wrote one more file (on its own disk): this process does not see it
    elsewhere = {"model": {**written["model"], "0/model.pt": 2048}}
    reply = ExecutorReply(outputs, {}, None, [], {"executor_host": "node-7"}, None, elsewhere)
    with pytest.raises(RemoteExecutorError, match=r"Start \(Start\): the executor on host "
                       r"node-7 wrote files this process does not see \(after 0.2 s\): 1 "
                       r"missing or of another size, e.g. \['model/0/model.pt'\]"):
        check_outputs_visible(node, outputs, reply, wait_s=0.2)


def test_a_node_no_ray_node_can_host_fails_at_once_instead_of_waiting_for_ever(
        ray_cluster, tmp_path):
    (tmp_path / "meet").mkdir()
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    pipeline = load_pipeline(str(MEET), [f"meet_dir={tmp_path / 'meet'}", "join_gpus=1",
                                         f"root={tmp_path / 'root'}", f"metadata_url={url}"])[0]
    result = RayDagRunner(ray_cluster.address).run(pipeline, resume_command="gristmill run X")

    assert result.status == "FAILED"
    assert result.resume_command == "gristmill run X"
    assert result.node("right").state is ExecutionState.COMPLETE
    join = result.node("Join")
    assert join.state is ExecutionState.FAILED
    assert ("Join (Join): no node of the Ray cluster has the resources it asks for: needs 1 "
            "CPU, 1 GPU, the largest node has 1 CPU, 0 GPU (2 nodes)") in join.error
    assert "add a node that has them" in join.error


@pytest.mark.unit
def test_task_options_carry_the_nodes_resources_and_turn_ray_retries_off():
    from ray_pipeline import Start

    from gristmill.orchestrator.ray_runner import task_options

    node = Start(value=1).with_node_execution_options(num_cpus=2, num_gpus=1, memory_gb=1.5)
    assert task_options(node) == {"num_cpus": 2, "num_gpus": 1, "memory": 1610612736,
                                  "max_retries": 0, "name": "gristmill:Start"}
    assert task_options(Start(value=1))["num_cpus"] == 1  # None: Ray's default of one CPU


@pytest.mark.unit
@pytest.mark.parametrize("flags, refusal", [
    (["--ray-address", "10.0.0.5:6379"], r"--ray-address 10.0.0.5:6379: the local runner does "
                                         r"not use a Ray cluster\. Fix: add --runner ray"),
    (["--runner", "ray", "--sequential"], r"--sequential and --runner ray: .* Fix: drop one")])
def test_contradictory_runner_flags_are_refused(flags, refusal):
    from gristmill.metadata.errors import ConfigError
    from gristmill.orchestrator.cli import build_parser
    from gristmill.orchestrator.cli_commands import _make_runner

    args = build_parser().parse_args(["run", str(HELLO), *flags])
    with pytest.raises(ConfigError, match=refusal):
        _make_runner(args, [])


@pytest.mark.unit
def test_the_cli_makes_a_ray_runner_for_the_address_given():
    from gristmill.orchestrator.cli import build_parser
    from gristmill.orchestrator.cli_commands import _make_runner, _resume_command

    args = build_parser().parse_args(["run", str(HELLO), "--runner", "ray", "--ray-address",
                                      "10.0.0.5:6379"])
    runner = _make_runner(args, [])
    assert isinstance(runner, RayDagRunner) and runner.address == "10.0.0.5:6379"
    assert _resume_command(args).endswith("--runner=ray --ray-address=10.0.0.5:6379")
