"""Synthetic taxi-like data for benchmarks: 10 numeric and 2 string columns, some nulls.

Deterministic for a given row count (fixed seed per chunk) and cached under
``./.bench-data/`` so repeated benchmark runs skip generation. Generated chunk by chunk,
so 10M rows never sit in memory at once.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CACHE_DIR = os.environ.get("GRISTMILL_BENCH_DATA", ".bench-data")
CHUNK_ROWS = 250_000
SEED = 20240611

PAYMENT_TYPES = ["Credit Card", "Cash", "Mobile", "Prcard", "Unknown", "No Charge"]
PAYMENT_WEIGHTS = [0.55, 0.30, 0.08, 0.04, 0.02, 0.01]
COMPANIES = [f"Company {i:03d}" for i in range(120)]


def _with_nulls(rng: np.random.Generator, values: np.ndarray, rate: float) -> pa.Array:
    return pa.array(values, mask=rng.random(len(values)) < rate)


def make_chunk(start: int, rows: int) -> pa.Table:
    """Rows ``start .. start+rows`` of the dataset (same values whatever the chunking)."""
    rng = np.random.default_rng([SEED, start])
    seconds = rng.gamma(2.0, 450.0, rows).astype(np.int64)
    miles = np.round(seconds / 3600.0 * rng.normal(14.0, 4.0, rows).clip(1.0), 2)
    fare = np.round(3.25 + 2.25 * miles + rng.normal(0.0, 1.5, rows).clip(-3.0), 2)
    tips = np.round(np.where(rng.random(rows) < 0.6, fare * rng.uniform(0.1, 0.3, rows), 0.0), 2)
    company_weights = 1.0 / np.arange(1, len(COMPANIES) + 1)
    columns = {
        "trip_seconds": _with_nulls(rng, seconds, 0.01),
        "trip_miles": pa.array(miles),
        "fare": _with_nulls(rng, fare, 0.005),
        "tips": pa.array(tips),
        "tolls": pa.array(np.where(rng.random(rows) < 0.05, 5.0, 0.0)),
        "extras": _with_nulls(rng, np.round(rng.exponential(1.0, rows), 2), 0.02),
        "pickup_latitude": _with_nulls(rng, rng.normal(41.88, 0.05, rows), 0.03),
        "pickup_longitude": _with_nulls(rng, rng.normal(-87.63, 0.06, rows), 0.03),
        "trip_start_hour": pa.array(rng.integers(0, 24, rows)),
        "pickup_community_area": _with_nulls(rng, rng.integers(1, 78, rows), 0.1),
        "payment_type": pa.array(rng.choice(PAYMENT_TYPES, rows, p=PAYMENT_WEIGHTS)),
        "company": _with_nulls(rng, rng.choice(COMPANIES, rows,
                                               p=company_weights / company_weights.sum()), 0.2),
    }
    return pa.table(columns)


def _chunks(rows: int):
    for start in range(0, rows, CHUNK_ROWS):
        yield make_chunk(start, min(CHUNK_ROWS, rows - start))


def parquet_dataset(rows: int, row_group_rows: int = CHUNK_ROWS) -> str:
    """Path of the cached Parquet file with ``rows`` rows, generated on first use."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    path = os.path.join(CACHE_DIR, f"taxi-{rows}.parquet")
    if not os.path.exists(path):
        tmp = path + ".tmp"
        writer = None
        for chunk in _chunks(rows):
            writer = writer or pq.ParquetWriter(tmp, chunk.schema)
            writer.write_table(chunk, row_group_size=row_group_rows)
        writer.close()
        os.replace(tmp, path)
    return path


def csv_dataset(rows: int) -> str:
    """Path of the cached CSV file with ``rows`` rows (same data as the Parquet file)."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    path = os.path.join(CACHE_DIR, f"taxi-{rows}.csv")
    if not os.path.exists(path):
        tmp = path + ".tmp"
        writer = None
        for chunk in _chunks(rows):
            writer = writer or pacsv.CSVWriter(tmp, chunk.schema)
            writer.write_table(chunk)
        writer.close()
        os.replace(tmp, path)
    return path
