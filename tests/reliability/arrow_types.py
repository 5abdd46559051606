"""Every Arrow type through every data component: ExampleGen -> StatisticsGen ->
SchemaGen -> ExampleValidator.

Hypothesis draws (derandomized) tables mixing columns of every Arrow type family with
random row counts and nulls, written as Parquet; fixed CSV files add what CSV type
inference produces (dates, times of day, timestamps). One trial per column per table
passes when the chain completes and that column's statistics count its present and
missing values exactly (or the chain refuses it with a Gristmill error naming the column
and a ``Fix:``); one more per table checks that no row was lost between the input and
the split files.
"""

from __future__ import annotations

import datetime
import decimal
import os
import tempfile
from collections.abc import Callable

import pyarrow as pa
from hypothesis import strategies as st

from .bad_input import for_examples
from .common import HarnessResult

_DAY = datetime.date(2021, 3, 1)


def _ints(bits: int, signed: bool) -> Callable[[int], pa.Array]:
    kind = pa.int64() if (bits, signed) == (64, True) else getattr(
        pa, f"{'int' if signed else 'uint'}{bits}")()
    top = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    return lambda n: pa.array([(i * 7919) % (top + 1) if i % 3 else top - i for i in range(n)],
                              kind)


def _timestamps(unit: str) -> Callable[[int], pa.Array]:
    kind = pa.timestamp(unit, tz="UTC" if unit == "ns" else None)
    return lambda n: pa.array([i * 10**6 for i in range(n)], kind)


#: name -> builder of ``n`` values (no nulls; the harness adds them).
TYPES: dict[str, Callable[[int], pa.Array]] = {
    **{f"int{b}": _ints(b, True) for b in (8, 16, 32, 64)},
    **{f"uint{b}": _ints(b, False) for b in (8, 16, 32, 64)},
    "float16": lambda n: pa.array([float(i % 50) for i in range(n)], pa.float16()),
    "float32": lambda n: pa.array([i / 3 for i in range(n)], pa.float32()),
    "float64_extreme": lambda n: pa.array([(1e308, -1e308, 5e-324, float("nan"),
                                            float("inf"))[i % 5] for i in range(n)]),
    "bool": lambda n: pa.array([i % 3 == 0 for i in range(n)]),
    "decimal128": lambda n: pa.array([decimal.Decimal(i) / 8 for i in range(n)],
                                     pa.decimal128(12, 3)),
    "decimal256": lambda n: pa.array([decimal.Decimal(i) for i in range(n)],
                                     pa.decimal256(40, 0)),
    "date32": lambda n: pa.array([_DAY + datetime.timedelta(days=i) for i in range(n)],
                                 pa.date32()),
    "date64": lambda n: pa.array([_DAY + datetime.timedelta(days=i) for i in range(n)],
                                 pa.date64()),
    "time32": lambda n: pa.array([datetime.time(i % 24, i % 60) for i in range(n)],
                                 pa.time32("s")),
    "time64": lambda n: pa.array([datetime.time(i % 24, 0, 0, i) for i in range(n)],
                                 pa.time64("ns")),
    **{f"timestamp_{unit}": _timestamps(unit) for unit in ("s", "ms", "us", "ns")},
    "duration": lambda n: pa.array(list(range(n)), pa.duration("ms")),
    "interval": lambda n: pa.array([pa.MonthDayNano([i, 1, 0]) for i in range(n)],
                                   pa.month_day_nano_interval()),
    "string": lambda n: pa.array([f"v{i % 4}" for i in range(n)]),
    "large_string": lambda n: pa.array([f"w{i % 3}" for i in range(n)], pa.large_string()),
    "binary": lambda n: pa.array([bytes([i % 256, 0]) for i in range(n)], pa.binary()),
    "fixed_binary": lambda n: pa.array([bytes([i % 256] * 3) for i in range(n)],
                                       pa.binary(3)),
    "dictionary": lambda n: pa.array([f"d{i % 5}" for i in range(n)]).dictionary_encode(),
    "list": lambda n: pa.array([list(range(i % 4)) for i in range(n)], pa.list_(pa.int64())),
    "large_list": lambda n: pa.array([[f"s{i}"] * (i % 2) for i in range(n)],
                                     pa.large_list(pa.string())),
    "fixed_size_list": lambda n: pa.array([[i, -i] for i in range(n)],
                                          pa.list_(pa.float64(), 2)),
    "map": lambda n: pa.array([[("k", i)] for i in range(n)],
                              pa.map_(pa.string(), pa.int64())),
    "struct": lambda n: pa.array([{"a": i, "b": str(i)} for i in range(n)],
                                 pa.struct([("a", pa.int64()), ("b", pa.string())])),
    "null": lambda n: pa.nulls(n),
}


def _with_nulls(array: pa.Array, every: int) -> pa.Array:
    if not every or pa.types.is_null(array.type):
        return array
    mask = pa.array([i % every == 0 for i in range(len(array))])
    return pa.compute.if_else(mask, pa.scalar(None, array.type), array) \
        if not pa.types.is_dictionary(array.type) else array


@st.composite
def tables(draw) -> pa.Table:
    """A table of 1..10 typed columns, 0..80 rows, nulls every k-th row (or none)."""
    names = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=10,
                          unique=True))
    rows = draw(st.sampled_from([0, 1, 2, 7, 30, 80]))
    every = draw(st.sampled_from([0, 2, 5]))
    return pa.table({"id": pa.array(range(rows), pa.int64()),
                     **{name: _with_nulls(TYPES[name](rows), every) for name in names}})


def check_table(table: pa.Table, tmp: str, result: HarnessResult, label: str) -> None:
    """Run the chain on ``table``; one trial per column, one for the row count."""
    import pyarrow.parquet as pq

    from .data_chain import run_chain

    try:
        chain = run_chain(table, tmp)
    except Exception as e:  # noqa: BLE001 - every exception is a finding here
        _refused(e, table, result, label)
        return
    rows = sum(pq.read_table(chain.examples.split_uri(s)).num_rows
               for s in chain.examples.splits)
    result.check(rows == table.num_rows, f"{label}: {rows} rows written of {table.num_rows}",
                 "rows lost")
    from gristmill.components.framework.statistics_model import load_statistics

    stats = [load_statistics(chain.statistics.split_uri(s)) for s in chain.statistics.splits]
    for name in table.column_names:
        column = table.column(name)
        present = sum(s.feature(name).num_present for s in stats if s.feature(name))
        missing = sum(s.feature(name).num_missing for s in stats if s.feature(name))
        truth = len(column) - column.null_count
        result.check(present == truth and present + missing == len(column),
                     f"{label}: column {name} ({column.type}): present {present}, missing "
                     f"{missing}; truth {truth} of {len(column)}", "wrong statistics")


def _refused(error: Exception, table: pa.Table, result: HarnessResult, label: str) -> None:
    from gristmill.metadata.errors import GristmillError

    text = str(error)
    clear = isinstance(error, GristmillError) and "Fix:" in text and any(
        f"'{n}'" in text or f" {n} " in text for n in table.column_names)
    result.check(clear, f"{label}: {type(error).__name__}: {text[:300]}", "crash")


CSV_TEXT = ("id,day,clock,stamp,amount,word\n"
            + "".join(f"{i},2021-03-{1 + i % 28:02d},{i % 24:02d}:{i % 60:02d}:00,"
                      f"2021-03-01T{i % 24:02d}:00:00,{i / 4},w{i % 3}\n" for i in range(40)))


def check_csv(tmp: str, result: HarnessResult) -> None:
    """CSV dates, times of day and timestamps through CsvExampleGen and the rest."""
    import pyarrow.csv as pacsv

    folder = os.path.join(tmp, "csv")
    os.makedirs(folder)
    with open(os.path.join(folder, "data.csv"), "w") as f:
        f.write(CSV_TEXT)
    table = pacsv.read_csv(os.path.join(folder, "data.csv"))
    from .data_chain import run_chain

    try:
        chain = run_chain(folder, os.path.join(tmp, "run"))
        result.check(chain.examples is not None, "csv: no examples")
    except Exception as e:  # noqa: BLE001
        _refused(e, table, result, "csv dates/times")


def run(tables_count: int = 12) -> dict:
    """The harness: ``tables_count`` generated tables plus the CSV case."""
    result = HarnessResult("arrow_types")
    with tempfile.TemporaryDirectory() as tmp:
        check_csv(tmp, result)
        index = [0]

        def one(table: pa.Table) -> None:
            index[0] += 1
            folder = os.path.join(tmp, f"t{index[0]}")
            os.makedirs(folder)
            check_table(table, folder, result, f"table {index[0]} {table.schema.types}")

        for_examples(tables(), tables_count, one)
    result.figures["types"] = len(TYPES)
    return result.to_dict()
