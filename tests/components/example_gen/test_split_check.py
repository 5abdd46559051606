"""ExampleGen says so when hashing leaves a split empty or far from its share (gauntlet found 9)."""

from __future__ import annotations

import os

import pytest

from gristmill.components.example_gen.split_check import split_warnings
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.standard_artifacts import Examples


def _run_csv(tmp_path, lines):
    from gristmill.components.example_gen.component import CsvExampleGen

    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "data.csv").write_text("\n".join(lines) + "\n")
    component = CsvExampleGen(input_base=str(tmp_path / "in"))
    output = Examples(str(tmp_path / "examples"))
    os.makedirs(output.uri)
    context = ExecutionContext(component_id="CsvExampleGen", tmp_dir=str(tmp_path))
    CsvExampleGen.EXECUTOR(context).Do({}, {"examples": [output]}, component.parameters)
    return output


@pytest.mark.unit
def test_empty_split_is_reported_with_its_cause_and_fix():
    (message,) = split_warnings({"train": 119, "eval": 0}, (2, 1))
    assert message.startswith("ExampleGen: split 'eval' is empty (expected about 40 of 119")
    assert "hash of the whole row" in message and "few distinct rows" in message
    assert "Fix: give ExampleGen pre-split input" in message


@pytest.mark.unit
def test_lopsided_split_is_reported_and_plausible_ones_are_not():
    # Stat2Data/AthleteGrad's shape: 20,000 rows, 8 distinct -> whole patterns move together
    (message,) = [m for m in split_warnings({"train": 10_000, "eval": 10_000}, (2, 1))
                  if "'eval'" in m]
    assert "has 10000 of 20000 rows (50.0%), configured 33.3%" in message
    assert split_warnings({"train": 13_400, "eval": 6_600}, (2, 1)) == []   # 0.8 sd
    assert split_warnings({"train": 20, "eval": 4}, (2, 1)) == []           # small: no share check
    assert split_warnings({"a": 5, "b": 0}, None) == []                     # mirrored splits
    assert "partition feature 'user'" in split_warnings({"train": 50, "eval": 0}, (2, 1),
                                                        "user")[0]


@pytest.mark.unit
def test_the_warning_reaches_the_artifact_when_a_split_is_empty(tmp_path):
    # 119 copies of one row: whichever split it hashes to, the other one is empty
    output = _run_csv(tmp_path, ["x,y"] + ["1,0"] * 119)
    counts = output.get_property("row_counts")
    (empty,) = [s for s, n in counts.items() if n == 0]
    (warning,) = output.get_custom_property("split_warnings")
    assert f"split {empty!r} is empty" in warning
