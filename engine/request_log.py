"""Log a sample of serving requests as Parquet spans, for training/serving skew checks.

A :class:`RequestLogger` keeps a seeded random ``sample_rate`` share of the raw records a
:class:`~gristmill.engine.serving.ServingBundle` is asked to score (after they were conformed
to the model's raw input types, so every file of a span has the same schema) and writes them
as ``<directory>/span-<span>/requests-<pid>-<n>.parquet``, where the span is the UTC day
number (days since 1970-01-01, the ``{SPAN}`` of ExampleGen's patterns) unless a fixed
``span`` is given. A pipeline reads the spans back with
``ParquetExampleGen(input_config=Input(splits=[SplitPattern(name="serving",
pattern="span-{SPAN}/*.parquet")]))`` and compares their statistics with the training data's.

Files are written whole to a ``.tmp`` sibling and renamed, so a reader never sees half a
file. Rows are buffered up to ``rows_per_file`` and flushed then, on :meth:`close` and at
interpreter exit. Every count is kept (:attr:`counts`): records seen, rows kept, files.

Turned on explicitly: ``load_bundle(uri, request_log=RequestLogger(...))``; a serving
process configured by its environment passes ``RequestLogger.from_env()``
(``GRISTMILL_REQUEST_LOG_DIR``, optionally ``GRISTMILL_REQUEST_LOG_RATE``, default 0.1).
Never on by default, so offline scoring (Evaluator, BulkInferrer) is not logged as requests.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ENV_DIR = "GRISTMILL_REQUEST_LOG_DIR"
ENV_RATE = "GRISTMILL_REQUEST_LOG_RATE"
DEFAULT_RATE = 0.1
_OPEN: weakref.WeakSet = weakref.WeakSet()  # loggers to flush at exit (not kept alive by it)


@atexit.register
def _flush_open_loggers() -> None:
    for logger in list(_OPEN):
        logger.close()


def utc_day_span(now: float | None = None) -> int:
    """Days since 1970-01-01 (UTC): the span of a request logged at ``now``."""
    return int((time.time() if now is None else now) // 86400)


class RequestLogger:
    """Samples raw request rows and writes them as Parquet files, one folder per span.

    Args:
        directory: Root folder of the spans.
        sample_rate: Share of rows kept, in ``(0, 1]``.
        span: Fixed span number; ``None``: the UTC day number at write time.
        seed: Seed of the row sampling (reproducible tests).
        rows_per_file: Rows buffered before a file is written.

    Raises:
        ValueError: ``sample_rate`` outside ``(0, 1]`` or ``rows_per_file`` < 1.
    """

    def __init__(self, directory: str, sample_rate: float, span: int | None = None,
                 seed: int | None = None, rows_per_file: int = 10_000):
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"RequestLogger: sample_rate must be in (0, 1], got {sample_rate}")
        if rows_per_file < 1:
            raise ValueError(f"RequestLogger: rows_per_file must be >= 1, got {rows_per_file}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.sample_rate = float(sample_rate)
        self.span = span
        self.rows_per_file = rows_per_file
        self._rng = np.random.default_rng(seed)
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._lock = threading.Lock()
        self.counts = {"rows_seen": 0, "rows_logged": 0, "files_written": 0}
        _OPEN.add(self)

    @classmethod
    def from_env(cls) -> RequestLogger | None:
        """A logger configured by ``GRISTMILL_REQUEST_LOG_DIR``/``_RATE``, or ``None``."""
        directory = os.environ.get(ENV_DIR)
        if not directory:
            return None
        return cls(directory, float(os.environ.get(ENV_RATE, DEFAULT_RATE)))

    def sample(self, num_rows: int) -> np.ndarray:
        """Indices of the rows (of ``num_rows``) to keep; counts them as seen."""
        with self._lock:
            self.counts["rows_seen"] += num_rows
            if self.sample_rate >= 1.0:
                return np.arange(num_rows)
            return np.flatnonzero(self._rng.random(num_rows) < self.sample_rate)

    def log(self, table: pa.Table) -> int:
        """Sample ``table``'s rows and buffer the kept ones; return how many were kept."""
        keep = self.sample(table.num_rows)
        if len(keep):
            self.write(table.take(pa.array(keep)))
        return len(keep)

    def write(self, rows: pa.Table) -> None:
        """Buffer already-sampled ``rows``; write a file once ``rows_per_file`` are held."""
        if rows.num_rows == 0:
            return
        with self._lock:
            self._buffer.append(rows)
            self._buffered += rows.num_rows
            self.counts["rows_logged"] += rows.num_rows
            if self._buffered >= self.rows_per_file:
                self._flush_locked()

    def flush(self) -> None:
        """Write the buffered rows now (no file when none are held)."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        """Flush; called at interpreter exit too."""
        self.flush()

    def _flush_locked(self) -> None:
        if not self._buffer:
            return
        table = pa.concat_tables(self._buffer, promote_options="permissive")
        self._buffer, self._buffered = [], 0
        span = utc_day_span() if self.span is None else self.span
        folder = os.path.join(self.directory, f"span-{span}")
        os.makedirs(folder, exist_ok=True)
        number = self.counts["files_written"]
        path = os.path.join(folder, f"requests-{os.getpid()}-{time.time_ns()}-{number:05d}.parquet")
        pq.write_table(table, path + ".tmp")
        os.replace(path + ".tmp", path)
        self.counts["files_written"] += 1
