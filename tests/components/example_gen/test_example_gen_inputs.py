"""ExampleGen's inputs: confinement to input_base, data files by extension, one rule for
files whose columns differ, compressed CSV, and clear CSV reader errors (issue 14 items
2, 12, 17, 18)."""

from __future__ import annotations

import gzip
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import pytest

from gristmill.components.example_gen.component import CsvExampleGen, ParquetExampleGen
from gristmill.components.example_gen.config import Input, SplitPattern
from gristmill.components.example_gen.inputs import resolve_input
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import Examples


def _run(component_cls, tmp_path, **params) -> Examples:
    component = component_cls(**params)
    output = Examples(str(tmp_path / "examples"))
    os.makedirs(output.uri)
    context = ExecutionContext(component_id=component_cls.__name__, tmp_dir=str(tmp_path))
    component_cls.EXECUTOR(context).Do({}, {"examples": [output]}, component.parameters)
    return output


def _rows(output: Examples, column: str) -> list:
    return sorted((v for s in output.splits
                   for v in pq.read_table(output.split_uri(s)).column(column).to_pylist()),
                  key=lambda v: (v is None, v))


def _write(path, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


# --- confinement (item 2) -------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("pattern", ["../secret/*.csv", "data/../../x.csv", "/etc/*"])
def test_a_pattern_reaching_outside_input_base_is_refused(tmp_path, pattern):
    _write(tmp_path / "secret" / "s.csv", "a\n1\n")
    with pytest.raises(pydantic.ValidationError, match="reaches outside input_base"):
        SplitPattern(name="x", pattern=pattern)
    # and at run time, whatever built the config
    config = Input.model_construct(splits=[SplitPattern.model_construct(name="x",
                                                                        pattern=pattern)])
    with pytest.raises(ConfigError, match="reaches outside input_base"):
        resolve_input(str(tmp_path / "base"), config)


@pytest.mark.unit
def test_a_symlink_to_a_file_outside_input_base_is_refused_without_its_content(tmp_path):
    secret = _write(tmp_path / "system" / "passwd", "root:x:0:0:root:/root:/bin/bash\n")
    base = tmp_path / "data"
    _write(base / "a.csv", "id,x\n1,2\n")
    os.symlink(secret, base / "b.csv")
    with pytest.raises(DataError) as caught:
        _run(CsvExampleGen, tmp_path, input_base=str(base))
    message = str(caught.value)
    assert "b.csv" in message and "outside input_base" in message
    assert "root:x" not in message and "Fix:" in message


@pytest.mark.unit
def test_a_symlink_inside_input_base_is_read(tmp_path):
    base = tmp_path / "data"
    _write(base / "real" / "a.csv", "id,x\n1,2\n2,3\n")
    os.symlink(base / "real" / "a.csv", base / "a.csv")
    output = _run(CsvExampleGen, tmp_path, input_base=str(base), input_config=Input(
        splits=[SplitPattern(name="all", pattern="*.csv")]))
    assert _rows(output, "id") == [1, 2]


# --- data files by extension (item 18) -----------------------------------------------

@pytest.mark.unit
def test_a_readme_in_the_data_folder_is_skipped_counted_and_never_the_schema(tmp_path):
    base = tmp_path / "data"
    _write(base / "README.md", "# Data\nThis folder holds the sales data.\n")
    _write(base / "sales.csv", "id,amount\n1,2.5\n2,3.5\n3,1.0\n")
    output = _run(CsvExampleGen, tmp_path, input_base=str(base))
    assert _rows(output, "amount") == [1.0, 2.5, 3.5]
    assert output.get_custom_property("num_skipped_files") == 1


@pytest.mark.unit
def test_a_folder_without_data_files_says_what_it_found(tmp_path):
    base = tmp_path / "data"
    _write(base / "README.md", "# nothing\n")
    with pytest.raises(DataError, match=r"matched only \['README.md'\], which are not data "
                                        r"files \(expected names ending in"):
        _run(CsvExampleGen, tmp_path, input_base=str(base))


# --- files whose columns differ (item 12) -----------------------------------------------

@pytest.mark.unit
def test_a_later_csv_file_with_an_extra_column_is_refused_naming_files_and_column(tmp_path):
    base = tmp_path / "data"
    _write(base / "a.csv", "id,x\n1,2\n2,3\n")
    _write(base / "b.csv", "id,x,extra\n3,4,yes\n")
    with pytest.raises(DataError, match=r"b.csv has extra columns \['extra'\] compared with "
                                        r"the first input file .*a.csv"):
        _run(CsvExampleGen, tmp_path, input_base=str(base))


@pytest.mark.unit
def test_a_union_is_taken_only_when_asked_and_is_counted(tmp_path):
    base = tmp_path / "data"
    _write(base / "a.csv", "id,x\n1,2\n2,3\n")
    _write(base / "b.csv", "id,x,extra\n3,4,yes\n")
    output = _run(CsvExampleGen, tmp_path, input_base=str(base), on_schema_mismatch="union")
    assert _rows(output, "extra") == ["yes", None, None]
    assert output.get_custom_property("schema_union") == {"a.csv": ["extra"]}


@pytest.mark.unit
def test_parquet_files_follow_the_same_rule(tmp_path):
    base = tmp_path / "data"
    os.makedirs(base)
    pq.write_table(pa.table({"id": [1, 2]}), base / "a.parquet")
    pq.write_table(pa.table({"id": [3], "extra": [1.5]}), base / "b.parquet")
    with pytest.raises(DataError, match=r"b.parquet has extra columns \['extra'\]"):
        _run(ParquetExampleGen, tmp_path, input_base=str(base))
    output = _run(ParquetExampleGen, tmp_path / "u", input_base=str(base),
                  on_schema_mismatch="union")
    assert _rows(output, "extra") == [1.5, None, None]


@pytest.mark.unit
def test_a_later_json_file_with_an_extra_key_is_refused_naming_files_and_key(tmp_path):
    from gristmill.components.example_gen.component import JsonExampleGen

    base = tmp_path / "data"
    _write(base / "1.json", '{"a": 1, "b": "x"}\n{"a": 2}\n')
    _write(base / "2.json", '{"a": 3, "b": "z", "extra": 5}\n')
    with pytest.raises(DataError, match=r"2.json has extra columns \['extra'\] compared with "
                                        r"the first input file .*1.json.*on_schema_mismatch"):
        _run(JsonExampleGen, tmp_path, input_base=str(base))
    output = _run(JsonExampleGen, tmp_path / "u", input_base=str(base),
                  on_schema_mismatch="union")
    assert _rows(output, "extra") == [5, None, None]


# --- CSV reader errors (item 18) and the wrong delimiter (item 17) ----------------------------

@pytest.mark.unit
def test_gzipped_csv_is_read_like_the_plain_file(tmp_path):
    base = tmp_path / "data"
    os.makedirs(base)
    text = "id,name\n" + "".join(f"{i},n{i % 7}\n" for i in range(5000))
    with gzip.open(base / "big.csv.gz", "wt") as f:
        f.write(text)
    output = _run(CsvExampleGen, tmp_path, input_base=str(base), block_size=1 << 16)
    assert _rows(output, "id") == list(range(5000))


@pytest.mark.unit
def test_a_multi_character_delimiter_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="delimiter must be one character.*'::'"):
        CsvExampleGen(input_base="x", delimiter="::")


@pytest.mark.unit
def test_a_semicolon_file_read_with_commas_names_the_delimiter(tmp_path):
    base = tmp_path / "data"
    _write(base / "a.csv", "id;x;y\n1;2;3\n")
    with pytest.raises(DataError, match=r"pass delimiter=';'"):
        _run(CsvExampleGen, tmp_path, input_base=str(base))


@pytest.mark.unit
def test_a_cell_longer_than_a_parse_block_is_read_and_the_block_size_is_exposed(tmp_path):
    base = tmp_path / "data"
    cell = "x" * (2 << 20)  # longer than pyarrow's 1 MiB parse block
    _write(base / "a.csv", f"id,text\n1,a\n2,{cell}\n3,b\n")
    output = _run(CsvExampleGen, tmp_path, input_base=str(base))
    assert sorted(len(t) for t in _rows(output, "text")) == [1, 1, len(cell)]
    with pytest.raises(DataError, match=r"longer than the CSV parse block.*block_size="):
        _run(CsvExampleGen, tmp_path / "small", input_base=str(base),
             newlines_in_values=True, block_size=1 << 16)
