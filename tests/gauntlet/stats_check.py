"""StatisticsGen against pandas on the same data.

Per split, the split's rows as ExampleGen wrote them (read with pandas) must give exactly the
statistics StatisticsGen wrote: count, missing, mean, std (population), min, max to 1e-9
relative; quantiles within the sketch's rank error (``StatsOptions.epsilon``: the value at
rank r must hold some rank in [r - eps, r + eps]); distinct strings exactly while
``unique_is_exact``, else within 4 standard errors of the HyperLogLog (1.04/sqrt(2**14));
exact top values. Over the whole file, the splits together must hold every row and every
value of the frame the harness wrote (CSV: empty strings and the documented null markers
read as missing), so ExampleGen loses or changes nothing without a count.
"""

from __future__ import annotations

import glob
import math
import os

import numpy as np
import pandas as pd

RELATIVE = 1e-9
EPSILON = 0.01  # StatsOptions().epsilon, the default the pipeline uses
HLL_TOLERANCE = 4 * 1.04 / math.sqrt(2 ** 14)
#: pyarrow's CSV null markers (ExampleGen's "usual null markers", docs/components/example_gen.md)
CSV_NULLS = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
             "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"}


def read_table(examples_uri: str, split: str):
    """A split of an Examples artifact as one Arrow table (``None`` when it has no files)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.parquet")))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else None


def read_split(examples_uri: str, split: str) -> pd.DataFrame:
    """A split as pandas, dates and times as their stored integers (days, ms, ...): the
    units StatisticsGen measures them in."""
    import pyarrow as pa

    table = read_table(examples_uri, split)
    if table is None:
        return pd.DataFrame()
    for i, field in enumerate(table.schema):
        if pa.types.is_temporal(field.type):
            width = pa.int32() if field.type.bit_width == 32 else pa.int64()
            stored = pa.chunked_array([c.view(width) for c in table.column(i).chunks], width)
            table = table.set_column(i, field.name, stored)
    return table.to_pandas()


def close(a: float | None, b: float | None) -> bool:
    """Equal to 1e-9 relative (absolute near zero); both None/NaN counts as equal."""
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=RELATIVE)


def check_statistics(examples_uri: str, statistics_uri: str, splits: list[str]) -> list[str]:
    """Every mismatch between StatisticsGen and pandas, per split and feature."""
    from gristmill.components.framework.statistics_model import load_statistics

    problems = []
    for split in splits:
        frame = read_split(examples_uri, split)
        stats = load_statistics(os.path.join(statistics_uri, f"Split-{split}"))
        if stats.num_examples != len(frame):
            problems.append(f"{split}: num_examples {stats.num_examples} != {len(frame)} rows")
        for feature in stats.features:
            if feature.name not in frame.columns:
                problems.append(f"{split}.{feature.name}: not a column of the split")
                continue
            for problem in check_feature(feature, frame[feature.name]):
                problems.append(f"{split}.{feature.name}: {problem}")
        missing = set(frame.columns) - set(stats.feature_names)
        if len(frame):  # an empty split has no values to describe
            problems += [f"{split}.{name}: no statistics" for name in sorted(missing)]
    return problems


def check_feature(feature, values: pd.Series) -> list[str]:
    """Mismatches of one feature's statistics against the column's values."""
    present = values.dropna()
    problems = []
    if feature.num_present != len(present) or feature.num_missing != len(values) - len(present):
        problems.append(f"present/missing {feature.num_present}/{feature.num_missing} != "
                        f"{len(present)}/{len(values) - len(present)}")
    if feature.numeric is not None and feature.type in ("INT", "FLOAT", "BOOL"):
        problems += check_numeric(feature.numeric, present)
    if feature.string is not None:
        problems += check_strings(feature.string, present)
    return problems


def check_numeric(numeric, present: pd.Series) -> list[str]:
    """Moments, extremes, zeros and quantiles of the finite values."""
    x = present.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = x[np.isfinite(x)]
    problems = []
    expected = {"mean": finite.mean() if len(finite) else None,
                "std_dev": finite.std(ddof=0) if len(finite) else None,
                "min": finite.min() if len(finite) else None,
                "max": finite.max() if len(finite) else None}
    for key, want in expected.items():
        got = getattr(numeric, key)
        if not close(got, None if want is None else float(want)):
            problems.append(f"{key} {got!r} != pandas {want!r}")
    counts = {"num_zeros": int((x == 0).sum()), "num_nan": int(np.isnan(x).sum()),
              "num_pos_inf": int(np.isposinf(x).sum()),
              "num_neg_inf": int(np.isneginf(x).sum())}
    problems += [f"{k} {getattr(numeric, k)} != {v}" for k, v in counts.items()
                 if getattr(numeric, k) != v]
    problems += check_quantiles(numeric.quantiles, np.sort(finite))
    return problems


def check_quantiles(quantiles: list[float], ordered: np.ndarray) -> list[str]:
    """``quantiles[i]`` must sit at a rank within EPSILON of ``i / (len - 1)``."""
    n = len(ordered)
    if not n:
        return [] if not quantiles else [f"{len(quantiles)} quantiles of no values"]
    if not quantiles:
        return ["no quantiles"]
    bad = []
    for i, value in enumerate(quantiles):
        rank = i / (len(quantiles) - 1)
        low = np.searchsorted(ordered, value, side="left") / n
        high = np.searchsorted(ordered, value, side="right") / n
        if not (low - EPSILON <= rank <= high + EPSILON):
            bad.append(f"q{i}={value!r} has rank [{low:.4f}, {high:.4f}]")
    return [f"quantiles off by more than eps={EPSILON}: {', '.join(bad[:3])}"] if bad else []


def check_strings(string, present: pd.Series) -> list[str]:
    """Distinct count (exact or HLL) and exact top values."""
    counts = present.astype(str).value_counts()
    problems = []
    distinct = len(counts)
    if string.unique_is_exact and string.unique != distinct:
        problems.append(f"unique {string.unique} != {distinct} (exact)")
    if not string.unique_is_exact and abs(string.unique - distinct) > HLL_TOLERANCE * distinct + 1:
        problems.append(f"unique {string.unique} vs {distinct}: beyond HLL tolerance")
    if string.top_values_exact:
        for top in string.top_values:
            if counts.get(top.value, 0) != top.count:
                problems.append(f"top value {top.value!r}: count {top.count} != "
                                f"{counts.get(top.value, 0)}")
                break
    return problems


def check_whole_file(frame: pd.DataFrame, examples_uri: str, splits: list[str],
                     bad_records: int, fmt: str) -> tuple[list[str], list[str]]:
    """All splits together against the frame the harness wrote.

    Returns ``(problems, notes)``: problems are lost rows or changed values; notes are type
    changes the reader documents (e.g. a CSV column of digit strings read as integers).
    """
    parts = [read_split(examples_uri, s) for s in splits]
    parts = [p for p in parts if len(p.columns)]
    got = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    problems, notes = [], []
    if len(got) + bad_records != len(frame):
        problems.append(f"{fmt}: {len(got)} rows + {bad_records} bad records != "
                        f"{len(frame)} rows written")
    if len(got) != len(frame):
        return problems, notes
    for name in frame.columns:
        if name not in got.columns:
            problems.append(f"{fmt}.{name}: column lost")
            continue
        want, have = frame[name], got[name]
        if fmt == "csv" and want.dtype == object:
            want = want.where(~want.isin(CSV_NULLS), None)
        if int(want.notna().sum()) != int(have.notna().sum()):
            problems.append(f"{fmt}.{name}: {int(have.notna().sum())} present values != "
                            f"{int(want.notna().sum())} written")
        numeric_want = pd.api.types.is_numeric_dtype(want)
        numeric_have = pd.api.types.is_numeric_dtype(have)
        if numeric_want != numeric_have:
            notes.append(f"{fmt}.{name}: {want.dtype} read as {have.dtype}")
        elif numeric_want:
            a = np.sort(want.dropna().to_numpy(dtype=np.float64))
            b = np.sort(have.dropna().to_numpy(dtype=np.float64))
            if len(a) == len(b) and not np.allclose(a, b, rtol=RELATIVE, atol=0, equal_nan=True):
                problems.append(f"{fmt}.{name}: values changed (sorted values differ)")
        else:
            a = sorted(want.dropna().astype(str))
            b = sorted(have.dropna().astype(str))
            if a != b:
                notes.append(f"{fmt}.{name}: string values differ from those written")
    return problems, notes
