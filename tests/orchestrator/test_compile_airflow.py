"""``gristmill compile --target airflow``: the DAG file's tasks, edges and options, and its
commands run for real as Airflow's BashOperator runs them (and in Airflow, when installed)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest
from compile_helpers import DAG_PIPELINE, EDGES, GRISTMILL, NODES, TOOL_VENVS, run, task_env

from gristmill.metadata.errors import ConfigError
from gristmill.metadata.store import PIPELINE_RUN, open_store
from gristmill.orchestrator.cli import main
from gristmill.orchestrator.cli_commands import load_pipeline
from gristmill.orchestrator.compile.airflow import AirflowDagConfig, AirflowDagRunner

pytestmark = pytest.mark.integration


def _compile(tmp_path, *params: str, **config) -> str:
    pipeline, _ = load_pipeline(str(DAG_PIPELINE), list(params))
    runner = AirflowDagRunner(AirflowDagConfig(gristmill=GRISTMILL, **config))
    path = runner.run(pipeline, pipeline_file=str(DAG_PIPELINE), params=list(params),
                      out_dir=str(tmp_path / "dags"))
    with open(path) as f:
        return f.read()


def _parse(source: str) -> tuple[dict, set, dict]:
    """Tasks {node: {"args": ..., option: value}}, edges, and the module constants."""
    tree = ast.parse(source)
    tasks, edges, constants = {}, set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                getattr(node.value.func, "id", "") == "run_node":
            node_id, args = (ast.literal_eval(a) for a in node.value.args)
            options = {k.arg: ast.unparse(k.value) for k in node.value.keywords}
            tasks[node_id] = {"args": args, **options}
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            edges.add((ast.literal_eval(node.left.slice), ast.literal_eval(node.right.slice)))
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id.isupper():
            constants[node.targets[0].id] = ast.literal_eval(node.value)
    return tasks, edges, constants


def test_one_task_per_node_with_the_pipelines_edges_retries_skips_and_resources(tmp_path):
    tasks, edges, constants = _parse(_compile(tmp_path, "threshold=3"))
    assert sorted(tasks) == sorted(NODES) and edges == EDGES
    sized = tasks["sized"]
    assert (sized["retries"], sized["retry_delay"], sized["retry_exponential_backoff"]) == (
        "2", "datetime.timedelta(seconds=3.0)", "2.0")
    assert ast.literal_eval(sized["resources"]) == {"cpus": 2, "ram": 1536, "gpus": 1}
    assert "retries" not in tasks["Source"] and "resources" not in tasks["Source"]
    # below a node that may be skipped, a task still runs (and records its own skip)
    assert tasks["after"]["trigger_rule"] == "'none_failed'"
    assert "trigger_rule" not in tasks["gated"] and "trigger_rule" not in tasks["sized"]
    assert tasks["gated"]["args"] == (f"run-node {DAG_PIPELINE} gated --param=threshold=3 "
                                      "--scheduler-retries --json")
    assert constants["GRISTMILL"] == GRISTMILL
    assert constants["ENV"] == {"GRISTMILL_RUN_ID": "{{ dag.dag_id }}__{{ run_id }}"}


def _run_dag_commands(tmp_path, source: str, run_id: str) -> dict[str, int]:
    """Each task's bash_command, run with bash in the DAG's order, as BashOperator does."""
    tasks, _, constants = _parse(source)
    env = task_env(tmp_path / "home", GRISTMILL_RUN_ID=run_id)
    codes = {}
    for node in NODES:  # a topological order of dag_pipeline
        command = f'{constants["GRISTMILL"]} {tasks[node]["args"]} --run-id "$GRISTMILL_RUN_ID"'
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                              timeout=120)
        codes[node] = done.returncode
        assert json.loads(done.stdout.splitlines()[-1])["node"] == node, done.stderr
    return codes


@pytest.mark.slow
def test_the_dags_commands_run_the_pipeline_and_a_false_cond_uses_airflows_skip_code(tmp_path):
    root, url = tmp_path / "root", f"sqlite:///{tmp_path / 'm.db'}"
    source = _compile(tmp_path, f"root={root}", f"metadata_url={url}", "threshold=3")
    codes = _run_dag_commands(tmp_path, source, "dagged__manual__1")
    assert codes == {"Source": 0, "gated": 99, "after": 99, "sized": 0}
    with open_store(url) as store:
        run = store.get_context(PIPELINE_RUN, "dagged__manual__1")
        sized = store.list_executions(run_id="dagged__manual__1", component_id="sized")
    assert run.properties["status"] == "COMPLETE"
    assert len(sized) == 1  # --scheduler-retries: one attempt per Airflow try


def test_refuses_what_would_leak_or_be_templated(tmp_path):
    with pytest.raises(ConfigError, match="Jinja delimiter"):
        _compile(tmp_path, "root=/data/{{ ds }}")
    with pytest.raises(ConfigError, match="looks like a secret"):
        _compile(tmp_path, env={"GRISTMILL_METADATA_URL": "postgresql://u:p@h/db"})
    with pytest.raises(ConfigError, match=r"holds a URL with a password.*GRISTMILL_METADATA_URL"):
        _compile(tmp_path, "metadata_url=postgresql://u:hunter2@h/db")
    pipeline, _ = load_pipeline(str(DAG_PIPELINE), [])
    with pytest.raises(ConfigError, match="must be an absolute path"):
        AirflowDagRunner(AirflowDagConfig(gristmill="gristmill")).run(
            pipeline, pipeline_file=str(DAG_PIPELINE), out_dir=str(tmp_path))


def test_the_pipelines_own_metadata_url_is_never_written(tmp_path):
    from dag_pipeline import create_pipeline

    pipeline = create_pipeline(metadata_url="postgresql://u:hunter2@db.example/meta")
    path = AirflowDagRunner(AirflowDagConfig(gristmill=GRISTMILL)).run(
        pipeline, pipeline_file=str(DAG_PIPELINE), out_dir=str(tmp_path))
    with open(path) as f:
        assert "hunter2" not in f.read()


def test_the_cli_writes_the_dag_file(tmp_path, capsys):
    assert main(["compile", str(DAG_PIPELINE), "--target", "airflow", "--out",
                 str(tmp_path / "dags"), "--param", "threshold=0"]) == 0
    path = capsys.readouterr().out.strip()
    assert path == str(tmp_path / "dags" / "dagged.py")
    with open(path) as f:
        tasks, edges, _ = _parse(f.read())
    assert sorted(tasks) == sorted(NODES) and edges == EDGES


AIRFLOW_VENV = Path(os.environ.get("GRISTMILL_TEST_AIRFLOW_VENV", TOOL_VENVS / "airflow-venv"))
AIRFLOW_PYTHON = AIRFLOW_VENV / "bin" / "python"
DAGBAG_CHECK = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["dagged"]
rule = lambda t: getattr(t.trigger_rule, "value", t.trigger_rule)
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids),
                                        "trigger_rule": rule(t),
                                        "retries": t.retries} for t in dag.tasks}}))
"""


@pytest.mark.e2e
@pytest.mark.skipif(not (AIRFLOW_VENV / ".installed").exists(),
                    reason="no Airflow venv: `make airflow-e2e` creates build/airflow-venv")
def test_airflow_itself_loads_the_dag(tmp_path):
    _compile(tmp_path, "threshold=3")
    done = run([str(AIRFLOW_PYTHON), "-c", DAGBAG_CHECK, str(tmp_path / "dags")],
               {**task_env(tmp_path / "home"), "AIRFLOW_HOME": str(tmp_path / "airflow")})
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    assert {(u, t) for t, v in found["tasks"].items() for u in v["upstream"]} == EDGES
    assert found["tasks"]["after"]["trigger_rule"] == "none_failed"
    assert found["tasks"]["sized"]["retries"] == 2


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(not (AIRFLOW_VENV / ".installed").exists(),
                    reason="no Airflow venv: `make airflow-e2e` creates build/airflow-venv")
def test_airflow_runs_the_dag_and_skips_the_false_cond_branch(tmp_path):
    """`airflow dags test` on SQLite: gated and after end SKIPPED in Airflow and in the store,
    sized and Source COMPLETE, and the Gristmill run is COMPLETE."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    _compile(tmp_path, f"root={tmp_path / 'root'}", f"metadata_url={url}", "threshold=3")
    airflow = tmp_path / "airflow"
    env = {**task_env(tmp_path / "home"), "AIRFLOW_HOME": str(airflow),
           "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    for args in (["db", "migrate"], ["dags", "test", "dagged"]):
        done = run([str(AIRFLOW_VENV / "bin" / "airflow"), *args], env)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "state=success" in done.stdout + done.stderr
    with open_store(url) as store:
        (run_ctx,) = store.list_contexts(PIPELINE_RUN)
        states = {e.component_id: e.state.value for e in store.list_executions()}
        skipped = {e.component_id: e.error for e in store.list_executions()
                   if e.state.value == "CANCELED"}
    assert run_ctx.name.startswith("dagged__manual__")
    assert run_ctx.properties["status"] == "COMPLETE"
    assert states == {"Source": "COMPLETE", "gated": "CANCELED", "after": "CANCELED",
                      "sized": "COMPLETE"}
    assert all(reason.startswith("skipped: ") for reason in skipped.values())
    airflow_run_id = run_ctx.name.removeprefix("dagged__")
    done = run([str(AIRFLOW_VENV / "bin" / "airflow"), "tasks", "states-for-dag-run", "dagged",
                airflow_run_id, "--output", "json"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout[done.stdout.index("["):])
    assert {r["task_id"]: r["state"] for r in rows} == {  # exit 99 -> skipped, not failed
        "Source": "success", "gated": "skipped", "after": "skipped", "sized": "success"}
