"""The taxi pipeline: its synthetic data generator, and one small end-to-end run."""

from __future__ import annotations

import os
import sys

import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pipeline_runs import REPO, gristmill_env, run_cli

TAXI = REPO / "pipelines" / "taxi"
sys.path.insert(0, str(TAXI))
import taxi_data  # noqa: E402 - lives next to the pipeline, not in a package


@pytest.mark.unit
def test_chunks_are_deterministic_per_offset_and_seed():
    chunk = taxi_data.make_chunk(500, 1000, seed=3)
    assert chunk.equals(taxi_data.make_chunk(500, 1000, seed=3))
    assert not chunk.equals(taxi_data.make_chunk(0, 1000, seed=3))
    assert not chunk.equals(taxi_data.make_chunk(500, 1000, seed=4))


@pytest.mark.unit
def test_label_is_tip_above_twenty_percent_and_columns_have_missing_values():
    table = taxi_data.make_chunk(0, 20_000, seed=0)
    fare, tips = table.column("fare"), table.column("tips")
    present = pc.is_valid(fare)
    expected = pc.greater(tips.filter(present), pc.multiply(fare.filter(present), 0.2))
    assert table.column("big_tipper").filter(present).to_pylist() == [
        int(v) for v in expected.to_pylist()]
    for name, rate in (("company", 0.2), ("pickup_community_area", 0.1), ("fare", 0.005)):
        assert abs(table.column(name).null_count / table.num_rows - rate) < rate * 0.3
    assert table.column("payment_type").type == "string"
    assert 0.3 < pc.mean(table.column("big_tipper")).as_py() < 0.6
    cash = pc.equal(table.column("payment_type"), "Cash")
    assert pc.mean(table.column("big_tipper").filter(cash)).as_py() < 0.15


@pytest.mark.unit
def test_write_dataset_is_atomic_and_kept(tmp_path):
    path = taxi_data.write_dataset(tmp_path, rows=1234, seed=1, labelled=False)
    table = pacsv.read_csv(path)
    assert table.num_rows == 1234
    assert "big_tipper" not in table.column_names and "tips" not in table.column_names
    mtime = os.path.getmtime(path)
    assert taxi_data.write_dataset(tmp_path, rows=1234, seed=1) == path
    assert os.path.getmtime(path) == mtime
    assert [p.name for p in tmp_path.iterdir()] == ["taxi.csv"]


@pytest.mark.e2e
@pytest.mark.slow
def test_small_taxi_run_completes_and_infers_the_unlabelled_sample(tmp_path):
    env = {**gristmill_env(tmp_path), "GRISTMILL_MLFLOW_MIRROR": "off"}
    done = run_cli(["run", str(TAXI / "pipeline.py"), "--param=rows=4000",
                    "--param=epochs=8", "--param=batch_size=128"], env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    states = {c["name"]: c["state"] for c in done.result["components"]}
    assert set(states.values()) == {"COMPLETE"}, states
    accuracy = done.component("Evaluator")["metrics"]["eval_accuracy"]
    assert accuracy > 0.65  # the majority class alone scores about 0.57
    output = done.output_uri("BulkInferrer", "output_examples")
    table = pq.read_table(os.path.join(output, "Split-unlabelled"))
    assert table.num_rows == 100  # max(100, rows // 100)
    assert set(table.column("prediction").to_pylist()) <= {0, 1}
