"""End to end: the penguin pipeline compiled for Airflow or KFP, run by the real tool.

    python tests/e2e/dag_e2e.py airflow --tool-venv build/airflow-venv [--work DIR]
    python tests/e2e/dag_e2e.py kfp --tool-venv build/kfp-venv [--work DIR]

Runs in Gristmill's environment; the orchestrator lives in ``--tool-venv`` (its pins never
touch ours). Steps: a local reference run (``gristmill run``, its own GRISTMILL_HOME); the
compiled pipeline run twice by the tool against a second, empty home (``airflow dags test``
on SQLite; for KFP the container spec is loaded and re-compiled by the kfp SDK, and the
lightweight form executed by ``kfp.local.SubprocessRunner``); then, in Gristmill's store:
every node of the first run COMPLETE with the same output files as the local run (paths
and timings aside, see :mod:`dag_e2e_checks`), and the second run fully cached. The last
stdout line is one JSON object: ``status``, ``nodes``, ``nodes_complete``,
``cached_second_run``, ``same_outputs_as_local``, ``mismatches``, ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dag_e2e_checks import verify  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "penguin" / "pipeline.py"
GRISTMILL = Path(sys.executable).parent / "gristmill"


def _run(command: list[str], env: dict[str, str], log: Path, what: str) -> None:
    """Run ``command``, output to ``log``; on failure show the log's tail and stop."""
    with open(log, "w") as out:
        code = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise SystemExit(f"{what} failed (exit {code}); last lines of {log}:\n{tail}")


def _gristmill_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRISTMILL_METADATA_URL", "GRISTMILL_ROOT", "GRISTMILL_RUN_ID")}
    return {**env, "GRISTMILL_HOME": str(home), "GRISTMILL_MLFLOW_MIRROR": "off"}


def run_airflow(work: Path, tool_venv: Path, params: list[str], env: dict[str, str]) -> None:
    """Compile the DAG and run it twice with ``airflow dags test`` (SQLite)."""
    dags = work / "dags"
    _run([str(GRISTMILL), "compile", str(PIPELINE), "--target", "airflow", "--out", str(dags),
          *[f"--param={p}" for p in params]], env, work / "compile.log", "gristmill compile")
    airflow_env = {**env, "AIRFLOW_HOME": str(work / "airflow"),
                   "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                   "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                       f"sqlite:///{work / 'airflow' / 'airflow.db'}"}
    airflow = str(tool_venv / "bin" / "airflow")
    _run([airflow, "db", "migrate"], airflow_env, work / "airflow-db.log", "airflow db migrate")
    for attempt in (1, 2):
        log = work / f"airflow-dags-test-{attempt}.log"
        _run([airflow, "dags", "test", "penguin"], airflow_env, log, "airflow dags test")
        if "state=success" not in log.read_text(errors="replace"):
            raise SystemExit(f"airflow dags test: the DAG run did not succeed; see {log}")


KFP_DRIVER = """
import sys
from kfp import compiler, components, local

container_yaml, local_yaml, kfp_root, recompiled = sys.argv[1:5]
spec = components.load_component_from_file(container_yaml)   # kfp's own loader
compiler.Compiler().compile(spec, recompiled)                  # and its compiler, round trip
print("loaded and re-compiled", spec.name)
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=kfp_root,
           raise_on_error=True)
pipeline = components.load_component_from_file(local_yaml)
for attempt in (1, 2):
    pipeline(metadata_url="", root="")
    print("local run", attempt, "finished")
"""


def run_kfp(work: Path, tool_venv: Path, params: list[str], env: dict[str, str]) -> None:
    """Compile both forms; kfp loads the container form, runs the local form twice."""
    for form in ("container", "local"):
        _run([str(GRISTMILL), "compile", str(PIPELINE), "--target", "kfp", "--kfp-form", form,
              "--out", str(work / form), "--gristmill", str(GRISTMILL)
              if form == "local" else "gristmill", "--secret", "gristmill-store",
              *[f"--param={p}" for p in params]], env, work / f"compile-{form}.log",
             f"gristmill compile --kfp-form {form}")
    _run([str(tool_venv / "bin" / "python"), "-c", KFP_DRIVER,
          str(work / "container" / "penguin.yaml"), str(work / "local" / "penguin.yaml"),
          str(work / "kfp-root"), str(work / "recompiled.yaml")], env, work / "kfp-run.log",
         "kfp load + local run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=["airflow", "kfp"])
    parser.add_argument("--tool-venv", required=True, type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = (args.work or REPO / "build" / "e2e" / args.target).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # Given explicitly (the default) so that --param travels through compile to every task;
    # the Pusher's serving folder defaults to one under each run's own GRISTMILL_HOME.
    params = ["epochs=40"]
    seconds: dict[str, float] = {}
    started = time.time()
    local_home, home = work / "local-home", work / "home"
    _run([str(GRISTMILL), "run", str(PIPELINE), *[f"--param={p}" for p in params]],
         _gristmill_env(local_home), work / "local-run.log", "local reference run")
    seconds["local_run"] = round(time.time() - started, 1)
    started = time.time()
    runner = run_airflow if args.target == "airflow" else run_kfp
    runner(work, args.tool_venv.resolve(), params, _gristmill_env(home))
    seconds[f"{args.target}_two_runs"] = round(time.time() - started, 1)
    os.environ["GRISTMILL_HOME"] = str(home)  # the pipeline file's defaults read it
    report = verify(PIPELINE, params, local_home, home)
    report["target"], report["seconds"] = args.target, seconds
    print(json.dumps(report))
    return 0 if report["status"] == "COMPLETE" else 1


if __name__ == "__main__":
    sys.exit(main())
