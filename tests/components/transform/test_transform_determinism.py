"""The same data gives the same Transform, run after run (quantiles included).

Before the deterministic quantile sketch, datasketches' KLL (seeded from the clock) gave
``bucketize`` different boundaries on every run: on 1M taxi rows a column got 7 boundaries
in one run and 6 in the next.
"""

from __future__ import annotations

import json
import textwrap

import pyarrow.parquet as pq
import pytest

from tests.components.transform.test_transform import (
    COMPANIES,
    run,
    taxi_table,
    write_examples,
)

pytestmark = pytest.mark.integration

MODULE = '''
import gristmill.components.transform_ops as gt


def preprocessing_fn(inputs):
    fare = inputs["fare"]
    return {
        "fare_bucket": gt.bucketize(fare, 20),
        "lat_bucket": gt.bucketize(inputs["pickup_latitude"], 16),
        "seconds_bucket": gt.bucketize(inputs["trip_seconds"], 8),
        "fare_z": gt.scale_to_z_score(fare),
        "company": gt.compute_and_apply_vocabulary(inputs["company"]),
    }
'''


def test_two_runs_on_the_same_data_write_the_same_transform(tmp_path):
    module_file = tmp_path / "preprocessing.py"
    module_file.write_text(textwrap.dedent(MODULE))
    examples = write_examples(str(tmp_path / "examples"),
                              {"train": taxi_table(60_000, 3, COMPANIES),
                               "eval": taxi_table(2_000, 4, COMPANIES)})
    plans, tables = [], []
    for attempt in ("first", "second"):
        out = run(tmp_path / attempt, {"examples": [examples]}, module_file=str(module_file))
        graph = out["transform_graph"][0].uri
        with open(f"{graph}/transform_fn.json", encoding="utf-8") as f:
            plans.append(json.load(f))
        tables.append(pq.read_table(out["transformed_examples"][0].split_uri("train")))
    boundaries = [s for s in json.dumps(plans[0]["steps"]).split('"boundaries"')][1:]
    assert len(boundaries) >= 3  # the three bucketize analyzers resolved to boundaries
    assert plans[0]["steps"] == plans[1]["steps"]
    assert tables[0].equals(tables[1])
