"""StatisticsGen gives the same statistics for the same data on every run.

With datasketches' KLL (coin flips seeded from the clock) two runs over 1M taxi rows gave a
fare histogram bucket 178 rows in one run and 1,555 in the next; ExampleValidator's drift
checks compare such histograms between spans.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from gristmill.metadata.standard_artifacts import ExampleStatistics
from tests.components.statistics_gen.test_statistics_gen import _examples

pytestmark = pytest.mark.integration


def _run(tmp_path, examples, name: str) -> bytes:
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.components.statistics_gen.component import StatisticsGen

    output = ExampleStatistics(str(tmp_path / name))
    os.makedirs(output.uri)
    context = ExecutionContext(component_id="StatisticsGen", tmp_dir=str(tmp_path))
    StatisticsGen.EXECUTOR(context).Do({"examples": [examples]}, {"statistics": [output]},
                                       StatisticsGen.PARAMETERS())
    with open(os.path.join(output.split_uri("train"), "statistics.json"), "rb") as f:
        return f.read()


def test_two_runs_write_identical_statistics(tmp_path):
    rng = np.random.default_rng(11)
    rows = 300_000  # past the sketch's capacity many times over, so compaction happens
    frame = pd.DataFrame({"fare": rng.lognormal(2.0, 0.8, rows),
                          "miles": np.round(rng.gamma(2.0, 1.5, rows), 2),
                          "hour": rng.integers(0, 24, rows),
                          "company": rng.choice(["a", "b", "c", "d"], rows)})
    examples = _examples(tmp_path, {"train": frame})
    first, second = _run(tmp_path, examples, "first"), _run(tmp_path, examples, "second")
    assert b'"histograms"' in first
    assert first == second
