"""Read CSV files as Arrow record batches, in parallel, reporting every bad record.

Pieces of a file (:mod:`~gristmill.components.example_gen.csv_chunks`) are parsed by pyarrow on all
cores, straight into the schema's types, one piece ahead of the batches being split and
written downstream: memory stays bounded by a few pieces whatever the file's size.

Rows with the wrong number of fields come from pyarrow's ``invalid_row_handler``. When a
value does not convert, that piece is parsed again as strings and cast batch by batch;
bisection over a failing column finds the exact rows (O(bad rows x log n) casts), so clean
data never pays for validation. A file with bad rows is read once more, a piece at a time
on one thread, to report each with its line number.

Line numbers are physical lines, 1-based, header included; empty lines are skipped (and
counted in the numbering); quoted newlines inside CSV values are not supported (as in
pyarrow's default parser).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gristmill.components.example_gen.csv_chunks import (
    Piece,
    chunks,
    parse_piece,
    read_ahead,
    unreadable,
)
from gristmill.components.example_gen.file_io import BadRecord, OnBad
from gristmill.metadata.errors import DataError


@dataclass(frozen=True)
class CsvOptions:
    """How CSV files are parsed.

    Attributes:
        delimiter: Field separator.
        column_types: ``(column, Arrow type alias)`` overrides of the inferred types.
        block_size: Bytes per pyarrow parse block (the unit of parallel work).
        chunk_bytes: Bytes of a file parsed at once (bounds memory).
        infer_bytes: Bytes sampled to infer column types.
        newlines_in_values: Quoted values may hold newlines. Files are then read by one
            streaming pass on one thread (pieces cannot be cut at line ends), and bad
            records are numbered by record, not line.
        fill_missing_columns: Columns of the schema a file lacks are read as nulls
            (ExampleGen's ``on_schema_mismatch="union"``).
    """

    delimiter: str = ","
    column_types: tuple[tuple[str, str], ...] = ()
    block_size: int = 1 << 20
    chunk_bytes: int = 16 << 20
    infer_bytes: int = 8 << 20
    newlines_in_values: bool = False
    fill_missing_columns: bool = False


def _csv_parse_options(options: CsvOptions, handler) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter=options.delimiter, invalid_row_handler=handler,
                              newlines_in_values=options.newlines_in_values)


def infer_csv_schema(path: str, options: CsvOptions) -> pa.Schema:
    """Column types pyarrow infers from the first block, overridden by ``column_types``.

    Columns empty in the first block are read as strings (a null type cannot hold later
    values); duplicate header names and non-UTF-8 headers end in a DataError.
    """
    try:
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=options.infer_bytes),
            parse_options=_csv_parse_options(options, lambda row: "skip"),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        schema = reader.schema
        names = list(schema.names)
        reader.close()
    except UnicodeDecodeError as e:
        raise DataError(f"ExampleGen: the CSV header of {path} is not UTF-8 ({e.reason} at "
                        f"byte {e.start}).", uri=path,
                        fix="re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8") from e
    except (pa.ArrowInvalid, OSError) as e:
        if "straddl" in str(e):
            raise unreadable(path, e, options.infer_bytes) from e
        raise DataError(f"ExampleGen: cannot read a CSV header from {path}: {e}.", uri=path,
                        fix="check the file is UTF-8 CSV with a header line and the delimiter "
                            f"({options.delimiter!r}) is right") from e
    _refuse_one_column_of_separators(path, names, options.delimiter)
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


def _refuse_one_column_of_separators(path: str, names: list[str], delimiter: str) -> None:
    """A header read as one column that holds another separator: the wrong delimiter."""
    if len(names) != 1:
        return
    found = [sep for sep in (";", "\t", "|", ",") if sep != delimiter and sep in names[0]]
    if found:
        raise DataError(f"ExampleGen: {path} reads as one column named {names[0][:80]!r} with "
                        f"delimiter {delimiter!r}; its header holds {found[0]!r} instead.",
                        uri=path, fix=f"pass delimiter={found[0]!r} to CsvExampleGen")


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


def _record_of(index: int, skipped: list[int], header_records: int = 1) -> int:
    """Record number (1-based, header included) of the ``index``-th parsed row, given the
    sorted record numbers the parser skipped."""
    record = index + header_records + 1
    while True:
        shifted = index + header_records + 1 + bisect.bisect_right(skipped, record)
        if shifted == record:
            return record
        record = shifted


def _row_text(batch: pa.RecordBatch, row: int, delimiter: str) -> str:
    values = batch.slice(row, 1).to_pylist()[0].values()
    return delimiter.join("" if v is None else str(v) for v in values)


def _parse(piece: Piece, path: str, schema: pa.Schema, options: CsvOptions,
           one_block: bool) -> tuple[pa.Table, int]:
    """``(good rows, rows rejected)`` of one piece, typed as ``schema``.

    Values convert while parsing; when one does not, the piece is parsed again as strings
    and cast batch by batch, isolating the bad rows.
    """
    rejected = 0

    def count(row) -> str:
        nonlocal rejected
        rejected += 1
        return "skip"

    block_size = None if one_block else options.block_size
    try:
        return parse_piece(piece, path, schema, options.delimiter, count, True,
                           block_size, options.fill_missing_columns), rejected
    except pa.ArrowInvalid:
        rejected = 0
    batches = []
    for batch in parse_piece(piece, path, schema, options.delimiter, count, False,
                             block_size, options.fill_missing_columns).to_batches():
        good, bad = cast_batch(batch, schema)
        rejected += len(bad)
        batches.append(good)
    return pa.Table.from_batches(batches, schema=schema), rejected


def read_csv(path: str, schema: pa.Schema, options: CsvOptions, on_bad: OnBad
             ) -> Iterator[pa.RecordBatch]:
    """Yield batches of ``path`` typed as ``schema``; report each bad row to ``on_bad``.

    Pieces of the file are parsed one ahead of the caller, on all cores (see
    :mod:`~gristmill.components.example_gen.csv_chunks`). A file with bad rows is read once more, a
    piece at a time on one thread, to report each with its line number.
    """
    if options.newlines_in_values:
        yield from _read_multiline(path, schema, options, on_bad)
        return
    found = 0

    def parse(piece: Piece) -> pa.Table:
        nonlocal found
        table, rejected = _parse(piece, path, schema, options, one_block=False)
        if rejected or not piece.accounts_for(table.num_rows, rejected):
            # Parse as the bad-row report will (one block): the rows kept and the rows
            # reported then always add up, even where pyarrow mis-cuts a block boundary.
            table, rejected = _parse(piece, path, schema, options, one_block=True)
        found += rejected
        # One batch per piece: pyarrow's per-block batches (~10k rows) would multiply
        # the per-batch cost of hashing, splitting and Beam's hand-offs downstream.
        return table.combine_chunks()

    pieces = chunks(path, options.chunk_bytes, options.delimiter)
    for table in read_ahead(lambda piece=piece: parse(piece) for piece in pieces):
        for batch in table.to_batches():
            if batch.num_rows:
                yield batch
    if found:
        _report_bad_rows(path, schema, options, on_bad)


def _nonempty_lines(data: np.ndarray) -> np.ndarray:
    """1-based numbers of the non-empty lines of ``data`` (pyarrow numbers rows over
    these)."""
    newlines = np.flatnonzero(data == ord("\n"))
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(data)]])
    lengths = ends - starts
    carriage = (lengths == 1) & (data[np.minimum(starts, max(len(data) - 1, 0))] == ord("\r")) \
        if len(data) else lengths > 0
    return np.flatnonzero((lengths > 0) & ~carriage) + 1


def _report_bad_rows(path: str, schema: pa.Schema, options: CsvOptions, on_bad: OnBad) -> None:
    """Parse ``path`` a piece at a time, as one block on one thread, and report every bad
    row with its physical line number."""
    for piece in chunks(path, options.chunk_bytes, options.delimiter):
        lines = _nonempty_lines(np.frombuffer(piece.view, dtype=np.uint8)) + piece.first_line - 1
        _report_piece(piece, lines, path, schema, options, on_bad)


def _report_piece(piece: Piece, lines: np.ndarray, path: str, schema: pa.Schema,
                  options: CsvOptions, on_bad: OnBad) -> None:
    def at_line(record: int, reason: str) -> tuple[int, str]:
        return int(lines[record - 1]), reason

    skipped: list[int] = []
    handle = _field_count_handler(path, skipped, at_line, on_bad)
    table = parse_piece(piece, path, schema, options.delimiter, handle, typed=False,
                        fill_missing=options.fill_missing_columns)
    for _ in _cast_reporting(table.to_batches(), schema, skipped, at_line, path, options,
                             on_bad, header_records=1 if piece.names is None else 0):
        pass  # only the reports are wanted here; the rows were kept by the first parse


def _field_count_handler(path: str, skipped: list[int], locate, on_bad: OnBad):
    """pyarrow's ``invalid_row_handler``: skip the row, remember it, report it."""
    def handle(row) -> str:
        skipped.append(row.number)
        line, reason = locate(row.number, f"expected {row.expected_columns} fields, got "
                                          f"{row.actual_columns}")
        on_bad(BadRecord(path, line, reason, row.text))
        return "skip"
    return handle


def _cast_reporting(batches, schema: pa.Schema, skipped: list[int], locate, path: str,
                    options: CsvOptions, on_bad: OnBad, header_records: int = 1
                    ) -> Iterator[pa.RecordBatch]:
    """Cast string batches to ``schema``; report each value that does not convert at the
    record ``locate(record, reason) -> (line, reason)`` names; yield the good rows."""
    seen = 0
    for batch in batches:
        good, bad = cast_batch(batch, schema)
        skipped_sorted = sorted(skipped)
        for row in sorted(bad):
            line, reason = locate(_record_of(seen + row, skipped_sorted, header_records),
                                  bad[row])
            on_bad(BadRecord(path, line, reason, _row_text(batch, row, options.delimiter)))
        seen += batch.num_rows
        yield good


def _read_multiline(path: str, schema: pa.Schema, options: CsvOptions, on_bad: OnBad
                    ) -> Iterator[pa.RecordBatch]:
    """Read a file whose quoted values may hold newlines: one streaming pass on one
    thread, as strings, cast batch by batch; bad records carry their record number."""
    def at_record(record: int, reason: str) -> tuple[None, str]:
        return None, f"record {record}: {reason}"

    skipped: list[int] = []
    handle = _field_count_handler(path, skipped, at_record, on_bad)
    try:
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=options.chunk_bytes,
                                                 use_threads=False),
            parse_options=_csv_parse_options(options, handle),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in schema.names},
                include_columns=list(schema.names), strings_can_be_null=True,
                include_missing_columns=options.fill_missing_columns))
    except (pa.ArrowInvalid, pa.ArrowKeyError) as e:
        raise unreadable(path, e, options.chunk_bytes) from e
    except OSError as e:
        raise DataError(f"ExampleGen: cannot read {path}: {e}.", uri=path,
                        fix="check the file exists and is readable") from e
    try:
        for good in _cast_reporting(reader, schema, skipped, at_record, path, options, on_bad):
            if good.num_rows:
                yield good
    except pa.ArrowInvalid as e:  # a later block (e.g. a record longer than a block)
        raise unreadable(path, e, options.chunk_bytes) from e
