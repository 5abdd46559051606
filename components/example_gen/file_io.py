"""Read JSON-lines and Parquet files as Arrow record batches, catching bad records.

Every reader yields ``RecordBatch`` objects of one fixed schema and reports bad records
(file, line, reason, text) to a callback instead of dropping them (CSV lives in
:mod:`~gristmill.components.example_gen.csv_reader`). Work is vectorised:

* JSON lines stream through ``pyarrow.json.open_json``; when a file fails, its remaining
  lines are bisected with pyarrow the same way.
* Parquet is read row group by row group and cast to the schema.

Line numbers are physical lines, 1-based; empty lines are skipped (and counted).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
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


def read_parquet(path: str, schema: pa.Schema, batch_size: int, union: bool = False
                 ) -> Iterator[pa.RecordBatch]:
    """Yield the batches of a Parquet file cast to ``schema`` (with ``union``, columns the
    file lacks are null)."""
    from gristmill.components.example_gen.file_schemas import fill_missing

    try:
        parquet = pq.ParquetFile(path)
        if union:
            for batch in parquet.iter_batches(batch_size=batch_size):
                yield fill_missing(batch, schema)
            return
        if parquet.schema_arrow.names != schema.names:
            raise DataError(f"ExampleGen: {path} has columns {parquet.schema_arrow.names}; "
                            f"expected {schema.names} (from the first input file).", uri=path,
                            fix="give every input file the same columns")
        for batch in parquet.iter_batches(batch_size=batch_size):
            yield batch.cast(schema) if batch.schema != schema else batch
    except (pa.ArrowInvalid, OSError) as e:
        fixed = [f.name for f in schema if pa.types.is_fixed_size_list(f.type)]
        if fixed and "Expected all lists to be of size" in str(e):
            raise fixed_size_list_error(fixed, path) from e
        raise DataError(f"ExampleGen: cannot read {path}: {e}.", uri=path,
                        fix="check the file is a complete Parquet file with the same column "
                            "types as the first input file") from e


def fixed_size_list_error(columns: list[str], where: str) -> DataError:
    """Null entries in fixed-size list columns: pyarrow cannot read them back from Parquet
    (it expects every entry, nulls included, to hold the fixed number of values)."""
    return DataError(f"ExampleGen: fixed-size list column(s) {columns} of {where} hold null "
                     f"entries, which pyarrow cannot read back from Parquet.", uri=where,
                     fix="store the column as a variable-length list (pa.list_(type)) or "
                         "replace the null entries before ingesting")


def bad_records_batch(records: list[BadRecord]) -> pa.RecordBatch:
    """Bad records as one batch with :data:`BAD_RECORD_SCHEMA`."""
    return pa.RecordBatch.from_pylist([r.__dict__ for r in records], schema=BAD_RECORD_SCHEMA)
