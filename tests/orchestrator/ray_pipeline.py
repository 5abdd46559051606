"""A pipeline file for the Ray runner tests: a fan-out whose branches must meet, and a node
that kills its own worker process.

``Start`` -> (``left``, ``right``) -> ``Join``. ``left`` and ``right`` are a rendezvous: each
writes its name into ``meet_dir`` and waits (up to ``wait_s``) for the other's, so the run
completes only when the two executors really ran at the same time. ``Crasher`` kills its own
process (SIGKILL: no exception, no cleanup, as the OOM killer would) while the file
``kill_flag`` exists, deleting the flag first so that a retry succeeds. ``Sleeper`` sleeps
(to be interrupted).
"""

from __future__ import annotations

import os
import signal
import time

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.metadata.standard_artifacts import Examples
from gristmill.orchestrator import Pipeline


@component
def Start(out: OutputArtifact[Examples], value: Parameter[int] = 1) -> dict:
    """Write ``value``."""
    with open(os.path.join(out.uri, "value.txt"), "w") as f:
        f.write(str(value))
    return {"value": value}


@component
def Meet(x: InputArtifact[Examples], out: OutputArtifact[Examples], me: Parameter[str] = "",
         peer: Parameter[str] = "", meet_dir: Parameter[str] = "",
         wait_s: Parameter[float] = 90.0) -> dict:
    """Announce ``me`` in ``meet_dir``, wait for ``peer``; write ``value + 1``."""
    open(os.path.join(meet_dir, me), "w").close()
    deadline = time.time() + wait_s
    while not os.path.exists(os.path.join(meet_dir, peer)):
        if time.time() > deadline:
            raise TimeoutError(f"{me}: {peer} did not run at the same time within {wait_s} s")
        time.sleep(0.05)
    with open(os.path.join(x.uri, "value.txt")) as f:
        value = int(f.read()) + 1
    with open(os.path.join(out.uri, "value.txt"), "w") as f:
        f.write(str(value))
    return {"value": value}


@component
def Join(a: InputArtifact[Examples], b: InputArtifact[Examples],
         out: OutputArtifact[Examples]) -> dict:
    """Write the sum of both inputs."""
    total = 0
    for artifact in (a, b):
        with open(os.path.join(artifact.uri, "value.txt")) as f:
            total += int(f.read())
    with open(os.path.join(out.uri, "value.txt"), "w") as f:
        f.write(str(total))
    return {"value": total}


@component
def Crasher(x: InputArtifact[Examples], out: OutputArtifact[Examples],
            kill_flag: Parameter[str] = "") -> dict:
    """SIGKILL this process while ``kill_flag`` exists (the flag is removed first)."""
    if kill_flag and os.path.exists(kill_flag):
        os.remove(kill_flag)
        os.kill(os.getpid(), signal.SIGKILL)
    with open(os.path.join(out.uri, "value.txt"), "w") as f:
        f.write("survived")
    return {}


@component
def Sleeper(x: InputArtifact[Examples], out: OutputArtifact[Examples],
            pid_file: Parameter[str] = "") -> dict:
    """Write this process's pid into ``pid_file``, then sleep for two minutes."""
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)
    return {}


def create_pipeline(meet_dir: str = "", kill_flag: str = "", retries: int = 0,
                    join_gpus: int = 0, sleeper_pid_file: str = "", root: str = "",
                    metadata_url: str = "") -> Pipeline:
    """The rendezvous diamond, plus ``Crasher`` after ``Start`` when ``kill_flag`` is set
    and ``Sleeper`` when ``sleeper_pid_file`` is; ``Join`` asks for ``join_gpus`` GPUs."""
    start = Start(value=1)
    left = Meet(x=start.outputs["out"], me="left", peer="right",
                meet_dir=meet_dir).with_id("left")
    right = Meet(x=start.outputs["out"], me="right", peer="left",
                 meet_dir=meet_dir).with_id("right")
    join = Join(a=left.outputs["out"], b=right.outputs["out"]).with_node_execution_options(
        num_gpus=int(join_gpus))
    nodes = [start, left, right, join]
    if kill_flag:
        nodes.append(Crasher(x=start.outputs["out"], kill_flag=kill_flag)
                     .with_node_execution_options(max_execution_retries=int(retries),
                                                  retry_backoff_sec=0.0))
    if sleeper_pid_file:
        nodes.append(Sleeper(x=start.outputs["out"], pid_file=sleeper_pid_file))
    return Pipeline("ray_meet", nodes, root=root or None, metadata_url=metadata_url or None,
                    tracking_uri="")
