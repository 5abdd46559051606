"""The same pipeline on every Beam runner we offer gives identical outputs and row counts.

Runners: in-process FnApiRunner (default), FnApiRunner multi-processing, and PortableRunner
against a local job service with LOOPBACK and with an EXTERNAL worker pool - the portability
protocol Flink, Spark and Dataflow speak. Services bind 127.0.0.1 and are stopped by PID.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from gristmill.components import CsvExampleGen, StatisticsGen
from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.orchestrator import Pipeline, SequentialRunner

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROWS = 3000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited early with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def _start(args: list[str], port: int, log_path: str) -> subprocess.Popen:
    env = dict(os.environ)
    # The worker pool starts SDK workers as `python` from PATH: it must be this venv's.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=log, env=env,
                                start_new_session=True)
    _wait_port(port, proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module")
def portable_services(tmp_path_factory):
    logs = tmp_path_factory.mktemp("beam-services")
    job_port, pool_port = _free_port(), _free_port()
    job = _start(["apache_beam.runners.portability.local_job_service_main",
                  f"--port={job_port}"], job_port, str(logs / "job.log"))
    pool = _start(["apache_beam.runners.worker.worker_pool_main",
                   f"--service_port={pool_port}"], pool_port, str(logs / "pool.log"))
    try:
        yield job_port, pool_port
    finally:
        _stop(pool)
        _stop(job)


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory):
    rng = np.random.default_rng(3)
    data = tmp_path_factory.mktemp("csv")
    fare = rng.gamma(2.0, 6.0, ROWS).round(2)
    table = pa.table({"trip_id": np.arange(ROWS), "fare": fare,
                      "company": rng.choice(["a", "b", "c", None], ROWS).tolist(),
                      "miles": np.where(rng.random(ROWS) < 0.05, np.nan, fare / 2.5)})
    pacsv.write_csv(table, data / "data.csv")
    return str(data)


def _run(tmp_path, csv_dir: str, name: str, beam_args: list[str]) -> dict:
    gen = CsvExampleGen(input_base=csv_dir)
    stats = StatisticsGen(examples=gen.outputs["examples"])
    pipeline = Pipeline(f"runners-{name}", [gen, stats], root=str(tmp_path / name),
                        metadata_url=str(tmp_path / f"{name}.db"), tracking_uri="",
                        beam_pipeline_args=beam_args)
    result = SequentialRunner().run(pipeline)
    assert result.status == "COMPLETE", [r.error for r in result.components]
    examples = result.node("CsvExampleGen").outputs["examples"][0]
    splits = {}
    for split in examples.splits:
        files = sorted(glob.glob(os.path.join(examples.uri, f"Split-{split}", "*.parquet")))
        ids = pq.read_table(files, columns=["trip_id"]).column("trip_id").to_pylist()
        splits[split] = sorted(ids)
    statistics = result.node("StatisticsGen").outputs["statistics"][0]
    counts = {}
    for path in sorted(glob.glob(os.path.join(statistics.uri, "Split-*", "*.json"))):
        with open(path) as f:
            counts[path.split("Split-")[1]] = json.load(f).get("num_examples")
    return {"splits": splits, "row_counts": examples.get_property("row_counts"),
            "stats_counts": counts}


def test_every_runner_gives_identical_outputs(tmp_path, csv_dir, portable_services):
    job_port, pool_port = portable_services
    portable = ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}"]
    runners = {
        "fnapi": [],
        "multiprocess": ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        "loopback": [*portable, "--environment_type=LOOPBACK"],
        "external": [*portable, "--environment_type=EXTERNAL",
                     f"--environment_config=localhost:{pool_port}"],
    }
    outcomes = {name: _run(tmp_path, csv_dir, name, args) for name, args in runners.items()}
    reference = outcomes["fnapi"]
    assert sum(len(ids) for ids in reference["splits"].values()) == ROWS  # nothing lost
    assert sum(reference["row_counts"].values()) == ROWS
    for name, outcome in outcomes.items():
        assert outcome["splits"] == reference["splits"], f"{name} assigned splits differently"
        assert outcome["row_counts"] == reference["row_counts"], name
        assert outcome["stats_counts"] == reference["stats_counts"], name


@pytest.mark.unit
def test_cluster_runner_args_reach_beam():
    """Flink/Spark/Dataflow cannot run offline; their flags must still reach Beam intact."""
    from apache_beam.options.pipeline_options import (
        GoogleCloudOptions,
        PortableOptions,
        StandardOptions,
    )

    flink = make_beam_pipeline(["--runner=FlinkRunner", "--flink_master=localhost:8081",
                                "--parallelism=4", "--environment_type=LOOPBACK"])
    assert flink.options.view_as(StandardOptions).runner == "FlinkRunner"
    assert flink.options.get_all_options()["flink_master"] == "localhost:8081"
    assert flink.options.get_all_options()["parallelism"] == 4
    assert flink.options.view_as(PortableOptions).environment_type == "LOOPBACK"
    spark = make_beam_pipeline(["--runner=SparkRunner", "--spark_master_url=spark://h:7077"])
    assert spark.options.get_all_options()["spark_master_url"] == "spark://h:7077"
    # Building a Dataflow pipeline validates the project against GCP (network), so check
    # the parsed options that make_beam_pipeline hands to beam.Pipeline.
    from apache_beam.options.pipeline_options import PipelineOptions

    args = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west1",
            "--temp_location=gs://my-bucket/tmp"]
    gcp = PipelineOptions(args).view_as(GoogleCloudOptions)
    assert (gcp.project, gcp.region, gcp.temp_location) == (
        "my-project", "europe-west1", "gs://my-bucket/tmp")
