"""``KubeflowV2DagRunner``: a Gristmill pipeline as a KFP v2 pipeline spec (TFX's runner).

Writes the YAML that ``kfp.compiler`` writes (``PipelineSpec``, schema 2.1.0, plus a
Kubernetes platform document when a secret is used) without importing kfp, whose pins
need not agree with Gristmill's. One task per node; the mapping:

* each task runs ``gristmill run-node FILE NODE --run-id {{$.pipeline_job_uuid}}`` in the
  configured image (``form="container"``, for KFP and Vertex AI Pipelines), or, for KFP's
  local ``SubprocessRunner`` (which runs only lightweight Python components, no Docker),
  a lightweight component that runs the same command line (``form="local"``);
* edges: the pipeline's, as ``dependentTasks``;
* ``metadata_url`` and ``root`` are pipeline parameters (default ``""``: the task's
  environment, then the pipeline file's settings); ``secret`` adds a Kubernetes secret
  whose keys ``metadata_url``/``root`` become ``GRISTMILL_METADATA_URL``/``GRISTMILL_ROOT``.
  Neither value is ever written into the spec;
* ``max_execution_retries``/``retry_backoff_sec`` -> ``retryPolicy`` (factor 2);
* ``num_cpus``/``memory_gb``/``num_gpus`` -> the container's resource limits;
* ``Cond``: ``run-node`` exits 99 for a skipped node; the task maps that to success (KFP
  has no skipped state), so downstream tasks run and record their own SKIPPED execution;
* KFP's own cache is off for every task: Gristmill's cache decides, and records the run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import yaml

from gristmill.metadata.errors import ConfigError
from gristmill.orchestrator.compile.plan import PipelinePlan, TaskPlan, plan_pipeline
from gristmill.orchestrator.dsl import Pipeline
from gristmill.orchestrator.run_node import EXIT_SKIPPED

KFP_SDK_VERSION = "2.17.3"  # the SDK whose compiler output this mirrors (and local form pins)
RUN_ID = "{{$.pipeline_job_uuid}}"
PIPELINE_INPUTS = ("metadata_url", "root")
SECRET_KEYS = {"metadata_url": "GRISTMILL_METADATA_URL", "root": "GRISTMILL_ROOT"}
# Container form: the image's gristmill, with run-node's skip code turned into success.
_SKIP_AS_SUCCESS = (f'"$@"; code=$?; if [ "$code" -eq {EXIT_SKIPPED} ]; then '
                    'echo "gristmill: node SKIPPED (recorded in the store)"; exit 0; fi; '
                    'exit "$code"')
_LOCAL_FUNCTION = "gristmill_run_node"
_LOCAL_SOURCE = f'''
import kfp
from kfp import dsl
from kfp.dsl import *
from typing import *

def {_LOCAL_FUNCTION}(command: list, run_id: str, metadata_url: str, root: str):
    """Run `gristmill run-node`; exit {EXIT_SKIPPED} (SKIPPED, recorded in the store) succeeds."""
    import subprocess

    extra = ["--metadata-url", metadata_url] if metadata_url else []
    extra += ["--root", root] if root else []
    code = subprocess.run([*command, "--run-id", run_id, *extra]).returncode
    if code not in (0, {EXIT_SKIPPED}):
        raise RuntimeError(f"gristmill run-node exited {{code}}: {{command}}")

'''
# kfp's own bootstrap for lightweight components (kfp.dsl.component_factory), verbatim.
_LOCAL_BOOTSTRAP = [
    "sh", "-c",
    '\nif ! [ -x "$(command -v pip)" ]; then\n    python3 -m ensurepip || python3 -m ensurepip'
    ' --user || apt-get install python3-pip\nfi\n\nPIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m '
    f"pip install --quiet --no-warn-script-location 'kfp=={KFP_SDK_VERSION}' '--no-deps' "
    "'typing-extensions>=3.7.4,<5; python_version<\"3.9\"' && \"$0\" \"$@\"\n",
    "sh", "-ec",
    'program_path=$(mktemp -d)\n\nprintf "%s" "$0" > "$program_path/ephemeral_component.py"'
    "\n_KFP_RUNTIME=true python3 -m kfp.dsl.executor_main                         "
    '--component_module_path                         "$program_path/ephemeral_component.py"'
    '                         "$@"\n',
    _LOCAL_SOURCE]


@dataclass(frozen=True)
class KubeflowV2DagRunnerConfig:
    """How the spec runs Gristmill (TFX's ``KubeflowV2DagRunnerConfig``).

    Args:
        image: Container image with Gristmill and the pipeline file installed.
        gristmill: The ``gristmill`` command inside the image (or, for ``form="local"``,
            the path of the Gristmill environment's executable).
        gpu_type: Accelerator type for nodes with ``num_gpus``.
        secret: Kubernetes secret whose keys ``metadata_url``/``root`` become the tasks'
            ``GRISTMILL_METADATA_URL``/``GRISTMILL_ROOT``.
        form: ``"container"`` (KFP, Vertex) or ``"local"`` (KFP's SubprocessRunner).
    """

    image: str = "gristmill:latest"
    gristmill: str = "gristmill"
    gpu_type: str = "nvidia.com/gpu"
    secret: str | None = None
    form: str = "container"


class KubeflowV2DagRunner:
    """Compiles a pipeline into a KFP v2 pipeline spec YAML file."""

    def __init__(self, config: KubeflowV2DagRunnerConfig | None = None):
        self.config = config or KubeflowV2DagRunnerConfig()
        if self.config.form not in ("container", "local"):
            raise ConfigError(f"KubeflowV2DagRunnerConfig: form {self.config.form!r} is "
                              "neither 'container' nor 'local'.", fix="form='container'")

    def run(self, pipeline: Pipeline, *, pipeline_file: str, params: list[str] | tuple = (),
            out_dir: str = ".") -> str:
        """Write ``<out_dir>/<pipeline name>.yaml`` and return its path.

        Args:
            pipeline: What ``create_pipeline(**params)`` of ``pipeline_file`` returns.
            pipeline_file: The pipeline file as the tasks see it (inside the image).
            params: ``KEY=VALUE`` strings, as ``--param`` takes them.
        """
        plan = plan_pipeline(pipeline, pipeline_file, params)
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, f"{plan.pipeline_name}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.render(plan))
        return path

    def render(self, plan: PipelinePlan) -> str:
        """The spec as YAML text (one document, two with a secret)."""
        names = task_names(plan)
        spec = {
            "components": {f"comp-{names[t.node_id]}": self._component(names[t.node_id])
                           for t in plan.tasks},
            "deploymentSpec": {"executors": {
                f"exec-{names[t.node_id]}": self._executor(plan, t) for t in plan.tasks}},
            "pipelineInfo": {"name": _dns_name(plan.pipeline_name)},
            "root": {"dag": {"tasks": {names[t.node_id]: self._task(plan, t, names)
                                       for t in plan.tasks}},
                     "inputDefinitions": {"parameters": {
                         name: {"defaultValue": "", "isOptional": True,
                                "parameterType": "STRING"} for name in PIPELINE_INPUTS}}},
            "schemaVersion": "2.1.0",
            "sdkVersion": f"kfp-{KFP_SDK_VERSION}",
        }
        header = (f"# PIPELINE DEFINITION\n# Name: {_dns_name(plan.pipeline_name)}\n"
                  "# Generated by `gristmill compile --target kfp` from Gristmill pipeline "
                  f"{plan.pipeline_name!r}\n# Inputs:\n"
                  + "".join(f"#    {n}: str [Default: '']\n" for n in PIPELINE_INPUTS))
        text = header + yaml.safe_dump(spec, sort_keys=True, width=100)
        if self.config.secret:
            text += "---\n" + yaml.safe_dump(self._platform(plan, names), sort_keys=True)
        return text

    def _component(self, name: str) -> dict:
        parameters = {"run_id": {"parameterType": "STRING"},
                      **{n: {"parameterType": "STRING"} for n in PIPELINE_INPUTS}}
        if self.config.form == "local":
            parameters["command"] = {"parameterType": "LIST"}
        return {"executorLabel": f"exec-{name}", "inputDefinitions": {"parameters": parameters}}

    def _executor(self, plan: PipelinePlan, task: TaskPlan) -> dict:
        config = self.config
        if config.form == "local":
            return {"container": {
                "args": ["--executor_input", "{{$}}", "--function_to_execute", _LOCAL_FUNCTION],
                "command": list(_LOCAL_BOOTSTRAP), "image": "python:3.11"}}
        # metadata_url/root: always passed; run-node reads "" as "not given" (then the
        # secret's environment, then the pipeline file).
        args = [config.gristmill, *plan.run_node_args(task.node_id), "--run-id",
                _input("run_id"), "--metadata-url", _input("metadata_url"), "--root",
                _input("root")]
        container = {"args": args, "command": ["sh", "-c", _SKIP_AS_SUCCESS, "gristmill"],
                     "image": config.image}
        resources = _resources(task, config.gpu_type)
        if resources:
            container["resources"] = resources
        return {"container": container}

    def _task(self, plan: PipelinePlan, task: TaskPlan, names: dict[str, str]) -> dict:
        parameters = {"run_id": {"runtimeValue": {"constant": RUN_ID}},
                      **{n: {"componentInputParameter": n} for n in PIPELINE_INPUTS}}
        spec: dict = {"cachingOptions": {},
                      "componentRef": {"name": f"comp-{names[task.node_id]}"},
                      "inputs": {"parameters": parameters}, "taskInfo": {"name": task.node_id}}
        if self.config.form == "local":
            command = [self.config.gristmill, *plan.run_node_args(task.node_id)]
            parameters["command"] = {"runtimeValue": {"constant": command}}
        if task.upstream:
            spec["dependentTasks"] = sorted(names[u] for u in task.upstream)
        if task.retries:
            spec["retryPolicy"] = {"backoffDuration": f"{task.retry_backoff_sec:g}s",
                                   "backoffFactor": 2.0, "backoffMaxDuration": "3600s",
                                   "maxRetryCount": task.retries}
        return spec

    def _platform(self, plan: PipelinePlan, names: dict[str, str]) -> dict:
        secret = {"keyToEnv": [{"envVar": env, "secretKey": key}
                               for key, env in SECRET_KEYS.items()],
                  "optional": False, "secretName": self.config.secret,
                  "secretNameParameter": {"runtimeValue": {"constant": self.config.secret}}}
        return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
            f"exec-{names[t.node_id]}": {"secretAsEnv": [secret]} for t in plan.tasks}}}}}


def _input(name: str) -> str:
    return f"{{{{$.inputs.parameters['{name}']}}}}"


def _dns_name(name: str) -> str:
    """KFP's sanitised name: lower case, runs of other characters become one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def task_names(plan: PipelinePlan) -> dict[str, str]:
    """Node id -> KFP task name; refuses two nodes whose names collide once sanitised."""
    names: dict[str, str] = {}
    seen: dict[str, str] = {}
    for task in plan.tasks:
        name = _dns_name(task.node_id) or "node"
        if name in seen:
            raise ConfigError(f"compile --target kfp: nodes {seen[name]!r} and {task.node_id!r} "
                              f"both become KFP task {name!r}.",
                              fix=f"give one another id: .with_id('{task.node_id}_2')")
        seen[name], names[task.node_id] = task.node_id, name
    return names


def _resources(task: TaskPlan, gpu_type: str) -> dict:
    """KFP's container resources, in both the old and the new field names (as kfp writes)."""
    resources: dict = {}
    if task.num_cpus:
        resources.update(cpuLimit=float(task.num_cpus), resourceCpuLimit=f"{task.num_cpus:g}")
    if task.memory_gb:
        resources.update(memoryLimit=float(task.memory_gb),
                         resourceMemoryLimit=f"{task.memory_gb:g}G")
    if task.num_gpus:
        resources["accelerator"] = {"count": str(task.num_gpus), "resourceCount":
                                    str(task.num_gpus), "resourceType": gpu_type,
                                    "type": gpu_type}
    return resources
