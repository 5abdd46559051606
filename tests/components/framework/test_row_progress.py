"""Row counts for ``gristmill run``'s live line: ExampleGen, StatisticsGen, Transform and
BulkInferrer count the rows their Beam pipelines process, under their component id, with no
executor passing anything (issue 21 item 8)."""

from __future__ import annotations

import os
import threading

import numpy as np
import pyarrow as pa
import pytest
from bundles import penguin_like_table, train_bundle, write_examples

import gristmill.components.transform_ops as gt
from gristmill.components.framework import row_progress
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.standard_artifacts import (
    Examples,
    ExampleStatistics,
    InferenceResult,
    TransformCache,
    TransformGraph,
)

pytestmark = pytest.mark.integration


def _table(rows: int) -> pa.Table:
    rng = np.random.default_rng(rows)
    return pa.table({"x": rng.normal(size=rows), "color": rng.choice(["a", "b"], rows)})


@pytest.mark.unit
def test_a_counter_counts_for_the_component_its_thread_was_building():
    row_progress.begin("Gen")
    counter = row_progress.RowCounter()
    counter.add(5)
    seen = {}

    def other_thread():  # a node built in another thread is counted apart
        row_progress.begin("Stats")
        row_progress.RowCounter().add(7)
        counter.add(1)  # made for Gen: still counts for Gen wherever it runs
        seen["stats"] = row_progress.rows("Stats")

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert row_progress.rows("Gen") == 6 and seen["stats"] == 7
    row_progress.begin("Gen")  # the next execution of the node starts from zero
    assert row_progress.rows("Gen") is None


def test_examplegen_statisticsgen_and_transform_count_every_row(tmp_path):
    from gristmill.components import CsvExampleGen, StatisticsGen, Transform

    os.makedirs(tmp_path / "in")
    _table(3000).to_pandas().to_csv(tmp_path / "in" / "data.csv", index=False)
    gen = Examples(str(tmp_path / "gen"))
    os.makedirs(gen.uri)
    CsvExampleGen.EXECUTOR(ExecutionContext(component_id="gen", tmp_dir=str(tmp_path))).Do(
        {}, {"examples": [gen]}, CsvExampleGen(input_base=str(tmp_path / "in")).parameters)
    assert row_progress.rows("gen") == 3000

    examples = write_examples(str(tmp_path / "examples"),
                              {"train": _table(2000), "eval": _table(800)}, files_per_split=2)
    stats = ExampleStatistics(str(tmp_path / "stats"))
    os.makedirs(stats.uri)
    StatisticsGen.EXECUTOR(ExecutionContext(component_id="stats", tmp_dir=str(tmp_path))).Do(
        {"examples": [examples]}, {"statistics": [stats]}, StatisticsGen.PARAMETERS())
    assert row_progress.rows("stats") == 2800

    def preprocessing_fn(inputs):
        return {"x_z": gt.scale_to_z_score(inputs["x"])}

    kinds = {"transform_graph": TransformGraph, "transformed_examples": Examples,
             "updated_analyzer_cache": TransformCache}
    out = {key: [kind(str(tmp_path / key))] for key, kind in kinds.items()}
    for artifacts in out.values():
        os.makedirs(artifacts[0].uri)
    Transform.EXECUTOR(ExecutionContext(component_id="tf", tmp_dir=str(tmp_path))).Do(
        {"examples": [examples]}, out, Transform.PARAMETERS(preprocessing_fn=preprocessing_fn))
    assert row_progress.rows("tf") == 2800  # rows transformed and written, both splits


def test_bulk_inferrer_counts_every_row_it_scored(tmp_path):
    from gristmill.components.bulk_inferrer.config import BulkInferrerParameters
    from gristmill.components.bulk_inferrer.executor import BulkInferrerExecutor

    model = train_bundle(str(tmp_path / "model"), penguin_like_table(200, seed=0), model_id=7)
    rows = penguin_like_table(250, seed=5).drop_columns(["species"])
    examples = write_examples(str(tmp_path / "examples"), {"unlabelled": rows},
                              files_per_split=3)
    out, result = Examples(str(tmp_path / "out")), InferenceResult(str(tmp_path / "result"))
    for artifact in (out, result):
        os.makedirs(artifact.uri)
    BulkInferrerExecutor(ExecutionContext(component_id="infer", tmp_dir=str(tmp_path))).Do(
        {"examples": [examples], "model": [model]},
        {"output_examples": [out], "inference_result": [result]}, BulkInferrerParameters())
    assert row_progress.rows("infer") == 250
