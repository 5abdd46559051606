"""ExampleGen family: ingest CSV, JSON lines, Parquet or an in-memory table as Examples.

Output: an ``Examples`` artifact with ``Split-<name>/part-*.parquet`` (Arrow types kept),
properties ``split_names``, ``row_counts`` (asserted against the files written), ``span``,
``version`` and ``input_fingerprint``. Bad records fail the run with file, line and reason
(``on_bad_records="fail"``, the default) or go to ``<uri>/quarantine/bad_records.parquet``
with their count in the custom property ``num_quarantined`` (``"quarantine"``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.components.beam.hashing import hash_rows
from gristmill.components.beam.parquet_sink import unstorable_columns
from gristmill.components.example_gen.config import DEFAULT_SPLIT_CONFIG, Output
from gristmill.components.example_gen.csv_chunks import csv_header
from gristmill.components.example_gen.csv_reader import CsvOptions, infer_csv_schema, read_csv
from gristmill.components.example_gen.file_io import (
    fixed_size_list_error,
    infer_json_schema,
    read_json_lines,
    read_parquet,
)
from gristmill.components.example_gen.file_schemas import (
    check_same_columns,
    union_record,
    union_schema,
)
from gristmill.components.example_gen.inputs import ResolvedInput, resolve_input
from gristmill.components.framework.executor import BaseExecutor
from gristmill.metadata.errors import ConfigError, DataError, ExecutorError
from gristmill.metadata.standard_artifacts import Examples

if TYPE_CHECKING:  # the Beam module is imported by the executors only (pipeline files stay light)
    from gristmill.components.example_gen.beam_pipeline import PipelineResult, Routing
from gristmill.components.example_gen.config import (
    CsvExampleGenParameters,
    ImportExampleGenParameters,
)

QUARANTINE_FILE = os.path.join("quarantine", "bad_records.parquet")
log = logging.getLogger(__name__)


def table_fingerprint(table: pa.Table) -> str:
    """SHA-256 over the schema and every row's stable hash."""
    digest = hashlib.sha256(str(table.schema).encode())
    for batch in table.to_batches():
        digest.update(hash_rows(batch).tobytes())
    return digest.hexdigest()


def make_routing(input_splits: list[str], output: Output, schema: pa.Schema) -> Routing:
    """Output splits: mirror several input splits, or hash one into ``split_config``.

    Raises:
        ConfigError: Both several input splits and a split_config, or an unknown
            partition feature.
    """
    from gristmill.components.example_gen.beam_pipeline import Routing

    if len(input_splits) > 1:
        if output.split_config is not None:
            raise ConfigError(f"ExampleGen: input_config has splits {input_splits} and "
                              f"output_config has a split_config; use one or the other.",
                              fix="drop output_config.split_config to keep the input splits")
        return Routing(splits=tuple(input_splits))
    config = output.split_config or DEFAULT_SPLIT_CONFIG
    feature = output.partition_feature
    if feature is not None and feature not in schema.names:
        raise ConfigError(f"ExampleGen: partition_feature_name {feature!r} is not a column; "
                          f"columns: {schema.names}.", fix="name one of the columns above")
    return Routing(splits=tuple(s.name for s in config.splits),
                   hash_buckets=tuple(s.hash_buckets for s in config.splits),
                   partition_feature=feature)


class BaseExampleGenExecutor(BaseExecutor):
    """Runs the shared pipeline and records, checks and reports what it wrote."""

    def _generate(self, output: Examples, source, schema: pa.Schema, routing: Routing,
                  on_bad_records: str) -> PipelineResult:
        from gristmill.components.example_gen.beam_pipeline import (
            finalize_split,
            run_example_pipeline,
        )

        _refuse_unstorable(schema)
        quarantine = on_bad_records == "quarantine"
        bad_path = os.path.join(output.uri if quarantine else self._scratch(), QUARANTINE_FILE)
        result = run_example_pipeline(source, schema, routing, output.split_uri, bad_path,
                                      self.context.beam_pipeline_args)
        if result.bad_records and not quarantine:
            raise _bad_records_error(bad_path, result.bad_records)
        written = {s: finalize_split(output.split_uri(s), schema) for s in routing.splits}
        if written != result.rows_per_split or sum(written.values()) != result.rows_read:
            raise ExecutorError(f"ExampleGen: wrote {written} rows per split but read "
                                f"{result.rows_read} and assigned {result.rows_per_split}.",
                                component_id=self.context.component_id, uri=output.uri,
                                fix="this is a bug in the runner or ExampleGen; rerun and report")
        output.splits = list(routing.splits)
        output.set_property("row_counts", written)
        _warn_on_lopsided_splits(output, written, routing)
        if quarantine:
            output.set_custom_property("num_quarantined", result.bad_records)
            if result.bad_records:
                output.set_custom_property("quarantine_uri", bad_path)
        self.context.log_metrics({f"{s}_rows": float(n) for s, n in written.items()}
                                 | {"bad_records": float(result.bad_records)})
        return result

    def _scratch(self) -> str:
        return self.context.tmp_dir or os.path.join(os.getcwd(), ".gristmill-tmp")


def _warn_on_lopsided_splits(output: Examples, written: dict[str, int], routing: Routing) -> None:
    """Log and record (``split_warnings``) splits hashing left empty or far from their share."""
    from gristmill.components.example_gen.split_check import split_warnings

    messages = split_warnings(written, routing.hash_buckets, routing.partition_feature)
    for message in messages:
        log.warning(message)
    if messages:
        output.set_custom_property("split_warnings", messages)


def _refuse_unstorable(schema: pa.Schema) -> None:
    """Refuse, before any row is read, columns the Examples' Parquet files cannot hold."""
    found = unstorable_columns(schema)
    if found:
        listed = "; ".join(f"column {name!r} ({reason})" for name, reason in found.items())
        raise DataError(f"ExampleGen: Parquet cannot store {listed}.",
                        fix="cast those columns before ingesting, e.g. an interval to a "
                            "struct of its fields or to int64 nanoseconds, a union to one type")


def _bad_records_error(path: str, count: int) -> DataError:
    rows = pq.read_table(path).slice(0, 5).to_pylist()
    shown = "; ".join(f"{os.path.basename(r['file'])}"
                      f"{'' if r['line'] is None else ' line ' + str(r['line'])}: "
                      f"{r['reason']} [{r['text'][:80]}]" for r in rows)
    return DataError(f"ExampleGen: {count} bad record(s), first: {shown}. First file: "
                     f"{rows[0]['file']}.", uri=rows[0]["file"],
                     fix="fix or remove those rows, or pass on_bad_records='quarantine' to set "
                         "them aside in <examples>/quarantine/ and count them")


class FileExampleGenExecutor(BaseExampleGenExecutor):
    """Resolves spans/versions, infers the schema from the first file, runs the pipeline."""

    #: Lower-case endings of this format's data files; a wildcard match with another
    #: ending (a README) is skipped and reported.
    EXTENSIONS: tuple[str, ...] = ()
    #: Whether files must also agree on column order (Parquet).
    ORDERED_COLUMNS = False
    #: Whether only columns the first file lacks are a difference (JSON lines).
    EXTRA_COLUMNS_ONLY = False

    def infer_schema(self, path: str, params) -> pa.Schema:
        """The Arrow schema of every output row, from the first input file."""
        raise NotImplementedError

    def columns(self, path: str, params) -> list[str] | None:
        """A file's column names, cheaply (``None``: not checked per file)."""
        return None

    def reader(self, schema: pa.Schema, params, union: bool = False):
        """``read(path, on_bad) -> iterator of batches`` for this format; with ``union``,
        a file's missing columns are read as nulls."""
        raise NotImplementedError

    def _input_schema(self, output: Examples, resolved: ResolvedInput, params
                      ) -> pa.Schema:
        """The first file's schema after every file's columns are checked against it, or
        the counted union of every file's schema (``on_schema_mismatch="union"``)."""
        files = [p for paths in resolved.files.values() for p in paths]
        if params.on_schema_mismatch == "union":
            schema, lacking = union_schema({p: self.infer_schema(p, params) for p in files})
            output.set_custom_property("schema_union", union_record(lacking, params.input_base))
            return schema
        schema = self.infer_schema(files[0], params)
        columns = {p: self.columns(p, params) for p in files[1:]}
        if all(names is not None for names in columns.values()):
            check_same_columns({files[0]: schema.names} | columns, self.ORDERED_COLUMNS,
                               self.EXTRA_COLUMNS_ONLY)
        return schema

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        from gristmill.components.example_gen.beam_pipeline import read_source

        output = output_dict["examples"][0]
        resolved = resolve_input(exec_properties.input_base, exec_properties.input_config,
                                 exec_properties.range_config, self.EXTENSIONS or None)
        _report_skipped(output, resolved.skipped)
        schema = self._input_schema(output, resolved, exec_properties)
        routing = make_routing(list(resolved.files), exec_properties.output_config, schema)
        union = exec_properties.on_schema_mismatch == "union"
        source = read_source(resolved.files, self.reader(schema, exec_properties, union))
        self._generate(output, source, schema, routing, exec_properties.on_bad_records)
        _record_input(output, resolved)


def _report_skipped(output: Examples, skipped: list[str]) -> None:
    """Log and count the files a wildcard matched that are not data files."""
    output.set_custom_property("num_skipped_files", len(skipped))
    if skipped:
        log.warning("ExampleGen: skipped %d matched file(s) that are not data files by their "
                    "extension: %s%s", len(skipped), [os.path.basename(p) for p in skipped[:10]],
                    " ..." if len(skipped) > 10 else "")


def _record_input(output: Examples, resolved: ResolvedInput) -> None:
    output.set_property("span", resolved.span)
    output.set_property("version", resolved.version)
    output.set_property("input_fingerprint", resolved.fingerprint)
    if len(resolved.spans) > 1:
        output.set_custom_property("spans", resolved.spans)


class CsvExampleGenExecutor(FileExampleGenExecutor):
    """CSV with a header line; see :mod:`gristmill.components.example_gen.csv_reader`."""

    EXTENSIONS = tuple(e + c for e in (".csv", ".tsv", ".tab", ".txt", ".dat")
                       for c in ("", ".gz", ".bz2", ".xz"))

    @staticmethod
    def _options(params: CsvExampleGenParameters, union: bool = False) -> CsvOptions:
        return CsvOptions(delimiter=params.delimiter,
                          column_types=tuple(sorted(params.column_types.items())),
                          newlines_in_values=params.newlines_in_values,
                          chunk_bytes=params.block_size,
                          infer_bytes=max(8 << 20, params.block_size),
                          fill_missing_columns=union)

    def infer_schema(self, path, params):
        options = self._options(params)
        if params.on_schema_mismatch == "union":  # overrides apply where the column is
            names = set(csv_header(path, params.delimiter))
            options = dataclasses.replace(options, column_types=tuple(
                (k, v) for k, v in options.column_types if k in names))
        return infer_csv_schema(path, options)

    def columns(self, path, params):
        return csv_header(path, params.delimiter)

    def reader(self, schema, params, union=False):
        return functools.partial(_read_csv, schema=schema, options=self._options(params, union))


def _read_csv(path, on_bad, schema, options):
    return read_csv(path, schema, options, on_bad)


def _read_json(path, on_bad, schema):
    return read_json_lines(path, schema, on_bad)


def _read_parquet(path, on_bad, schema, batch_size, union):
    return read_parquet(path, schema, batch_size, union)


class JsonExampleGenExecutor(FileExampleGenExecutor):
    """JSON lines: one object per line, types inferred from the first block.

    A later file with a key the first file lacks is refused naming both files and the key
    (a key absent from some records is null, not a difference).
    """

    EXTENSIONS = tuple(e + c for e in (".json", ".jsonl", ".ndjson")
                       for c in ("", ".gz", ".bz2"))
    EXTRA_COLUMNS_ONLY = True

    def columns(self, path, params):
        return infer_json_schema(path).names

    def infer_schema(self, path, params):
        return infer_json_schema(path)

    def reader(self, schema, params, union=False):
        return functools.partial(_read_json, schema=schema)


class ParquetExampleGenExecutor(FileExampleGenExecutor):
    """Parquet files; every file must have the first file's columns."""

    EXTENSIONS = (".parquet", ".pq", ".parq")
    ORDERED_COLUMNS = True

    def columns(self, path, params):
        return self.infer_schema(path, params).names

    def infer_schema(self, path, params):
        try:
            return pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as e:
            raise DataError(f"ExampleGen: {path} is not a readable Parquet file: {e}.", uri=path,
                            fix="check the file is complete Parquet") from e

    def reader(self, schema, params, union=False):
        return functools.partial(_read_parquet, schema=schema, batch_size=params.batch_size,
                                 union=union)


class ImportExampleGenExecutor(BaseExampleGenExecutor):
    """Splits an in-memory Arrow table (or pandas DataFrame) like the file-based ones."""

    def Do(self, input_dict, output_dict, exec_properties: ImportExampleGenParameters) -> None:
        from gristmill.components.example_gen.beam_pipeline import table_source

        output = output_dict["examples"][0]
        table = exec_properties.table
        nulls = [f.name for f in table.schema if pa.types.is_fixed_size_list(f.type)
                 and table.column(f.name).null_count]
        if nulls:
            raise fixed_size_list_error(nulls, "the imported table")
        routing = make_routing(["single_split"], exec_properties.output_config, table.schema)
        source = table_source(table.to_batches(max_chunksize=exec_properties.batch_size))
        self._generate(output, source, table.schema, routing, "fail")
        output.set_property("span", 0)
        output.set_property("input_fingerprint", table_fingerprint(table))
