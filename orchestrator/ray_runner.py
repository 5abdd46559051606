"""``RayDagRunner``: the local scheduling loop, with each node's executor run as a Ray task.

What stays in the driver (the ``gristmill run`` process): the scheduling loop, input
resolution, the cache check, registering and publishing executions: the driver is still the
only writer of the metadata store, and publishing (fingerprint, promote from staging) is the
same code as the local runner's. What moves to the cluster: the executor's ``Do``, as one
Ray task per node with the node's ``NodeExecutionOptions`` resources (``num_cpus``,
``num_gpus``, ``memory_gb``). The task reads its inputs and writes its staging outputs
through the pipeline root, which every Ray node must see at the same path (a shared
filesystem; an object-store root once the root supports one).

The task returns what the executor set in place (output artifact properties, metrics, a halt
request, reporter calls, which the driver replays to the MLflow mirror) and where it ran
(``executor_host``, ``executor_pid``, ``ray_node_id``, ``executor_started``,
``executor_ended``), recorded on the execution. Ray's own task retries are off: a lost
worker fails the attempt, and the node's ``max_execution_retries`` decide, as locally.
A worker that does not see the driver's root, output files the driver cannot see, and a
node no cluster node can host are refused with the fix, never published or left waiting.

Ray is an optional dependency (``pip install gristmill[ray]``), imported only here and only
when a run starts.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import sysconfig
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from gristmill.components.framework.base import BaseComponent
from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.metadata.errors import ConfigError, GristmillError
from gristmill.metadata.types import Artifact
from gristmill.orchestrator.dsl import Pipeline
from gristmill.orchestrator.failures import describe_failure
from gristmill.orchestrator.launcher import RunState
from gristmill.orchestrator.runner import LocalDagRunner, RunResult

GiB = 2 ** 30
#: The file the driver writes into a node's scratch directory for the worker to find.
ROOT_MARKER = ".gristmill-driver-marker"


class RemoteExecutorError(GristmillError):
    """A node's executor failed (or its Ray worker died) on the Ray cluster."""


class RecordingReporter(Reporter):
    """Keeps the executor's reporter calls so the driver can replay them to its mirror."""

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def log_params(self, params):
        self.calls.append(("log_params", (dict(params),)))

    def log_metrics(self, metrics, step=None):
        self.calls.append(("log_metrics", (dict(metrics), step)))

    def log_artifact(self, path, artifact_path=None):
        self.calls.append(("log_artifact", (path, artifact_path)))

    def log_model(self, model_dir, name="model"):
        self.calls.append(("log_model", (model_dir, name)))


@dataclass
class ExecutorReply:
    """What a Ray task sends back: the executor's in-place results and where it ran."""

    outputs: dict[str, list[Artifact]]
    metrics: dict[str, float]
    halt_reason: str | None
    reports: list[tuple[str, tuple]]
    placement: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    #: Output key -> {relative path: size} of the files the executor wrote.
    written: dict[str, dict[str, int]] = field(default_factory=dict)


def run_executor_task(executor_cls: type, context: ExecutionContext,
                      inputs: dict[str, list[Artifact]], outputs: dict[str, list[Artifact]],
                      parameters: Any, component_type: str, marker: str) -> ExecutorReply:
    """The body of the Ray task (runs in a Ray worker process)."""
    import ray

    placement: dict[str, Any] = {
        "executor_host": socket.gethostname(), "executor_pid": os.getpid(),
        "ray_node_id": ray.get_runtime_context().get_node_id(), "executor_started": time.time()}
    reporter = RecordingReporter()
    context = dataclasses.replace(context, reporter=reporter)
    failure = root_not_shared(context, marker)
    if failure is None:
        try:
            executor_cls(context).Do(inputs, outputs, parameters)
        except Exception as e:  # classified here, where the traceback's frames are
            failure = describe_failure(context.component_id, component_type, e,
                                       context.run_id).message
    placement["executor_ended"] = time.time()
    return ExecutorReply(outputs, dict(context.metrics), context.halt_reason, reporter.calls,
                         placement, failure, files_written(outputs))


def root_not_shared(context: ExecutionContext, marker: str) -> str | None:
    """Why this worker cannot work on the run's root (None when it sees the driver's file).

    The driver writes ``marker`` into the node's scratch directory before the task starts;
    a worker that does not find it would write its outputs where the driver never looks,
    and the driver would publish empty artifacts.
    """
    path = os.path.join(context.tmp_dir, ROOT_MARKER)
    try:
        with open(path) as handle:
            if handle.read() == marker:
                return None
            seen = "a different file"
    except OSError:
        seen = "no such file"
    return str(RemoteExecutorError(
        f"{context.component_id}: the Ray worker on host {socket.gethostname()} does not see "
        f"the pipeline root {context.pipeline_root} the driver writes: the driver's file "
        f"{path} is not there ({seen}). Every Ray node must mount the root at the same path; "
        "nothing was executed.",
        fix="put the root on a filesystem every Ray node mounts at the same path (NFS), or "
            "run on a cluster whose nodes share this machine's disk"))


def files_written(outputs: dict[str, list[Artifact]]) -> dict[str, dict[str, int]]:
    """Output key -> {relative path: size} of every file under its artifacts' URIs."""
    found: dict[str, dict[str, int]] = {}
    for key, artifacts in outputs.items():
        found[key] = {}
        for index, artifact in enumerate(artifacts):
            for folder, _, names in os.walk(artifact.uri):
                for name in names:
                    path = os.path.join(folder, name)
                    relative = f"{index}/{os.path.relpath(path, artifact.uri)}"
                    found[key][relative] = os.path.getsize(path)
    return found


class RayDagRunner(LocalDagRunner):
    """Runs each node's executor as a Ray task; scheduling and the store stay here.

    Args:
        address: The Ray cluster (``ray://host:10001``, ``host:6379`` or ``"auto"``);
            ``None`` connects to the cluster this process is already connected to, or
            starts a local one. The pipeline root must be a path every Ray node sees.
        max_parallel_nodes: Nodes in flight at once (Ray queues tasks beyond what the
            cluster's resources allow).
        visibility_wait_s: How long to wait for the files an executor wrote on another
            host to become visible here (NFS attribute caches) before refusing them.
        **kwargs: ``hooks``, ``mirror_mlflow`` as for :class:`LocalDagRunner`.

    Example:
        ``RayDagRunner("127.0.0.1:6379").run(create_pipeline())``, or
        ``gristmill run pipeline.py --runner ray --ray-address 127.0.0.1:6379``.
    """

    def __init__(self, address: str | None = None, max_parallel_nodes: int = 16,
                 visibility_wait_s: float = 30.0, **kwargs: Any):
        super().__init__(max_workers=max_parallel_nodes, **kwargs)
        self.address = address
        self.visibility_wait_s = visibility_wait_s
        self._in_flight: set = set()
        self._lock = threading.Lock()
        self._node_resources: list[dict[str, float]] | None = None
        self._interrupted = False

    def run(self, pipeline: Pipeline, **kwargs: Any) -> RunResult:
        """Connect to Ray (unless connected), run ``pipeline``; see :meth:`BaseRunner.run`."""
        ray = import_ray()
        connected_here = not ray.is_initialized()
        if connected_here:
            extra = {"include_dashboard": False} if self.address is None else {}
            ray.init(address=self.address, **extra)
        ship_user_code_by_value(pipeline.components)
        self._node_resources = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        self._interrupted = False
        try:
            return super().run(pipeline, **kwargs)
        except KeyboardInterrupt:  # the executions are CANCELED: stop their tasks too
            with self._lock:
                self._interrupted = True
                for ref in self._in_flight:
                    ray.cancel(ref, force=True)
            raise
        finally:
            if connected_here:
                ray.shutdown()

    def _start_run(self, *args: Any, **kwargs: Any) -> RunState:
        state = super()._start_run(*args, **kwargs)
        state.execute = self.execute
        return state

    def execute(self, component: BaseComponent, context: ExecutionContext,
                inputs: dict[str, list[Artifact]], outputs: dict[str, list[Artifact]]
                ) -> dict[str, Any]:
        """The launcher's ``execute`` seam: run ``Do`` as a Ray task and wait for it.

        Returns:
            Where the executor ran, recorded on the execution.

        Raises:
            RemoteExecutorError: The executor failed, its worker died, the worker did not
                see the root, or its output files are not visible to this process.
        """
        ray = import_ray()
        if self._node_resources is not None:
            refuse_unschedulable(component, self._node_resources)
        marker = uuid.uuid4().hex
        with open(os.path.join(context.tmp_dir, ROOT_MARKER), "w") as handle:
            handle.write(marker)
        task = ray.remote(run_executor_task).options(**task_options(component))
        shipped = dataclasses.replace(context, reporter=Reporter())
        ref = task.remote(component.EXECUTOR, shipped, inputs, outputs, component.parameters,
                          component.type_name, marker)
        with self._lock:
            self._in_flight.add(ref)
        try:
            reply: ExecutorReply = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # the task raised outside the executor
            raise task_error(component, e) from None
        except ray.exceptions.RayError as e:
            if self._interrupted:  # canceled by Ctrl-C: the execution is CANCELED already
                raise KeyboardInterrupt from None
            raise lost_worker_error(component, e) from None
        finally:
            with self._lock:
                self._in_flight.discard(ref)
        if reply.failure:
            raise RemoteExecutorError(reply.failure)
        check_outputs_visible(component, outputs, reply, self.visibility_wait_s)
        _take_back(outputs, reply, context)
        return reply.placement


def import_ray():
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError(f"RayDagRunner needs the 'ray' package, which is not installed "
                          f"({e}).", fix="pip install 'gristmill[ray]'") from None
    return ray


def task_options(component: BaseComponent) -> dict[str, Any]:
    """The Ray task options of a node: its resources; Ray's own retries off."""
    options = component.execution_options
    resources: dict[str, Any] = {"num_cpus": options.num_cpus or 1, "num_gpus": options.num_gpus,
                                 "max_retries": 0, "name": f"gristmill:{component.id}"}
    if options.memory_gb:
        resources["memory"] = int(options.memory_gb * GiB)
    return resources


def refuse_unschedulable(component: BaseComponent, nodes: list[dict[str, float]]) -> None:
    """Raise when no node of the cluster has the resources the node asks for.

    Ray would queue such a task for ever (waiting for an autoscaler to add a node); a fixed
    cluster never runs it, so the run would hang without a word.
    """
    options = task_options(component)
    needed = {k: v for k, v in (("CPU", options["num_cpus"]), ("GPU", options["num_gpus"]),
                                ("memory", options.get("memory", 0))) if v}
    if any(all(node.get(k, 0) >= v for k, v in needed.items()) for node in nodes):
        return
    largest = {k: max((node.get(k, 0) for node in nodes), default=0) for k in needed}
    raise RemoteExecutorError(
        f"{component.id} ({component.type_name}): no node of the Ray cluster has the "
        f"resources it asks for: needs {_resources(needed)}, the largest node has "
        f"{_resources(largest)} ({len(nodes)} nodes). Ray would wait for ever.",
        fix="add a node that has them (e.g. a GPU node), or lower the node's "
            "with_node_execution_options(num_cpus=..., num_gpus=..., memory_gb=...)")


def _resources(amounts: dict[str, float]) -> str:
    return ", ".join(f"{amounts[k] / GiB:g} GiB memory" if k == "memory" else f"{amounts[k]:g} {k}"
                     for k in amounts)


def task_error(component: BaseComponent, error: Exception) -> RemoteExecutorError:
    """The error of a Ray task that failed around the executor (e.g. the worker could not
    unpickle the node's code: a library missing or of another version there)."""
    cause = getattr(error, "cause", None) or error
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return RemoteExecutorError(
        f"{component.id} ({component.type_name}): its Ray task failed before the executor "
        f"could finish: {type(cause).__name__}: {first_line}.",
        fix="install gristmill and the pipeline's libraries, same versions as here, on every "
            "Ray node (or in the cluster's runtime_env)")


def lost_worker_error(component: BaseComponent, error: Exception) -> RemoteExecutorError:
    """The error of a node whose Ray task died without an answer (killed, out of memory)."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return RemoteExecutorError(
        f"{component.id} ({component.type_name}): its executor's Ray task ended without an "
        f"answer ({type(error).__name__}: {first_line}); the worker process was killed or "
        "lost (out of memory, node shut down). Its partial outputs were discarded.",
        fix="give the node more memory (with_node_execution_options(memory_gb=...)), or let "
            "it retry (max_execution_retries=N); then resume with the command below")


def check_outputs_visible(component: BaseComponent, outputs: dict[str, list[Artifact]],
                          reply: ExecutorReply, wait_s: float) -> None:
    """Raise unless this process sees the files the executor wrote (names and sizes).

    A shared filesystem may show another host's writes late (NFS attribute caching), so
    a difference is looked at again for up to ``wait_s`` seconds before it is an error.
    """
    deadline = time.monotonic() + wait_s
    while (seen := files_written(outputs)) != reply.written:
        if time.monotonic() >= deadline:
            missing = sorted(f"{k}/{p}" for k, files in reply.written.items()
                             for p, size in files.items() if seen.get(k, {}).get(p) != size)
            host = reply.placement.get("executor_host")
            raise RemoteExecutorError(
                f"{component.id} ({component.type_name}): the executor on host {host} wrote "
                f"files this process does not see (after {wait_s:g} s): {len(missing)} "
                f"missing or of another size, e.g. {missing[:3]}; publishing them would "
                "record incomplete artifacts.", fix="every Ray node must mount the pipeline "
                "root at the same path (a shared filesystem)")
        time.sleep(min(1.0, wait_s / 10 or 0.1))


def _take_back(outputs: dict[str, list[Artifact]], reply: ExecutorReply,
               context: ExecutionContext) -> None:
    """Apply what the executor set remotely to the driver's artifacts and context."""
    for key, artifacts in outputs.items():
        for here, there in zip(artifacts, reply.outputs[key], strict=True):
            here.__dict__.update(there.__dict__)
    context.metrics.update(reply.metrics)
    context.halt_reason = reply.halt_reason
    for method, args in reply.reports:  # to the MLflow mirror, which lives in the driver
        context._safely(getattr(context.reporter, method), *args)


def ship_user_code_by_value(components: list[BaseComponent]) -> None:
    """Make cloudpickle send the code of nodes defined outside installed packages.

    A pipeline file loaded by ``gristmill run`` (or a test module) is importable in this
    process only; Ray workers could not import it by name, so its code travels by value.
    """
    from ray import cloudpickle

    installed = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")}
    for component in components:
        for cls in (type(component), component.EXECUTOR):
            module = sys.modules.get(getattr(cls, "__module__", "") or "")
            path = getattr(module, "__file__", None) or ""
            if (module is None or module.__name__ in ("__main__", "builtins")
                    or module.__name__.partition(".")[0] == "gristmill"
                    or any(path.startswith(p) for p in installed)):
                continue
            cloudpickle.register_pickle_by_value(module)
