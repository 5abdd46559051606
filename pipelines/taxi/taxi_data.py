"""A synthetic Chicago-taxi-like dataset for the taxi pipeline (rows are a parameter).

Columns follow the public Chicago taxi trips table that TFX's taxi example uses: numeric
(``trip_miles``, ``trip_seconds``, ``fare``, ``tips``, pickup coordinates, hour, weekday,
community area) and string (``payment_type``, ``company``) columns, several with missing
values. The label ``big_tipper`` is 1 when the tip is more than 20% of the fare, as in TFX.
Tips depend on the payment type (cash tips are rarely recorded), the hour, the distance and
the company, so a model has something real to learn.

Generation is vectorised, chunk by chunk (bounded memory), and deterministic for a given
``(rows, seed)``: each chunk is seeded by its offset.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

LABEL_KEY = "big_tipper"
CHUNK_ROWS = 200_000
PAYMENT_TYPES = ["Credit Card", "Cash", "Mobile", "Prcard", "Unknown", "No Charge"]
PAYMENT_WEIGHTS = [0.52, 0.33, 0.07, 0.04, 0.03, 0.01]
# Probability that a trip paid this way records a generous tip, before other effects.
PAYMENT_TIP_RATE = {"Credit Card": 0.75, "Cash": 0.04, "Mobile": 0.6, "Prcard": 0.45,
                    "Unknown": 0.1, "No Charge": 0.0}
COMPANIES = [f"Company {i:03d}" for i in range(60)]


def _nullable(rng: np.random.Generator, values: np.ndarray, rate: float) -> pa.Array:
    return pa.array(values, mask=rng.random(len(values)) < rate)


def _generous_probability(payment_ids: np.ndarray, hour: np.ndarray, miles: np.ndarray,
                          company_ids: np.ndarray) -> np.ndarray:
    rate = np.array([PAYMENT_TIP_RATE[p] for p in PAYMENT_TYPES])[payment_ids]
    night = (hour >= 20) | (hour <= 3)
    company_effect = np.linspace(-0.15, 0.15, len(COMPANIES))[company_ids]
    shift = 0.12 * night - 0.1 * (miles > 15) + company_effect
    return np.clip(rate + np.where(rate > 0.05, shift, 0.0), 0.0, 1.0)


def make_chunk(start: int, rows: int, seed: int = 0, labelled: bool = True) -> pa.Table:
    """Rows ``start .. start + rows`` of the dataset for ``seed``."""
    rng = np.random.default_rng([seed, start])
    seconds = rng.gamma(2.0, 450.0, rows).astype(np.int64) + 60
    miles = np.round(seconds / 3600.0 * rng.normal(14.0, 4.0, rows).clip(2.0), 2)
    fare = np.round(3.25 + 2.25 * miles + rng.normal(0.0, 1.0, rows).clip(-2.0), 2)
    hour = rng.integers(0, 24, rows)
    payment_ids = rng.choice(len(PAYMENT_TYPES), rows, p=PAYMENT_WEIGHTS)
    weights = 1.0 / np.arange(1, len(COMPANIES) + 1)
    company_ids = rng.choice(len(COMPANIES), rows, p=weights / weights.sum())
    generous = rng.random(rows) < _generous_probability(payment_ids, hour, miles, company_ids)
    tip_share = np.where(generous, rng.uniform(0.21, 0.35, rows), rng.uniform(0.0, 0.19, rows))
    tips = np.round(fare * tip_share, 2)
    columns = {
        "trip_start_hour": pa.array(hour),
        "trip_start_day": pa.array(rng.integers(1, 8, rows)),
        "trip_miles": _nullable(rng, miles, 0.01),
        "trip_seconds": _nullable(rng, seconds, 0.02),
        "fare": _nullable(rng, fare, 0.005),
        "pickup_latitude": _nullable(rng, np.round(rng.normal(41.88, 0.05, rows), 5), 0.03),
        "pickup_longitude": _nullable(rng, np.round(rng.normal(-87.63, 0.06, rows), 5), 0.03),
        "pickup_community_area": _nullable(rng, rng.integers(1, 78, rows), 0.1),
        "payment_type": pa.array(np.array(PAYMENT_TYPES)[payment_ids]),
        "company": _nullable(rng, np.array(COMPANIES)[company_ids], 0.2),
    }
    if labelled:
        columns["tips"] = pa.array(tips)
        # The label is defined on the true fare even where the recorded fare is missing.
        columns[LABEL_KEY] = pa.array((tips > 0.2 * fare).astype(np.int64))
    return pa.table(columns)


def write_dataset(directory: str | os.PathLike, rows: int, seed: int = 0,
                  labelled: bool = True) -> Path:
    """Write ``taxi.csv`` with ``rows`` rows under ``directory`` (kept if already complete).

    Returns:
        The CSV file's path.
    """
    import pyarrow.csv as pacsv

    path = Path(directory) / "taxi.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    with pacsv.CSVWriter(tmp, make_chunk(0, 0, seed, labelled).schema) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            writer.write_table(make_chunk(start, min(CHUNK_ROWS, rows - start), seed, labelled))
    os.replace(tmp, path)  # atomic: a half-written file is never mistaken for the dataset
    return path
