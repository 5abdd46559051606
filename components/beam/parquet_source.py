"""Which Parquet files and row groups make one split (StatisticsGen, Transform, ExampleDiff).
"""

from __future__ import annotations

import glob
import os

import pyarrow.parquet as pq


def parquet_files(split_dir: str) -> list[str]:
    """Sorted Parquet files of one split directory."""
    return sorted(glob.glob(os.path.join(split_dir, "*.parquet")))


def row_group_tasks(files: list[str]) -> tuple[list[tuple[str, int]], int]:
    """``(path, row group)`` tasks of ``files`` (empty files have none) and their rows."""
    tasks, rows = [], 0
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        rows += metadata.num_rows
        tasks.extend((path, i) for i in range(metadata.num_row_groups))
    return tasks, rows
