"""Training data on the device: Arrow columns -> tensors, batched by index.

When the whole dataset fits, it lives on the device and each epoch is a ``randperm`` plus
index gathers (no per-row DataLoader). Otherwise :class:`ParquetStream` reads one Parquet
row group at a time.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from gristmill.engine.features import EncodedColumns


@dataclass
class Batch:
    """One mini-batch: model inputs, targets and optional per-example weights."""

    numeric: torch.Tensor
    categorical: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.target.shape[0]


def columns_to_tensor(columns: Sequence[np.ndarray], num_rows: int, dtype: torch.dtype,
                      device: torch.device) -> torch.Tensor:
    """Stack per-column arrays into ``[rows, cols]`` on ``device``.

    Each column is wrapped with ``torch.from_numpy`` (sharing Arrow's buffer when the
    column was zero-copy) and moved as is; the one row-major copy happens on the device.
    """
    if not columns:
        return torch.zeros((num_rows, 0), dtype=dtype, device=device)
    with warnings.catch_warnings():
        # Zero-copy Arrow buffers are read-only; they are only read (stack copies them).
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        moved = [torch.from_numpy(np.ascontiguousarray(c)).to(device, dtype, non_blocking=True)
                 for c in columns]
    return torch.stack(moved, dim=1)


class TensorData:
    """A dataset held entirely on one device.

    Args:
        numeric: ``[n, F]`` float32.
        categorical: ``[n, C]`` int64.
        target: ``[n]`` int64 class ids or float32 regression targets.
        weight: Optional ``[n]`` float32 example weights.
    """

    def __init__(self, numeric: torch.Tensor, categorical: torch.Tensor, target: torch.Tensor,
                 weight: torch.Tensor | None = None):
        self.numeric, self.categorical, self.target, self.weight = (
            numeric, categorical, target, weight)

    @classmethod
    def from_encoded(cls, encoded: EncodedColumns, target: np.ndarray, device: torch.device,
                     weight: np.ndarray | None = None) -> TensorData:
        """Move encoded columns and targets to ``device``."""
        n = encoded.num_rows
        tgt = torch.from_numpy(np.ascontiguousarray(target)).to(device)
        w = torch.from_numpy(np.ascontiguousarray(weight, np.float32)).to(device) \
            if weight is not None else None
        return cls(columns_to_tensor(encoded.numeric, n, torch.float32, device),
                   columns_to_tensor(encoded.categorical, n, torch.int64, device), tgt, w)

    def __len__(self) -> int:
        return int(self.target.shape[0])

    @property
    def device(self) -> torch.device:
        """Where the tensors live."""
        return self.target.device

    def select(self, mask_or_index: torch.Tensor) -> TensorData:
        """Rows picked by a boolean mask or index tensor."""
        w = self.weight[mask_or_index] if self.weight is not None else None
        return TensorData(self.numeric[mask_or_index], self.categorical[mask_or_index],
                          self.target[mask_or_index], w)

    def batch(self, index: torch.Tensor) -> Batch:
        """Gather one batch by an index tensor on the same device."""
        # Advanced indexing measured a little faster than index_select for small batches.
        w = self.weight[index] if self.weight is not None else None
        return Batch(self.numeric[index], self.categorical[index], self.target[index], w)

    def batches(self, batch_size: int, shuffle: bool = False,
                generator: torch.Generator | None = None, rank: int = 0,
                world_size: int = 1) -> Iterator[Batch]:
        """Yield batches in order or shuffled on the device.

        With ``world_size > 1`` every rank takes an equal, disjoint share of the same
        permutation (all ranks must pass equally seeded generators).
        """
        n = len(self)
        if shuffle:
            order = torch.randperm(n, device=self.device, generator=generator)
        else:
            order = torch.arange(n, device=self.device)
        if world_size > 1:
            per_rank = n // world_size
            order = order[rank * per_rank:(rank + 1) * per_rank]
        if not shuffle and world_size == 1:
            for start in range(0, n, batch_size):
                yield self._slice(start, min(start + batch_size, n))
            return
        for start in range(0, order.shape[0], batch_size):
            yield self.batch(order[start:start + batch_size])

    def _slice(self, start: int, stop: int) -> Batch:
        w = self.weight[start:stop] if self.weight is not None else None
        return Batch(self.numeric[start:stop], self.categorical[start:stop],
                     self.target[start:stop], w)

    def num_batches(self, batch_size: int, world_size: int = 1) -> int:
        """Batches per epoch for one rank."""
        n = len(self) // world_size if world_size > 1 else len(self)
        return -(-n // batch_size)


def parquet_files(path: str) -> list[str]:
    """Parquet files of a split directory (or a single file), sorted.

    Raises:
        FileNotFoundError: Nothing ending in ``.parquet`` is there.
    """
    if os.path.isfile(path):
        return [path]
    files = sorted(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))
    if not files:
        raise FileNotFoundError(f"no .parquet files under {path}")
    return files


def read_table(files: Sequence[str], columns: Sequence[str] | None = None) -> pa.Table:
    """Read Parquet files into one Arrow table (memory-mapped, so numerics stay zero-copy)."""
    tables = [pq.read_table(f, columns=list(columns) if columns else None, memory_map=True)
              for f in files]
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def estimated_bytes(num_rows: int, num_numeric: int, num_categorical: int) -> int:
    """Device bytes of a resident dataset: float32 numerics, int64 ids, 8-byte targets."""
    return num_rows * (4 * num_numeric + 8 * num_categorical + 8 + 4)


class ParquetStream:
    """Row-group-at-a-time reader for data that does not fit on the device.

    Args:
        files: Parquet files.
        columns: Columns to read.
        shuffle: Visit row groups in a random order each epoch.
        seed: Seed of that order.
    """

    def __init__(self, files: Sequence[str], columns: Sequence[str] | None = None,
                 shuffle: bool = True, seed: int = 0):
        self.files = list(files)
        self.columns = list(columns) if columns else None
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.groups = [(f, g) for f in self.files
                       for g in range(pq.ParquetFile(f).metadata.num_row_groups)]
        self.num_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def tables(self) -> Iterator[pa.Table]:
        """Yield one row group at a time as a table."""
        order = self.rng.permutation(len(self.groups)) if self.shuffle else range(len(self.groups))
        handles: dict[str, pq.ParquetFile] = {}
        for i in order:
            path, group = self.groups[int(i)]
            handle = handles.setdefault(path, pq.ParquetFile(path, memory_map=True))
            yield handle.read_row_group(group, columns=self.columns)


class StreamingData:
    """Batches read one row group at a time, encoded and moved to the device on the fly.

    Has the same ``batches``/``num_batches`` interface as :class:`TensorData`; shuffling
    permutes row groups and rows within each group.

    Args:
        stream: The row-group reader.
        to_tensors: Encodes one row-group table into a :class:`TensorData` on ``device``.
        device: Where batches go.
    """

    def __init__(self, stream: ParquetStream, to_tensors: Callable[[pa.Table], TensorData],
                 device: torch.device):
        self.stream, self.to_tensors, self.device = stream, to_tensors, device
        self._group_rows = [pq.ParquetFile(f).metadata.row_group(g).num_rows
                            for f, g in stream.groups]

    def __len__(self) -> int:
        return self.stream.num_rows

    def batches(self, batch_size: int, shuffle: bool = False,
                generator: torch.Generator | None = None, rank: int = 0,
                world_size: int = 1) -> Iterator[Batch]:
        """Yield batches group by group (each rank takes its share of every group)."""
        self.stream.shuffle = shuffle
        for table in self.stream.tables():
            yield from self.to_tensors(table).batches(batch_size, shuffle, generator, rank,
                                                      world_size)

    def num_batches(self, batch_size: int, world_size: int = 1) -> int:
        """Batches per epoch for one rank."""
        return sum(-(-(n // world_size) // batch_size) for n in self._group_rows)
