"""Parquet file helpers of Transform that need no Beam: listing, row groups, row counts.

Kept apart from :mod:`.beam_io` so the executor can plan its work without importing Beam.
"""

from __future__ import annotations

import glob
import os

import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.metadata.errors import DataError


def parquet_files(split_dir: str) -> list[str]:
    """Sorted Parquet files of one split directory."""
    return sorted(glob.glob(os.path.join(split_dir, "*.parquet")))


def row_group_tasks(files: list[str]) -> tuple[list[tuple[str, int]], int]:
    """``(path, row group)`` work items and the total row count of ``files``."""
    tasks, rows = [], 0
    for path in files:
        try:
            meta = pq.ParquetFile(path).metadata
        except (OSError, pa.ArrowInvalid) as e:
            raise DataError(f"Transform: cannot read Parquet file {path}: {e}.", uri=path,
                            fix="regenerate the Examples artifact") from e
        rows += meta.num_rows
        tasks.extend((path, i) for i in range(max(meta.num_row_groups, 1)))
    return tasks, rows


def written_rows(split_dir: str) -> int:
    """Rows in the Parquet files of ``split_dir`` (from file metadata)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(split_dir))


def arrow_schema(files: list[str]) -> pa.Schema:
    """The Arrow schema of the first file (all files of an Examples split share it)."""
    return pq.read_schema(files[0])
