"""``gristmill compile --target kfp``: the KFP v2 spec's tasks, edges, retries, resources and
inputs; its container commands run for real; and kfp's own loader and local runner, when
build/kfp-venv exists."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from compile_helpers import DAG_PIPELINE, EDGES, GRISTMILL, NODES, TOOL_VENVS, run, task_env

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.store import PIPELINE_RUN, open_store
from gristmill.orchestrator.cli_commands import load_pipeline
from gristmill.orchestrator.compile.kfp import (
    KubeflowV2DagRunner,
    KubeflowV2DagRunnerConfig,
    task_names,
)
from gristmill.orchestrator.compile.plan import plan_pipeline

pytestmark = pytest.mark.integration
NAMES = {"Source": "source", "gated": "gated", "after": "after", "sized": "sized"}


def _compile(tmp_path, *params: str, **config) -> Path:
    pipeline, _ = load_pipeline(str(DAG_PIPELINE), list(params))
    runner = KubeflowV2DagRunner(KubeflowV2DagRunnerConfig(**config))
    return Path(runner.run(pipeline, pipeline_file=str(DAG_PIPELINE), params=list(params),
                           out_dir=str(tmp_path / config.get("form", "container"))))


def _docs(path: Path) -> list[dict]:
    with open(path) as f:
        return list(yaml.safe_load_all(f))


def test_one_container_task_per_node_with_edges_retries_resources_and_inputs(tmp_path):
    spec, platform = _docs(_compile(tmp_path, "threshold=3", image="reg/gristmill:1",
                                    secret="gristmill-store"))
    tasks = spec["root"]["dag"]["tasks"]
    assert {t["taskInfo"]["name"] for t in tasks.values()} == set(NODES)
    names = {t["taskInfo"]["name"]: key for key, t in tasks.items()}
    edges = {(up, t["taskInfo"]["name"]) for t in tasks.values()
             for up in [n for n, k in names.items() if k in t.get("dependentTasks", [])]}
    assert edges == EDGES
    assert tasks["sized"]["retryPolicy"] == {"backoffDuration": "3s", "backoffFactor": 2.0,
                                             "backoffMaxDuration": "3600s", "maxRetryCount": 2}
    assert "retryPolicy" not in tasks["source"]
    assert all(t["cachingOptions"] == {} for t in tasks.values())  # KFP's cache off
    sized = spec["deploymentSpec"]["executors"]["exec-sized"]["container"]
    assert sized["image"] == "reg/gristmill:1"
    assert sized["resources"] == {
        "cpuLimit": 2.0, "resourceCpuLimit": "2", "memoryLimit": 1.5,
        "resourceMemoryLimit": "1.5G", "accelerator": {
            "count": "1", "resourceCount": "1", "resourceType": "nvidia.com/gpu",
            "type": "nvidia.com/gpu"}}
    assert sized["args"][:4] == ["gristmill", "run-node", str(DAG_PIPELINE), "sized"]
    assert sized["args"][-6:] == ["--run-id", "{{$.inputs.parameters['run_id']}}",
                                  "--metadata-url", "{{$.inputs.parameters['metadata_url']}}",
                                  "--root", "{{$.inputs.parameters['root']}}"]
    assert tasks["sized"]["inputs"]["parameters"]["run_id"] == {
        "runtimeValue": {"constant": "{{$.pipeline_job_uuid}}"}}
    assert spec["root"]["inputDefinitions"]["parameters"]["metadata_url"] == {
        "defaultValue": "", "isOptional": True, "parameterType": "STRING"}
    secret = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-sized"]
    assert secret["secretAsEnv"][0]["secretName"] == "gristmill-store"
    assert {e["envVar"] for e in secret["secretAsEnv"][0]["keyToEnv"]} == {
        "GRISTMILL_METADATA_URL", "GRISTMILL_ROOT"}


def _resolve(args: list[str], run_id: str, metadata_url: str, root: str) -> list[str]:
    values = {"run_id": run_id, "metadata_url": metadata_url, "root": root}
    for name, value in values.items():
        args = [a.replace(f"{{{{$.inputs.parameters['{name}']}}}}", value) for a in args]
    return args


@pytest.mark.slow
def test_the_container_commands_run_the_pipeline_and_a_skip_is_a_kfp_success(tmp_path):
    """Each executor's command + args, placeholders resolved, as the KFP launcher runs them;
    the metadata URL comes from the secret's environment variable, the root as a parameter."""
    spec = _docs(_compile(tmp_path, "threshold=3", gristmill=GRISTMILL))[0]
    url, root = f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "root")
    env = task_env(tmp_path / "home", GRISTMILL_METADATA_URL=url)
    for node in NODES:
        container = spec["deploymentSpec"]["executors"][f"exec-{NAMES[node]}"]["container"]
        done = run([*container["command"], *_resolve(container["args"], "kfp-1", "", root)],
                   env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[0])["node"] == node
    with open_store(url) as store:
        states = {e.component_id: e.state.value for e in store.list_executions(run_id="kfp-1")}
        run_ctx = store.get_context(PIPELINE_RUN, "kfp-1")
    assert states == {"Source": "COMPLETE", "gated": "CANCELED", "after": "CANCELED",
                      "sized": "COMPLETE"}
    assert run_ctx.properties["status"] == "COMPLETE" and run_ctx.properties["root"] == root


def test_the_pipelines_own_metadata_url_is_never_written(tmp_path):
    from dag_pipeline import create_pipeline

    pipeline = create_pipeline(metadata_url="postgresql://u:hunter2@db.example/meta")
    path = KubeflowV2DagRunner().run(pipeline, pipeline_file="/app/p.py", out_dir=str(tmp_path))
    assert "hunter2" not in Path(path).read_text()
    with pytest.raises(ConfigError, match="holds a URL with a password"):
        _compile(tmp_path, "metadata_url=postgresql://u:hunter2@db.example/meta")


def test_node_ids_that_collide_as_kfp_names_are_refused(tmp_path):
    from orchestrator_fakes import AddOne, Source

    from gristmill.orchestrator import Pipeline

    source = Source()
    a = AddOne(x=source.outputs["out"]).with_id("push_model")
    b = AddOne(x=source.outputs["out"]).with_id("push-model")
    plan = plan_pipeline(Pipeline("p", [source, a, b]), "/app/p.py")
    with pytest.raises(ConfigError, match="'push_model' and 'push-model' both become KFP task "
                                          "'push-model'"):
        task_names(plan)


KFP_VENV = Path(os.environ.get("GRISTMILL_TEST_KFP_VENV", TOOL_VENVS / "kfp-venv"))
KFP_CHECK = """
import sys
from kfp import compiler, components, local
spec = components.load_component_from_file(sys.argv[1])
compiler.Compiler().compile(spec, sys.argv[3])
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[4],
           raise_on_error=True)
components.load_component_from_file(sys.argv[2])(metadata_url=sys.argv[5], root="")
print("ran", spec.name)
"""


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(not (KFP_VENV / ".installed").exists(),
                    reason="no kfp venv: `make kfp-e2e` creates build/kfp-venv")
def test_kfp_loads_the_spec_and_runs_the_local_form(tmp_path):
    container = _compile(tmp_path, "threshold=0", secret="gristmill-store")
    local_form = _compile(tmp_path, "threshold=0", form="local", gristmill=GRISTMILL)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    done = run([str(KFP_VENV / "bin" / "python"), "-c", KFP_CHECK, str(container),
                str(local_form), str(tmp_path / "again.yaml"), str(tmp_path / "kfp-root"), url],
               task_env(tmp_path / "home"))
    assert done.returncode == 0, done.stderr[-3000:]
    with open_store(url) as store:
        (run_ctx,) = store.list_contexts(PIPELINE_RUN)
        states = {e.component_id: e.state.value for e in store.list_executions()}
    assert run_ctx.properties["status"] == "COMPLETE"
    assert states == dict.fromkeys(NODES, "COMPLETE")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("num_cpus", 0, "num_cpus must be > 0 or None, got 0"),
    ("memory_gb", "4G", "memory_gb must be > 0 or None, got '4G'"),
    ("num_gpus", 0.5, "num_gpus must be an int >= 0, got 0.5"),
    ("num_gpu", 1, "use max_execution_retries, retry_backoff_sec, enable_cache, num_cpus"),
])
def test_resource_options_are_checked_where_they_are_set(field, value, message):
    from orchestrator_fakes import Source

    with pytest.raises(ConfigError, match=message):
        Source().with_node_execution_options(**{field: value})
