"""Serving request logging: sampled rows land as Parquet spans, typed like the model's inputs."""

from __future__ import annotations

import glob
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "components"))
from bundles import penguin_like_table, train_bundle  # noqa: E402

from gristmill.engine.request_log import RequestLogger, utc_day_span  # noqa: E402
from gristmill.engine.serving import load_bundle  # noqa: E402


@pytest.mark.unit
def test_sampled_rows_are_written_per_span_atomically(tmp_path):
    logger = RequestLogger(str(tmp_path / "log"), sample_rate=0.25, span=7, seed=1,
                           rows_per_file=500)
    table = pa.table({"x": list(range(4000)), "s": ["a"] * 4000})
    kept = sum(logger.log(table.slice(i, 100)) for i in range(0, 4000, 100))
    logger.close()
    files = sorted(glob.glob(str(tmp_path / "log" / "span-7" / "*.parquet")))
    assert not glob.glob(str(tmp_path / "log" / "**" / "*.tmp"), recursive=True)
    written = pa.concat_tables(pq.read_table(f) for f in files)
    assert written.num_rows == kept == logger.counts["rows_logged"]
    assert logger.counts["rows_seen"] == 4000
    assert 850 <= kept <= 1150  # 25% of 4000, seeded
    assert len(files) == logger.counts["files_written"] >= 2
    assert set(written["x"].to_pylist()) <= set(range(4000))
    assert len(set(written["x"].to_pylist())) == kept  # no row logged twice


@pytest.mark.unit
def test_rate_and_default_span_are_checked():
    with pytest.raises(ValueError, match="sample_rate must be in"):
        RequestLogger("/tmp/x", sample_rate=0.0)
    assert utc_day_span(86400 * 3 + 5) == 3


@pytest.mark.integration
def test_bundle_logs_table_and_record_requests_with_the_model_input_types(tmp_path):
    train = penguin_like_table(200, seed=0)
    bundle_dir = str(tmp_path / "model")
    train_bundle(bundle_dir, train, good=False)
    logger = RequestLogger(str(tmp_path / "log"), sample_rate=1.0, span=3)
    bundle = load_bundle(bundle_dir, request_log=logger)
    bundle.predict(train.slice(0, 20))
    # Records: an integer where the model reads a float, a key left out (null).
    bundle.predict_records([{"bill_length_mm": 1, "flipper_length_mm": 2.5, "island": "Dream"},
                            {"bill_length_mm": 0.5, "island": "Biscoe"}])
    logger.close()
    files = sorted(glob.glob(str(tmp_path / "log" / "span-3" / "*.parquet")))
    logged = pa.concat_tables(pq.read_table(f) for f in files)
    assert logged.num_rows == 22
    assert logged.schema.field("bill_length_mm").type == pa.float64()
    assert logged["bill_length_mm"].to_pylist()[-2:] == [1.0, 0.5]
    assert logged["flipper_length_mm"].to_pylist()[-1] is None
    assert "species" not in logged.column_names  # the label is not a request column
    # Without a logger nothing is written.
    load_bundle(bundle_dir).predict(train.slice(0, 5))
    assert len(glob.glob(str(tmp_path / "log" / "**" / "*.parquet"), recursive=True)) == len(files)


@pytest.mark.unit
def test_buffered_rows_are_written_at_interpreter_exit(tmp_path):
    import subprocess

    code = ("import pyarrow as pa\n"
            "from gristmill.engine.request_log import RequestLogger\n"
            f"logger = RequestLogger({str(tmp_path)!r}, sample_rate=1.0, span=2)\n"
            "logger.log(pa.table({'x': [1, 2, 3]}))\n")  # no close(): the exit hook flushes
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    (path,) = glob.glob(str(tmp_path / "span-2" / "*.parquet"))
    assert pq.read_table(path)["x"].to_pylist() == [1, 2, 3]
