"""Read CSV, JSON-lines and Parquet files as Arrow record batches, catching bad records.

Every reader yields ``RecordBatch`` objects of one fixed schema and reports bad records
(file, line, reason, text) to a callback instead of dropping them. Work is vectorised:

* CSV is parsed block by block straight into the schema's types; rows with the wrong
  number of fields come from pyarrow's ``invalid_row_handler``. When a value does not
  convert, the rest of the file is parsed as strings and cast batch by batch; bisection
  over a failing column finds the exact rows (O(bad rows x log n) casts), so clean data
  never pays for validation.
* JSON lines stream through ``pyarrow.json.open_json``; when a file fails, its remaining
  lines are bisected with pyarrow the same way.
* Parquet is read row group by row group and cast to the schema.

Line numbers are physical lines, 1-based, header included; empty lines are skipped (and
counted in the numbering); quoted newlines inside CSV values are not supported (as in
pyarrow's default parser).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from gristmill.metadata.errors import DataError

BAD_RECORD_SCHEMA = pa.schema([("file", pa.string()), ("line", pa.int64()),
                               ("reason", pa.string()), ("text", pa.string())])


@dataclass(frozen=True)
class BadRecord:
    """One record that could not be read."""

    file: str
    line: int | None
    reason: str
    text: str


OnBad = Callable[[BadRecord], None]


@dataclass(frozen=True)
class CsvOptions:
    """How CSV files are parsed."""

    delimiter: str = ","
    column_types: tuple[tuple[str, str], ...] = ()
    block_size: int = 8 << 20


def _csv_parse_options(delimiter: str, handler) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=handler)


def infer_csv_schema(path: str, options: CsvOptions) -> pa.Schema:
    """Column types pyarrow infers from the first block, overridden by ``column_types``.

    Columns empty in the first block are read as strings (a null type cannot hold later
    values); duplicate header names and non-UTF-8 headers end in a DataError.
    """
    try:
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=options.block_size),
            parse_options=_csv_parse_options(options.delimiter, lambda row: "skip"),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        schema = reader.schema
        names = list(schema.names)
        reader.close()
    except UnicodeDecodeError as e:
        raise DataError(f"ExampleGen: the CSV header of {path} is not UTF-8 ({e.reason} at "
                        f"byte {e.start}).", uri=path,
                        fix="re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8") from e
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"ExampleGen: cannot read a CSV header from {path}: {e}.", uri=path,
                        fix="check the file is UTF-8 CSV with a header line and the delimiter "
                            f"({options.delimiter!r}) is right") from e
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"ExampleGen: {path} has duplicate column names {duplicates}; expected "
                        "unique header names.", uri=path, fix="rename the repeated columns")
    overrides = dict(options.column_types)
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise DataError(f"ExampleGen: column_types names {unknown}, which {path} does not "
                        f"have (columns: {names}).", uri=path,
                        fix="use the CSV header's column names")
    return pa.schema([pa.field(f.name, _inferred_type(f.type, overrides.get(f.name)))
                      for f in schema])


def _inferred_type(inferred: pa.DataType, override: str | None) -> pa.DataType:
    if override:
        return pa.type_for_alias(override)
    return pa.string() if pa.types.is_null(inferred) else inferred


def _bad_positions(arr: pa.Array, to: pa.DataType, offset: int = 0) -> list[tuple[int, str]]:
    """Positions in ``arr`` whose cast to ``to`` fails, found by bisection."""
    try:
        pc.cast(arr, to)
        return []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        if len(arr) == 1:
            return [(offset, f"cannot parse {arr[0].as_py()!r} as {to} ({e})")]
        mid = len(arr) // 2
        return (_bad_positions(arr.slice(0, mid), to, offset)
                + _bad_positions(arr.slice(mid), to, offset + mid))


def cast_batch(batch: pa.RecordBatch, schema: pa.Schema
               ) -> tuple[pa.RecordBatch, dict[int, str]]:
    """Cast a string batch to ``schema``; returns the good rows and ``{row: reason}``."""
    try:
        return batch.cast(schema), {}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    bad: dict[int, str] = {}
    for field in schema:
        column = batch.column(field.name)
        for row, reason in _bad_positions(column, field.type):
            bad.setdefault(row, f"column {field.name!r}: {reason}")
    keep = np.ones(batch.num_rows, dtype=bool)
    keep[list(bad)] = False
    return batch.filter(pa.array(keep)).cast(schema), bad


def _line_of(index: int, skipped_lines: list[int], header_lines: int = 1) -> int:
    """Physical line of the ``index``-th parsed row, given lines the parser skipped."""
    line = index + header_lines + 1
    while True:
        shifted = index + header_lines + 1 + sum(1 for s in skipped_lines if s <= line)
        if shifted == line:
            return line
        line = shifted


def _row_text(batch: pa.RecordBatch, row: int, delimiter: str) -> str:
    values = batch.slice(row, 1).to_pylist()[0].values()
    return delimiter.join("" if v is None else str(v) for v in values)


def _open_csv(path: str, schema: pa.Schema, options: CsvOptions, handler, threads: bool,
              typed: bool = False):
    """A streaming reader; ``typed`` converts to ``schema`` while parsing, else strings.

    Raises:
        pa.ArrowInvalid: Only when ``typed`` and the first block has a value that does not
            convert.
        DataError: The file cannot be opened or parsed.
    """
    types = schema if typed else {name: pa.string() for name in schema.names}
    try:
        return pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=options.block_size,
                                                 use_threads=threads),
            parse_options=_csv_parse_options(options.delimiter, handler),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(
                schema.names), strings_can_be_null=True))
    except pa.ArrowInvalid as e:
        if typed and "conversion error" in str(e):
            raise
        raise DataError(f"ExampleGen: cannot read {path}: {e}.", uri=path,
                        fix="check the file is CSV with the same header as the first input "
                            "file") from e
    except OSError as e:
        raise DataError(f"ExampleGen: cannot read {path}: {e}.", uri=path,
                        fix="check the file exists and is readable") from e


def read_csv(path: str, schema: pa.Schema, options: CsvOptions, on_bad: OnBad
             ) -> Iterator[pa.RecordBatch]:
    """Yield batches of ``path`` typed as ``schema``; report each bad row to ``on_bad``.

    Values are converted while parsing, on several threads. If a value does not convert,
    the rest of the file (after the rows already yielded) is re-parsed as strings and cast
    batch by batch, isolating the bad rows. Threaded parsing leaves pyarrow unable to
    number rejected lines, so a file with bad rows is read once more on one thread to
    report each with its line number.
    """
    found = 0

    def count(row) -> str:
        nonlocal found
        found += 1
        return "skip"

    parsed = 0
    try:
        for batch in _open_csv(path, schema, options, count, threads=True, typed=True):
            parsed += batch.num_rows
            yield batch
    except pa.ArrowInvalid:
        for batch in _open_csv(path, schema, options, lambda row: "skip", threads=True):
            if parsed >= batch.num_rows:  # already yielded by the typed pass
                parsed -= batch.num_rows
                continue
            good, bad = cast_batch(batch.slice(parsed), schema)
            parsed = 0
            found += len(bad)
            if good.num_rows:
                yield good
    if found:
        _report_bad_rows(path, schema, options, on_bad)


def _nonempty_lines(path: str) -> np.ndarray:
    """1-based numbers of the file's non-empty lines (pyarrow numbers records over these)."""
    data = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) else \
        np.zeros(0, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(data)]])
    lengths = ends - starts
    carriage = (lengths == 1) & (data[np.minimum(starts, max(len(data) - 1, 0))] == ord("\r")) \
        if len(data) else lengths > 0
    return np.flatnonzero((lengths > 0) & ~carriage) + 1


def _report_bad_rows(path: str, schema: pa.Schema, options: CsvOptions, on_bad: OnBad) -> None:
    """Parse ``path`` on one thread and report every bad row with its line number."""
    lines = _nonempty_lines(path)
    skipped: list[int] = []

    def handle(row) -> str:
        skipped.append(row.number)
        on_bad(BadRecord(path, int(lines[row.number - 1]), f"expected {row.expected_columns} "
                         f"fields, got {row.actual_columns}", row.text))
        return "skip"

    seen = 0
    for batch in _open_csv(path, schema, options, handle, threads=False):
        _, bad = cast_batch(batch, schema)
        for row in sorted(bad):
            record = _line_of(seen + row, sorted(skipped))
            on_bad(BadRecord(path, int(lines[record - 1]), bad[row],
                             _row_text(batch, row, options.delimiter)))
        seen += batch.num_rows


def infer_json_schema(path: str, sample_lines: int = 10_000) -> pa.Schema:
    """Types pyarrow infers from the first block of a JSON-lines file.

    When that block holds bad lines, the types come from the good ones among the first
    ``sample_lines`` lines (the bad ones are reported when the file is read).
    """
    try:
        reader = pajson.open_json(path)
        schema = reader.schema
        reader.close()
        return schema
    except pa.ArrowInvalid:
        pass
    except OSError as e:
        raise DataError(f"ExampleGen: cannot read {path}: {e}.", uri=path,
                        fix="check the file exists and is readable") from e
    with open(path, "rb") as f:
        lines = [(n, raw.strip()) for n, raw in zip(range(1, sample_lines + 1), f, strict=False)
                 if raw.strip()]
    good = [batch for batch in _parse_json_lines(lines, None, path, lambda record: None)]
    if not good:
        raise DataError(f"ExampleGen: none of the first {sample_lines} lines of {path} is a "
                        f"JSON object.", uri=path, fix="give the file one JSON object per line")
    try:
        return pa.unify_schemas([b.schema for b in good], promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as e:
        raise DataError(f"ExampleGen: a field of {path} has different JSON types on different "
                        f"lines ({e}); expected one type per field.", uri=path,
                        fix="make each field's type consistent (e.g. always a string)") from e


def _json_options(schema: pa.Schema | None) -> pajson.ParseOptions:
    if schema is None:
        return pajson.ParseOptions()
    return pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")


def _parse_json_lines(lines: list[tuple[int, bytes]], schema: pa.Schema | None, path: str,
                      on_bad: OnBad) -> Iterator[pa.RecordBatch]:
    """Parse numbered lines; bisect failing chunks down to the bad lines."""
    if not lines:
        return
    try:
        table = pajson.read_json(io.BytesIO(b"\n".join(text for _, text in lines)),
                                 parse_options=_json_options(schema))
        yield from (table.cast(schema) if schema is not None else table).to_batches()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        if len(lines) == 1:
            number, text = lines[0]
            on_bad(BadRecord(path, number, str(e), text.decode(errors="replace")))
            return
        mid = len(lines) // 2
        yield from _parse_json_lines(lines[:mid], schema, path, on_bad)
        yield from _parse_json_lines(lines[mid:], schema, path, on_bad)


def read_json_lines(path: str, schema: pa.Schema, on_bad: OnBad, chunk_lines: int = 65_536
                    ) -> Iterator[pa.RecordBatch]:
    """Yield batches of a JSON-lines file typed as ``schema``; report bad lines."""
    good_rows = 0
    try:
        for batch in pajson.open_json(path, parse_options=_json_options(schema)):
            good_rows += batch.num_rows
            yield batch
        return
    except pa.ArrowInvalid:
        pass  # re-read the rest of this file line by line to locate the bad records
    with open(path, "rb") as f:
        chunk: list[tuple[int, bytes]] = []
        nonempty = 0
        for number, raw in enumerate(f, start=1):
            text = raw.strip()
            if not text:
                continue
            nonempty += 1
            if nonempty <= good_rows:
                continue
            chunk.append((number, text))
            if len(chunk) >= chunk_lines:
                yield from _parse_json_lines(chunk, schema, path, on_bad)
                chunk = []
        yield from _parse_json_lines(chunk, schema, path, on_bad)


def read_parquet(path: str, schema: pa.Schema, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Yield the batches of a Parquet file cast to ``schema``."""
    try:
        parquet = pq.ParquetFile(path)
        if parquet.schema_arrow.names != schema.names:
            raise DataError(f"ExampleGen: {path} has columns {parquet.schema_arrow.names}; "
                            f"expected {schema.names} (from the first input file).", uri=path,
                            fix="give every input file the same columns")
        for batch in parquet.iter_batches(batch_size=batch_size):
            yield batch.cast(schema) if batch.schema != schema else batch
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"ExampleGen: cannot read {path}: {e}.", uri=path,
                        fix="check the file is a complete Parquet file with the same column "
                            "types as the first input file") from e


def bad_records_batch(records: list[BadRecord]) -> pa.RecordBatch:
    """Bad records as one batch with :data:`BAD_RECORD_SCHEMA`."""
    return pa.RecordBatch.from_pylist([r.__dict__ for r in records], schema=BAD_RECORD_SCHEMA)
