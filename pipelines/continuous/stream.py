"""A stream of taxi-like days for the continuous pipeline: one span per day, one regime change.

Each day is a span folder ``span-<N>/{train,eval}/data.parquet`` (ExampleGen's
``span-{SPAN}/train/*.parquet``). Columns follow the taxi example (``trip_miles``,
``trip_seconds``, ``fare``, ``trip_start_hour``, ``payment_type``, ``company``); the label
``big_tipper`` is 1 when the tip is above 20% of the fare.

From ``drift_from`` on the city changes: card readers arrive in every cab, so half the trips
are paid by card-in-cab (``payment_type`` "Card Reader", a value the old days never had),
cash shrinks, tips on those trips are recorded, and fares rise by 40% (a new tariff). The
statistics of that first day differ from the day before (the DistributionValidator flags
it) and a model trained before it scores worse on it (so the retrained model is better).
Later days keep the new regime, so they do not drift against each other.

Deterministic for a given ``(span, seed)``.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

LABEL_KEY = "big_tipper"
COMPANIES = [f"Company {i:02d}" for i in range(12)]
BEFORE = {"Credit Card": 0.50, "Cash": 0.40, "Mobile": 0.10}
AFTER = {"Credit Card": 0.25, "Cash": 0.15, "Mobile": 0.10, "Card Reader": 0.50}
TIP_RATE = {"Credit Card": 0.75, "Cash": 0.05, "Mobile": 0.6, "Card Reader": 0.8}


def make_day(span: int, rows: int, drifted: bool, seed: int = 0) -> pa.Table:
    """One day of trips; ``drifted`` days follow the new regime."""
    rng = np.random.default_rng([seed, span])
    shares = AFTER if drifted else BEFORE
    payment = rng.choice(list(shares), rows, p=list(shares.values()))
    seconds = rng.gamma(2.0, 420.0, rows).astype(np.int64)
    miles = np.round(seconds / 3600.0 * rng.normal(14.0, 3.0, rows).clip(2.0), 2)
    tariff = 1.4 if drifted else 1.0
    fare = np.round(tariff * (3.25 + 2.25 * miles) + rng.normal(0.0, 1.0, rows).clip(-2.0), 2)
    hour = rng.integers(0, 24, rows)
    company = rng.integers(0, len(COMPANIES), rows)
    night = (hour >= 20) | (hour <= 3)
    probability = (np.array([TIP_RATE[p] for p in payment]) + 0.1 * night
                   + np.linspace(-0.1, 0.1, len(COMPANIES))[company]).clip(0.0, 1.0)
    return pa.table({
        "trip_miles": pa.array(miles), "trip_seconds": pa.array(seconds),
        "fare": pa.array(fare), "trip_start_hour": pa.array(hour),
        "payment_type": pa.array(payment), "company": pa.array(np.array(COMPANIES)[company]),
        LABEL_KEY: pa.array((rng.random(rows) < probability).astype(np.int64))})


def write_span(root: str, span: int, rows: int = 3000, drift_from: int | None = 3,
               seed: int = 0, eval_fraction: float = 0.3) -> str:
    """Write day ``span`` as ``<root>/span-<span>/{train,eval}/data.parquet``; return the
    span folder. Days from ``drift_from`` on are drifted (``None``: never)."""
    table = make_day(span, rows, drifted=drift_from is not None and span >= drift_from,
                     seed=seed)
    cut = int(rows * (1.0 - eval_fraction))
    folder = os.path.join(root, f"span-{span}")
    for split, part in (("train", table.slice(0, cut)), ("eval", table.slice(cut))):
        os.makedirs(os.path.join(folder, split), exist_ok=True)
        path = os.path.join(folder, split, "data.parquet")
        pq.write_table(part, path + ".tmp")
        os.replace(path + ".tmp", path)
    return folder
