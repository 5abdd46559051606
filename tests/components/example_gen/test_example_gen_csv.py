"""The chunked, parallel CSV reader: same rows as one whole-file parse, whatever the cuts."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from gristmill.components.example_gen.csv_reader import CsvOptions, infer_csv_schema, read_csv
from gristmill.metadata.errors import DataError


def _rows(path, options: CsvOptions) -> tuple[pa.Table, list]:
    schema = infer_csv_schema(str(path), options)
    bad: list = []
    batches = list(read_csv(str(path), schema, options, bad.append))
    return pa.Table.from_batches(batches, schema=schema), bad


def _whole(path) -> pa.Table:
    return pacsv.read_csv(str(path), convert_options=pacsv.ConvertOptions(
        strings_can_be_null=True))


@pytest.mark.unit
@pytest.mark.parametrize("chunk_bytes", [7, 64, 1000, 1 << 20])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("lead", ["", "\ufeff", "\n\n"], ids=["plain", "bom", "blank-lines"])
@pytest.mark.parametrize("trailing_newline", [True, False])
def test_any_chunk_size_gives_the_whole_file_parse(tmp_path, chunk_bytes, ending, lead,
                                                   trailing_newline):
    lines = ["id,name,score"] + [f"{i},n{i % 7},{i / 3:.4f}" for i in range(300)]
    lines[40] = "39,\"quoted, comma\",1.5"
    lines[90] = ""  # a blank line inside the data
    text = lead + ending.join(lines) + (ending if trailing_newline else "")
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode())
    table, bad = _rows(path, CsvOptions(chunk_bytes=chunk_bytes, block_size=256))
    assert bad == []
    assert table.equals(_whole(path))
    assert table.num_rows == 299


@pytest.mark.unit
def test_a_line_longer_than_a_chunk_is_kept_whole(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("a,b\n" + "1," + "x" * 5000 + "\n2,y\n")
    table, bad = _rows(path, CsvOptions(chunk_bytes=100, block_size=1 << 16))
    assert bad == [] and table.column("a").to_pylist() == [1, 2]
    assert table.column("b").to_pylist() == ["x" * 5000, "y"]


@pytest.mark.unit
def test_bad_rows_in_later_chunks_keep_their_line_numbers(tmp_path):
    lines = ["id,amount"] + [f"{i},{i}.5" for i in range(500)]
    lines[420] = "419,oops"  # line 421: a value that does not convert, in a late chunk
    lines[480] = "479,1,2"  # line 481: one field too many
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    table, bad = _rows(path, CsvOptions(chunk_bytes=300, block_size=256, infer_bytes=256))
    assert table.schema.field("amount").type == pa.float64()
    assert table.num_rows == 498
    assert table.column("id").to_pylist() == [i for i in range(500) if i not in (419, 479)]
    assert sorted((b.line, b.text) for b in bad) == [(421, "419,oops"), (481, "479,1,2")]


@pytest.mark.unit
@pytest.mark.parametrize("content", [b"", b"\n\n\r\n"], ids=["empty", "blank"])
def test_a_later_file_without_a_header_is_named(tmp_path, content):
    first = tmp_path / "first.csv"
    first.write_text("a,b\n1,2\n")
    later = tmp_path / "later.csv"
    later.write_bytes(content)
    schema = infer_csv_schema(str(first), CsvOptions())
    with pytest.raises(DataError, match="later.csv has no header line"):
        list(read_csv(str(later), schema, CsvOptions(), lambda record: None))


@pytest.mark.unit
def test_a_later_file_with_other_columns_is_refused_with_its_name(tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("a,b\n1,2\n")
    later = tmp_path / "later.csv"
    later.write_text("a,c\n1,2\n")
    schema = infer_csv_schema(str(first), CsvOptions())
    with pytest.raises(DataError, match="later.csv") as error:
        list(read_csv(str(later), schema, CsvOptions(), lambda record: None))
    assert "Fix:" in str(error.value)


@pytest.mark.unit
def test_rows_pyarrow_miscuts_at_a_block_boundary_are_kept(tmp_path):
    # Found by the bad-input harness: with 1 MB blocks, pyarrow rejects this file's last
    # row ("expected 5 fields, got 4"); parsed as one block it is a good row. A piece
    # with rejected rows is parsed again as one block, so rows kept + rows reported
    # always equals the data lines.
    huge = b",".join([b"x" * 200_000] * 5)
    data = (b"c0,c1,c2,c3,c4\n" + b"y" * 100_000 + b",1,1,1,1\n" + huge + b"\n,,,,\n"
            + b"TRUE,\x00,NaN,9,")
    path = tmp_path / "edge.csv"
    path.write_bytes(data)
    table, bad = _rows(path, CsvOptions(block_size=1 << 20))
    assert (table.num_rows, bad) == (4, [])
    assert table.column("c0").to_pylist()[-1] == "TRUE"


@pytest.mark.unit
def test_quoted_newlines_are_values_when_asked_for(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text('id,note,score\n1,"two\nlines",1.5\n2,plain,2.5\n3,"a, b\n\nc",oops\n'
                    '4,"x"\n5,last,5.5\n')
    options = CsvOptions(newlines_in_values=True, column_types=(("score", "float64"),))
    table, bad = _rows(path, options)
    assert table.column("note").to_pylist() == ["two\nlines", "plain", "last"]
    assert table.column("score").to_pylist() == [1.5, 2.5, 5.5]
    assert sorted((b.line, b.reason[:30], b.text) for b in bad) == [
        (None, "record 4: column 'score': cann", "3,a, b\n\nc,oops"),
        (None, "record 5: expected 3 fields, g", '4,"x"')]
