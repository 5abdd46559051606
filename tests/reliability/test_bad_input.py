"""A fast subset of the bad-input harness: generated hostile inputs end clearly."""

from __future__ import annotations

import pytest

from . import bad_input
from .bad_input_cases import SCHEMA_TEXTS, csv_files, json_lines_files, pipeline_definitions

# Once-known ExampleGen bugs, fixed; each keeps a test below with its minimal input.
KNOWN_EXAMPLE_GEN_BUGS: tuple[str, ...] = ()


def _problems(strategy, count, check, tmp_path) -> list[str]:
    problems, index = [], [0]

    def one(case):
        index[0] += 1
        folder = tmp_path / str(index[0])
        folder.mkdir()
        problem = check(case, folder)
        if problem and not any(bug in problem for bug in KNOWN_EXAMPLE_GEN_BUGS):
            problems.append(f"{case[-1] if isinstance(case, tuple) else case!r}: {problem}")

    bad_input.for_examples(strategy, count, one)
    return problems


@pytest.mark.integration
def test_hundred_generated_csv_files_end_clearly_or_count_every_row(tmp_path):
    problems = _problems(csv_files(), 100,
                         lambda c, d: bad_input.check_csv_reader(c[0], d / "data.csv"), tmp_path)

    assert problems == []


@pytest.mark.integration
def test_generated_json_lines_files_end_clearly_or_count_every_line(tmp_path):
    problems = _problems(json_lines_files(), 40,
                         lambda c, d: bad_input.check_json_reader(c[0], d / "d.jsonl"), tmp_path)

    assert problems == []


@pytest.mark.integration
def test_damaged_or_mismatched_parquet_files_end_in_a_data_error(tmp_path):
    assert _problems(bad_input.parquet_cases(), 40, bad_input.check_parquet, tmp_path) == []


@pytest.mark.unit
def test_broken_schema_files_end_in_a_data_error_naming_the_file(tmp_path):
    problems = _problems(SCHEMA_TEXTS, 50,
                         lambda c, d: bad_input.check_schema(c, d / "schema.yaml"), tmp_path)

    assert problems == []


@pytest.mark.integration
def test_broken_pipeline_definitions_end_in_an_error_with_the_fix(tmp_path):
    assert _problems(pipeline_definitions(), 60, bad_input.check_definition, tmp_path) == []


@pytest.mark.integration
def test_example_gen_counts_every_row_in_quarantine_mode(tmp_path):
    from gristmill.components.example_gen.component import CsvExampleGen
    from gristmill.components.example_gen.executor import CsvExampleGenExecutor
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.metadata.standard_artifacts import Examples

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_bytes(b"a,b\n1,2\n3\n4,x\n\n5,6,7\n9,10\n")
    out = Examples(str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    params = CsvExampleGen.PARAMETERS(input_base=str(tmp_path / "in"),
                                      on_bad_records="quarantine")

    CsvExampleGenExecutor(ExecutionContext(component_id="CsvExampleGen",
                                           tmp_dir=str(tmp_path / "tmp"))).Do(
        {}, {"examples": [out]}, params)

    assert sum(out.get_property("row_counts").values()) == 3
    assert out.get_custom_property("num_quarantined") == 2


@pytest.mark.integration
def test_utf16_csv_ends_in_a_data_error(tmp_path):
    data = "a,b\n1,2\n".encode("utf-16")

    assert bad_input.check_csv_reader(data, tmp_path / "data.csv") is None


@pytest.mark.integration
def test_json_lines_with_mixed_types_end_clearly(tmp_path):
    data = b'{"a": "x", "b": 1}\n{"a": 1, "b": 2}\n'

    assert bad_input.check_json_reader(data, tmp_path / "d.jsonl") is None


@pytest.mark.integration
def test_all_empty_column_with_a_short_row_counts_the_row(tmp_path):
    assert bad_input.check_csv_reader(b"a,b\n,\n1\n", tmp_path / "data.csv") is None


@pytest.mark.integration
def test_duplicate_header_names_end_in_a_data_error(tmp_path):
    data = b"c0,c0\n8,5\ninf,NaN\n7,1"

    assert bad_input.check_csv_reader(data, tmp_path / "data.csv") is None
