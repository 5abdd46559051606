"""Bad input: over a thousand generated hostile inputs, each must end clearly.

Hypothesis generates (deterministically) malformed CSV (wrong field counts, wrong types,
huge cells, NaN/Inf, odd unicode, BOMs, stray Latin-1 bytes, UTF-16, empty and truncated
files), JSON lines, damaged or mismatched Parquet files, broken schema files and broken
pipeline definitions. A case passes when it ends in

- a Gristmill error naming the file (or component) with a ``Fix:``, never a raw exception
  or a traceback; or
- success in which no row is lost uncounted: rows read + bad records reported equals the
  data lines of the input (ExampleGen in quarantine mode: ``row_counts`` plus
  ``num_quarantined``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .bad_input_cases import SCHEMA_TEXTS, csv_files, json_lines_files, pipeline_definitions
from .common import HarnessResult

DEFAULT_COUNTS = {"csv_reader": 400, "json_reader": 150, "parquet": 120, "schema": 150,
                  "definitions": 250, "csv_example_gen": 25, "csv_cli": 15}


def for_examples(strategy, count: int, check: Callable[..., None]) -> None:
    """Call ``check(example)`` on ``count`` deterministic examples of ``strategy``."""
    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def each(example):
        check(example)

    each()


def data_lines(data: bytes) -> int:
    """Non-empty physical lines after the header: what a reader must account for."""
    lines = [line for line in re.split(rb"\r\n|\n|\r", data) if line]
    return max(0, len(lines) - 1)


def clear_error(error: BaseException, *names: str) -> str | None:
    """None when ``error`` is a Gristmill error naming one of ``names`` with a fix."""
    from gristmill.metadata.errors import GristmillError

    text = str(error)
    if not isinstance(error, GristmillError):
        return f"raw {type(error).__name__}: {text[:300]}"
    if "Fix:" not in text or not any(n and n in text for n in names):
        return f"unclear {type(error).__name__} (no file name or no fix): {text[:300]}"
    return None


def check_csv_reader(data: bytes, path: Path) -> str | None:
    """Read one CSV with the ExampleGen reader; account for every line."""
    from gristmill.components.example_gen.csv_reader import CsvOptions, infer_csv_schema, read_csv

    path.write_bytes(data)
    bad: list[Any] = []
    try:
        schema = infer_csv_schema(str(path), CsvOptions())
        rows = sum(b.num_rows for b in read_csv(str(path), schema, CsvOptions(), bad.append))
    except Exception as e:
        return clear_error(e, path.name)
    return _account(rows, bad, data_lines(data), path)


def _account(rows: int, bad: list[Any], expected: int, path: Path) -> str | None:
    if rows + len(bad) != expected:
        return (f"{rows} rows read + {len(bad)} bad records reported != {expected} data "
                "lines: rows lost uncounted")
    unnamed = [b for b in bad if os.path.basename(b.file) != path.name or not b.reason]
    return f"bad records without file or reason: {unnamed[:2]}" if unnamed else None


def check_json_reader(data: bytes, path: Path) -> str | None:
    """Read one JSON-lines file with the ExampleGen reader; account for every line."""
    from gristmill.components.example_gen.file_io import infer_json_schema, read_json_lines

    path.write_bytes(data)
    bad: list[Any] = []
    try:
        schema = infer_json_schema(str(path))
        rows = sum(b.num_rows for b in read_json_lines(str(path), schema, bad.append))
    except Exception as e:
        return clear_error(e, path.name)
    return _account(rows, bad, data_lines(data) + 1, path)


@st.composite
def parquet_cases(draw) -> tuple[dict[str, Any], str, int]:
    """A small table, what to do to its file(s), and a byte position."""
    columns = draw(st.integers(1, 4))
    rows = draw(st.integers(0, 50))
    table = {f"c{i}": draw(st.sampled_from(["int", "float", "str"])) for i in range(columns)}
    damage = draw(st.sampled_from(["none", "truncate", "flip", "garbage", "empty",
                                   "other columns", "other types", "csv renamed"]))
    return {"columns": table, "rows": rows}, damage, draw(st.integers(0, 10**6))


def check_parquet(case: tuple[dict[str, Any], str, int], folder: Path) -> str | None:
    """Write Parquet file(s), damage them, read them with the ExampleGen reader."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gristmill.components.example_gen.file_io import read_parquet

    spec, damage, position = case
    makers = {"int": lambda i: i, "float": lambda i: i / 3, "str": lambda i: f"s{i}"}
    table = pa.table({name: [makers[kind](i) for i in range(spec["rows"])]
                      for name, kind in spec["columns"].items()})
    first, second = folder / "part-0.parquet", folder / "part-1.parquet"
    pq.write_table(table, first)
    pq.write_table(table, second)
    _damage(damage, table, first, second, position)
    try:
        from gristmill.components.example_gen.executor import ParquetExampleGenExecutor

        schema = ParquetExampleGenExecutor.infer_schema(None, str(first), None)
        rows = sum(b.num_rows for path in (first, second)
                   for b in read_parquet(str(path), schema, 16))
    except Exception as e:
        return clear_error(e, first.name, second.name)
    expected = 2 * spec["rows"]
    return None if rows == expected else f"read {rows} rows of {expected} ({damage})"


def _damage(damage: str, table, first: Path, second: Path, position: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = first.read_bytes()
    if damage == "truncate":
        first.write_bytes(data[: position % max(1, len(data))])
    elif damage == "flip":
        spot = position % len(data)
        first.write_bytes(data[:spot] + bytes([data[spot] ^ 0xFF]) + data[spot + 1:])
    elif damage == "garbage":
        first.write_bytes(os.urandom(64))
    elif damage == "empty":
        first.write_bytes(b"")
    elif damage == "other columns":
        pq.write_table(table.rename_columns([f"x{n}" for n in table.column_names]), second)
    elif damage == "other types":
        pq.write_table(pa.table({n: [f"v{i}" for i in range(table.num_rows)]
                                 for n in table.column_names}), second)
    elif damage == "csv renamed":
        second.write_text("a,b\n1,2\n")


def check_schema(text: str, path: Path) -> str | None:
    """Parse one schema file; it is valid or a DataError naming the file."""
    from gristmill.components.framework.data_schema import load_schema

    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_schema(str(path))
    except Exception as e:
        return clear_error(e, path.name)
    return None


def check_definition(case: tuple[str, list[str], str], folder: Path) -> str | None:
    """Run ``gristmill run`` on a broken pipeline file, in this process."""
    from .security import cli_in_process

    text, args, _ = case
    path = folder / "pipeline.py"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    rc, output = cli_in_process(["run", str(path), f"--param=root={folder / 'root'}",
                                 f"--param=metadata_url={folder / 'metadata.db'}", *args],
                                folder)
    if rc == 3 or "Traceback" in output or rc not in (0, 1, 2):
        return f"rc {rc}, raw failure: {output[-400:]}"
    if rc in (1, 2) and ("Fix:" not in output or "error" not in output.lower()):
        return f"rc {rc} without an error naming the fix: {output[-400:]}"
    named = (path.name, "Make", "Step", "Train", "Pipeline", "--param", "'a'", "'b'")
    if rc == 2 and not any(name in output for name in named):
        return f"error names neither the file nor a component: {output[-300:]}"
    return None


def check_csv_example_gen(data: bytes, folder: Path) -> str | None:
    """CsvExampleGen (Beam) in quarantine mode: row_counts + num_quarantined = data lines."""
    from gristmill.components.example_gen.component import CsvExampleGen
    from gristmill.components.example_gen.executor import CsvExampleGenExecutor
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.metadata.standard_artifacts import Examples

    (folder / "in").mkdir()
    (folder / "in" / "data.csv").write_bytes(data)
    out = Examples(str(folder / "out"))
    os.makedirs(out.uri)
    params = CsvExampleGen.PARAMETERS(input_base=str(folder / "in"),
                                      on_bad_records="quarantine")
    context = ExecutionContext(component_id="CsvExampleGen", tmp_dir=str(folder / "tmp"))
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            CsvExampleGenExecutor(context).Do({}, {"examples": [out]}, params)
    except Exception as e:
        return clear_error(e, "data.csv")
    rows = sum((out.get_property("row_counts") or {}).values())
    quarantined = out.get_custom_property("num_quarantined") or 0
    expected = data_lines(data)
    if rows + quarantined != expected:
        return f"{rows} rows + {quarantined} quarantined != {expected} data lines"
    return None


_CSV_PIPELINE = """
from gristmill.components import CsvExampleGen
from gristmill.orchestrator import Pipeline


def create_pipeline(root=None, metadata_url=None):
    gen = CsvExampleGen(input_base={input_base!r}, on_bad_records={mode!r})
    return Pipeline("badcsv", [gen], root=root, metadata_url=metadata_url, tracking_uri="")
"""


def check_csv_cli(case: tuple[bytes, str], folder: Path) -> str | None:
    """``gristmill run`` on a CsvExampleGen pipeline over one generated CSV, in-process."""
    from gristmill.metadata.store import open_store

    from .security import cli_in_process

    data = case[0]
    mode = "quarantine" if len(data) % 2 else "fail"
    (folder / "in").mkdir()
    (folder / "in" / "data.csv").write_bytes(data)
    path = folder / "pipeline.py"
    path.write_text(_CSV_PIPELINE.format(input_base=str(folder / "in"), mode=mode))
    url = f"sqlite:///{folder / 'metadata.db'}"
    rc, output = cli_in_process(["run", str(path), "--json", f"--param=root={folder / 'root'}",
                                 f"--param=metadata_url={url}"], folder)
    if rc not in (0, 1) or "Traceback" in output:
        return f"{mode}: rc {rc}, raw failure: {output[-400:]}"
    if rc == 1:
        return None if "Fix:" in output and "data.csv" in output else \
            f"{mode}: failure without the file name and fix: {output[-400:]}"
    with open_store(url) as store:
        examples = store.list_artifacts(type_name="Examples")[0]
    rows = sum((examples.get_property("row_counts") or {}).values())
    counted = rows + (examples.get_custom_property("num_quarantined") or 0)
    return None if counted == data_lines(data) else \
        f"{mode}: {counted} rows counted of {data_lines(data)} data lines"


SECTIONS: dict[str, tuple[Any, Callable[[Any, Path], str | None], str]] = {
    "csv_reader": (csv_files(), lambda c, d: check_csv_reader(c[0], d / "data.csv"), "csv"),
    "json_reader": (json_lines_files(), lambda c, d: check_json_reader(c[0], d / "d.jsonl"),
                    "json"),
    "parquet": (parquet_cases(), check_parquet, "parquet"),
    "schema": (SCHEMA_TEXTS, lambda c, d: check_schema(c, d / "schema.yaml"), "schema"),
    "definitions": (pipeline_definitions(), check_definition, "definition"),
    "csv_example_gen": (csv_files(), lambda c, d: check_csv_example_gen(c[0], d), "csv+beam"),
    "csv_cli": (csv_files(), check_csv_cli, "csv+cli"),
}


def run(counts: dict[str, int] | None = None, work: Path | None = None) -> dict:
    """Every section with its number of generated cases."""
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    result = HarnessResult("bad_input")
    with tempfile.TemporaryDirectory(prefix="gm-bad-input-") as tmp:
        base = work or Path(tmp)
        for section, (strategy, check, label) in SECTIONS.items():
            if counts.get(section, 0) <= 0:
                continue
            done = result.trials
            _run_section(section, strategy, check, label, counts[section], base, result)
            result.figures[section] = result.trials - done
    return result.to_dict()


def _run_section(section, strategy, check, label, count, base, result) -> None:
    index = [0]

    def one(case) -> None:
        index[0] += 1
        folder = base / section / str(index[0])
        folder.mkdir(parents=True)
        try:
            problem = check(case, folder)
        except Exception as e:  # the check itself must not stop the section
            problem = f"harness error {type(e).__name__}: {e}"
        describe = case[-1] if isinstance(case, tuple) and isinstance(case[-1], str) else ""
        result.check(problem is None, f"{label} case {index[0]} [{describe[:160]}]: {problem}",
                     kind=f"{label}: {str(problem)[:90]}")

    for_examples(strategy, count, one)
