"""Generated data shaped like TFX's taxi CSV (``data/simple/data.csv`` of the TFX example).

Same 18 columns and types as the public Chicago taxi extract TFX ships: ints
(``trip_start_hour``, ``trip_start_day``, ``trip_start_month``, ``trip_start_timestamp``,
community areas, ``trip_seconds``), floats (``fare``, ``tips``, ``trip_miles``,
coordinates, census tracts) and strings (``payment_type``, ``company``), with empty fields
where the real file has them. No label column: TFX's ``preprocessing_fn`` makes the label
(``tips > 0.2 * fare``). Tips depend on the payment type, the hour and the distance, so a
model has something to learn. Deterministic for a given ``(rows, seed)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

PAYMENT_TYPES = ["Credit Card", "Cash", "Mobile", "Prcard", "Unknown", "No Charge"]
PAYMENT_WEIGHTS = [0.5, 0.35, 0.06, 0.04, 0.04, 0.01]
#: Chance of a tip above 20% of the fare, by payment type (cash tips are rarely recorded).
TIP_RATE = np.array([0.8, 0.03, 0.65, 0.5, 0.1, 0.0])
COMPANIES = ["Flash Cab", "Taxi Affiliation Services", "Yellow Cab", "Blue Diamond",
             "Chicago Carriage Cab Corp", "City Service", "Sun Taxi", "Medallion Leasin"]
START = 1_356_998_400  # 2013-01-01 00:00:00 UTC


def _nullable(rng: np.random.Generator, values: np.ndarray, rate: float) -> pa.Array:
    return pa.array(values, mask=rng.random(len(values)) < rate)


def make_table(rows: int, seed: int = 0) -> pa.Table:
    """``rows`` trips in TFX's taxi column layout."""
    rng = np.random.default_rng(seed)
    timestamp = START + rng.integers(0, 4 * 365 * 86400, rows)
    moments = timestamp.astype("datetime64[s]")
    hour = (timestamp % 86400) // 3600
    seconds = rng.gamma(2.0, 450.0, rows).astype(np.int64) + 60
    miles = np.round(seconds / 3600.0 * rng.normal(14.0, 4.0, rows).clip(2.0), 2)
    fare = np.round(3.25 + 2.25 * miles + rng.normal(0.0, 1.0, rows).clip(-2.0), 2)
    payment = rng.choice(len(PAYMENT_TYPES), rows, p=PAYMENT_WEIGHTS)
    night = (hour >= 20) | (hour <= 3)
    generous = rng.random(rows) < np.clip(TIP_RATE[payment] + 0.1 * night - 0.1 * (miles > 15),
                                          0.0, 1.0)
    tips = np.round(fare * np.where(generous, rng.uniform(0.21, 0.35, rows),
                                    rng.uniform(0.0, 0.19, rows)), 2)
    area = rng.integers(1, 78, rows)
    columns = {
        "pickup_community_area": _nullable(rng, area, 0.05),
        "fare": pa.array(fare),
        "trip_start_month": pa.array(moments.astype("datetime64[M]").astype(np.int64) % 12 + 1),
        "trip_start_hour": pa.array(hour),
        "trip_start_day": pa.array((timestamp // 86400 + 4) % 7 + 1),  # Sunday = 1
        "trip_start_timestamp": pa.array(timestamp),
        "pickup_latitude": _nullable(rng, np.round(rng.normal(41.89, 0.04, rows), 6), 0.05),
        "pickup_longitude": _nullable(rng, np.round(rng.normal(-87.63, 0.05, rows), 6), 0.05),
        "dropoff_latitude": _nullable(rng, np.round(rng.normal(41.89, 0.05, rows), 6), 0.05),
        "dropoff_longitude": _nullable(rng, np.round(rng.normal(-87.64, 0.06, rows), 6), 0.05),
        "trip_miles": pa.array(miles),
        "pickup_census_tract": _nullable(rng, 17031000000.0 + rng.integers(1, 900, rows),
                                         0.3),
        "dropoff_census_tract": _nullable(rng, 17031000000.0 + rng.integers(1, 900, rows),
                                          0.3),
        "payment_type": pa.array(np.array(PAYMENT_TYPES)[payment]),
        "company": _nullable(rng, np.array(COMPANIES)[rng.integers(0, len(COMPANIES), rows)],
                             0.3),
        "trip_seconds": _nullable(rng, seconds, 0.01),
        "dropoff_community_area": _nullable(rng, rng.integers(1, 78, rows), 0.1),
        "tips": pa.array(tips),
    }
    return pa.table(columns)


def write_csv(directory: str | os.PathLike, rows: int, seed: int = 0) -> Path:
    """Write ``data.csv`` under ``directory`` (kept when it exists); returns its path."""
    import pyarrow.csv as pacsv

    path = Path(directory) / "data.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        pacsv.write_csv(make_table(rows, seed), tmp)
        os.replace(tmp, path)
    return path
