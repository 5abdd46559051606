"""What every compile target needs: one task per node, its edges, retries and resources.

Targets never import the pipeline's components at run time: each task re-loads the pipeline
file (with the same ``--param`` values) through ``gristmill run-node``, so the plan only
carries ids, edges, options and the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.settings import redact_text
from gristmill.orchestrator.compiler import compile_pipeline
from gristmill.orchestrator.dsl import Pipeline

_PASSWORD_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@dataclass(frozen=True)
class TaskPlan:
    """One node as a scheduler task."""

    node_id: str
    component_type: str
    upstream: tuple[str, ...]
    retries: int
    retry_backoff_sec: float
    num_cpus: float | None
    num_gpus: int
    memory_gb: float | None
    #: A ``Cond`` guards the node, or an upstream may be skipped: the task may end SKIPPED.
    may_skip: bool


@dataclass(frozen=True)
class PipelinePlan:
    """The pipeline as tasks: names, the file each task loads, and its parameters."""

    pipeline_name: str
    pipeline_file: str
    params: tuple[str, ...]
    tasks: tuple[TaskPlan, ...]

    def run_node_args(self, node_id: str) -> list[str]:
        """``run-node FILE NODE --param ... --scheduler-retries --json`` (no run id: each
        target passes its scheduler's run id its own way)."""
        return ["run-node", self.pipeline_file, node_id,
                *[f"--param={p}" for p in self.params], "--scheduler-retries", "--json"]


def plan_pipeline(pipeline: Pipeline, pipeline_file: str, params: list[str] | tuple = ()
                  ) -> PipelinePlan:
    """Validate ``pipeline`` and describe it as tasks in a topological order.

    Args:
        pipeline: The pipeline ``pipeline_file``'s ``create_pipeline(**params)`` built.
        pipeline_file: The file as the tasks will see it (a path on the workers or inside
            the image).
        params: ``KEY=VALUE`` strings, exactly as ``--param`` takes them.
    """
    if not pipeline_file:
        raise ConfigError("compile: no pipeline file given; every task re-loads the pipeline "
                          "from it.", fix="pass the pipeline's .py file")
    for item in params:
        if "=" not in item:
            raise ConfigError(f"compile: --param {item!r}: expected KEY=VALUE.",
                              fix="write --param epochs=5")
        if _PASSWORD_IN_URL.search(item):
            raise ConfigError(
                f"compile: --param {redact_text(item)!r} holds a URL with a password; every "
                "task's command line, and so the compiled file, would show it.",
                fix="give it to the tasks through their environment (GRISTMILL_METADATA_URL; "
                    "a Kubernetes secret for KFP) instead of a --param")
    compiled = compile_pipeline(pipeline)
    may_skip: set[str] = set()
    tasks = []
    for node_id in compiled.order:
        node = compiled.nodes[node_id]
        if node.component.conditions or node.upstream & may_skip:
            may_skip.add(node_id)
        options = node.component.execution_options
        tasks.append(TaskPlan(
            node_id=node_id, component_type=node.component.type_name,
            upstream=tuple(sorted(node.upstream)), retries=options.max_execution_retries,
            retry_backoff_sec=float(options.retry_backoff_sec), num_cpus=options.num_cpus,
            num_gpus=options.num_gpus, memory_gb=options.memory_gb,
            may_skip=node_id in may_skip))
    return PipelinePlan(pipeline.name, pipeline_file, tuple(params), tuple(tasks))
