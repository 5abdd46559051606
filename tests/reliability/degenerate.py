"""Degenerate data: every case is flagged before training, or refused with a fix.

Hypothesis draws (derandomized) small tables whose columns are constant, all missing, all
NaN or ordinary, with 0, 1, 2, a few or 500 identical rows; fixed cases add a
single-class label, a ';'-separated file read with ',' and a header-only file. After
ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator, the truth is computed per
output split from the split's own Parquet files, and one trial per split passes when the
anomalies name exactly the degenerate things in it: an empty split (DATASET_EMPTY_SPLIT,
and the run halted), a one-row split (DATASET_ONE_ROW), a column with no values
(FEATURE_ALL_MISSING), no finite values (FEATURE_NO_FINITE_VALUES) or one value
(FEATURE_CONSTANT).
"""

from __future__ import annotations

import math
import os
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from .bad_input import for_examples
from .common import HarnessResult

KINDS = ("ordinary", "constant", "missing", "nan", "ordinary_string")


def column(kind: str, rows: int, seed: int) -> pa.Array:
    """``rows`` values of one degenerate ``kind``."""
    if kind == "constant":
        return pa.array([7.5] * rows)
    if kind == "missing":
        return pa.array([None] * rows, pa.string())
    if kind == "nan":
        return pa.array([math.nan] * rows)
    if kind == "ordinary_string":
        return pa.array([f"s{(i * 7 + seed) % 3}" for i in range(rows)])
    return pa.array([float((i * 31 + seed) % 17) for i in range(rows)])


@st.composite
def tables(draw) -> pa.Table:
    """A table of 1..5 columns of the kinds above and 0..500 rows."""
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    shape = draw(st.sampled_from(["empty", "one", "two", "few", "identical"]))
    rows = {"empty": 0, "one": 1, "two": 2, "few": 40, "identical": 500}[shape]
    seed = draw(st.integers(0, 100))
    data = {f"c{i}_{kind}": column(kind, rows, seed + i) for i, kind in enumerate(kinds)}
    if shape == "identical":  # 500 copies of one row
        data = {name: pa.array([values[0].as_py()] * rows, values.type) if rows else values
                for name, values in data.items()}
    return pa.table(data)


def expected_codes(split_table: pa.Table) -> set[tuple[str, str | None]]:
    """The degenerate-data anomalies a split must carry, from its rows."""
    n = split_table.num_rows
    if n == 0:
        return {("DATASET_EMPTY_SPLIT", None)}
    found = {("DATASET_ONE_ROW", None)} if n == 1 else set()
    for name in split_table.column_names:
        values = [v for v in split_table.column(name).to_pylist() if v is not None]
        finite = [v for v in values if not isinstance(v, float) or math.isfinite(v)]
        if not values:
            found.add(("FEATURE_ALL_MISSING", name))
        elif not finite:
            found.add(("FEATURE_NO_FINITE_VALUES", name))
        elif n > 1 and len(set(values)) == 1:
            found.add(("FEATURE_CONSTANT", name))
    return found


QUALITY = {"DATASET_EMPTY_SPLIT", "DATASET_ONE_ROW", "FEATURE_ALL_MISSING",
           "FEATURE_NO_FINITE_VALUES", "FEATURE_CONSTANT"}


def check_table(table: pa.Table | str, tmp: str, result: HarnessResult, label: str) -> None:
    """Run the chain; one trial per output split (plus one for the halt)."""
    from .data_chain import run_chain

    try:
        chain = run_chain(table, tmp)
    except Exception as e:  # noqa: BLE001 - every exception is a finding here
        result.check(False, f"{label}: {type(e).__name__}: {str(e)[:300]}", "crash")
        return
    for split in chain.examples.splits:
        rows = pq.read_table(chain.examples.split_uri(split))
        want = expected_codes(rows)
        got = {(a.code, a.feature) for a in chain.anomalies[split] if a.code in QUALITY}
        result.check(got == want, f"{label}: split {split} ({rows.num_rows} rows): flagged "
                                  f"{sorted(got, key=str)}, expected {sorted(want, key=str)}",
                     "missed" if want - got else "false alarm")
    empty = any(pq.read_metadata(os.path.join(chain.examples.split_uri(s),
                                              "part-00000.parquet")).num_rows == 0
                for s in chain.examples.splits)
    result.check(bool(chain.halted) == empty, f"{label}: empty split {empty} but halted "
                                              f"{chain.halted!r}", "halt")


def check_fixed(tmp: str, result: HarnessResult) -> None:
    """A single-class label, a ';' file read with ',', and a header-only file."""
    label = pa.table({"x": [float(i) for i in range(60)], "label": ["yes"] * 60})
    check_table(label, os.path.join(tmp, "label"), result, "single-class label")
    folder = os.path.join(tmp, "semicolon")
    os.makedirs(folder)
    with open(os.path.join(folder, "data.csv"), "w") as f:
        f.write("a;b;c\n" + "".join(f"{i};{i};{i}\n" for i in range(20)))
    from gristmill.metadata.errors import DataError

    from .data_chain import run_chain

    try:
        run_chain(folder, os.path.join(tmp, "semicolon_run"))
        result.check(False, "';' file read with ',': no error", "missed")
    except DataError as e:
        result.check("delimiter=';'" in str(e), f"';' file: unclear error {e}", "unclear")
    header = os.path.join(tmp, "header")
    os.makedirs(header)
    with open(os.path.join(header, "data.csv"), "w") as f:
        f.write("a,b\n")
    check_table(header, os.path.join(tmp, "header_run"), result, "header-only file")


def run(tables_count: int = 30) -> dict:
    """The harness: the fixed cases plus ``tables_count`` generated tables."""
    result = HarnessResult("degenerate")
    with tempfile.TemporaryDirectory() as tmp:
        check_fixed(tmp, result)
        index = [0]

        def one(table: pa.Table) -> None:
            index[0] += 1
            folder = os.path.join(tmp, f"t{index[0]}")
            check_table(table, folder, result, f"table {index[0]} ({table.num_rows} rows, "
                                               f"{table.column_names})")

        for_examples(tables(), tables_count, one)
    return result.to_dict()
