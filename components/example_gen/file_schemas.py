"""One rule for input files whose columns differ: refuse, or take a counted union.

Every file of one ExampleGen run must have the first file's columns
(``on_schema_mismatch="fail"``, the default): the error names both files and the columns
one has and the other lacks. With ``on_schema_mismatch="union"`` the output has every
column of every file (in order of first appearance); a file's missing columns are null in
its rows, and which files lacked which columns is recorded (custom property
``schema_union``) and logged.
"""

from __future__ import annotations

import logging
import os

import pyarrow as pa

from gristmill.metadata.errors import DataError

log = logging.getLogger(__name__)


def _difference(first: list[str], other: list[str]) -> str:
    extra = [c for c in other if c not in first]
    missing = [c for c in first if c not in other]
    parts = ([f"extra columns {extra}"] if extra else []) + \
        ([f"missing columns {missing}"] if missing else [])
    return " and ".join(parts) or f"the same columns in another order ({other})"


def check_same_columns(columns: dict[str, list[str]], ordered: bool = False,
                       extra_only: bool = False) -> None:
    """Refuse input files whose column names differ from the first file's.

    Args:
        columns: Path -> its column names, the first file first.
        ordered: Whether order matters too (it does for Parquet, whose columns are
            matched by position).
        extra_only: Only columns the first file lacks count (JSON lines: a key absent
            from every record of a file's first block is still null, not a difference).

    Raises:
        DataError: Naming the first differing file, the first file and the columns.
    """
    (first_path, first), *others = columns.items()
    for path, names in others:
        if extra_only:
            names = [n for n in names if n not in first]
            same = not names
            names = first + names
        else:
            same = names == first if ordered else set(names) == set(first)
        if not same:
            raise DataError(
                f"ExampleGen: input file {path} has {_difference(first, names)} compared "
                f"with the first input file {first_path} (columns {first}).", uri=path,
                fix="give every input file the same columns, or pass "
                    "on_schema_mismatch='union' to take every column of every file (a file's "
                    "missing columns are then null, and counted)")


def union_schema(schemas: dict[str, pa.Schema]) -> tuple[pa.Schema, dict[str, list[str]]]:
    """Every column of every file, and per file the columns it lacks.

    Types of a column that differ between files are promoted (int64 and float64 give
    float64); types that cannot be promoted are refused.

    Raises:
        DataError: A column's types cannot be unified.
    """
    try:
        schema = pa.unify_schemas(list(schemas.values()), promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as e:
        raise DataError(f"ExampleGen: the input files' columns cannot be unified: {e}.",
                        uri=next(iter(schemas)),
                        fix="give the column one type in every file (column_types for CSV)"
                        ) from e
    lacking = {path: [n for n in schema.names if n not in s.names]
               for path, s in schemas.items()}
    lacking = {path: names for path, names in lacking.items() if names}
    for path, names in lacking.items():
        log.warning("ExampleGen: %s lacks columns %s; they are null in its rows "
                    "(on_schema_mismatch='union').", path, names)
    return schema, lacking


def fill_missing(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns in order: absent ones all null, types cast."""
    if batch.schema == schema:
        return batch
    arrays = [batch.column(f.name).cast(f.type) if f.name in batch.schema.names
              else pa.nulls(batch.num_rows, f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def union_record(lacking: dict[str, list[str]], base: str) -> dict[str, list[str]]:
    """The ``schema_union`` custom property: relative path -> columns it lacked."""
    return {os.path.relpath(path, base): names for path, names in lacking.items()}

