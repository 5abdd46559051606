"""Pydantic models of dataset statistics: what StatisticsGen writes, what others read.

One file per split, ``<statistics uri>/Split-<name>/statistics.json``, holding a
:class:`DatasetStatistics`. Use :func:`load_statistics` / :func:`save_statistics`.

The models are frozen: :func:`load_statistics` keeps the statistics of the last files it read
or :func:`save_statistics` wrote, keyed by the SHA-256 of their bytes (StatisticsGen, SchemaGen
and ExampleValidator read the same files in turn; parsing takes 0.15-0.5 s per 5,000
columns), so one loaded object may be shared by several readers.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Literal

import pydantic

FeatureType = Literal["INT", "FLOAT", "STRING", "BYTES", "BOOL", "OTHER"]

STATISTICS_FILE = "statistics.json"


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while building large, acyclic statistics.

    Building 100,000 small objects (one split of 5,000 columns) triggers repeated full
    collections over everything alive: a third of the time of reading or writing wide
    statistics. Statistics hold no reference cycles, so nothing is left for the collector.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Indexed(_Model):
    """Looks features up by name through a dict (a linear scan per lookup made wide data
    quadratic: 5,000 columns, 25M comparisons per report). The index is rebuilt when the
    ``features`` list is replaced or changes length."""

    _index: tuple | None = pydantic.PrivateAttr(default=None)

    def feature(self, name: str) -> FeatureStatistics | None:
        """The statistics of ``name``, or ``None`` when absent."""
        features = self.features
        private = self.__pydantic_private__  # a plain dict: `self._index` costs ~5 us a call
        index = private["_index"]
        if index is None or index[0] is not features or index[1] != len(features):
            index = (features, len(features), {f.name: f for f in reversed(features)})
            private["_index"] = index
        return index[2].get(name)


class Bucket(_Model):
    """One histogram bucket: values in [low, high) (the last bucket includes high)."""

    low: float
    high: float
    count: float


class Histogram(_Model):
    """A histogram: ``kind`` is ``"standard"`` (equal width) or ``"quantiles"``."""

    kind: Literal["standard", "quantiles"]
    buckets: list[Bucket]


class NumericStatistics(_Model):
    """Figures over a numeric feature's non-null values.

    Moments, min and max are over finite values; NaN and +/-Inf are only counted.
    Quantiles come from a KLL sketch: ``quantiles[i]`` is the value at rank ``i / 100``.
    """

    mean: float | None = None
    std_dev: float | None = None
    min: float | None = None
    max: float | None = None
    median: float | None = None
    num_zeros: int = 0
    num_nan: int = 0
    num_pos_inf: int = 0
    num_neg_inf: int = 0
    quantiles: list[float] = []
    histograms: list[Histogram] = []
    weighted_mean: float | None = None
    weighted_std_dev: float | None = None

    def histogram(self, kind: str = "standard") -> Histogram | None:
        """The histogram of ``kind``, if computed."""
        return next((h for h in self.histograms if h.kind == kind), None)


def rebin_histogram(hist: Histogram, edges: Sequence[float]) -> list[float]:
    """Mass of ``hist`` in each interval of ``edges``, assuming uniform mass in a bucket.

    A zero-width bucket (a constant column) is a point mass: it goes to the interval that
    holds its value (the last interval includes its upper edge).

    Args:
        hist: Any histogram.
        edges: Increasing interval edges (at least two).
    """
    mass = [0.0] * (len(edges) - 1)
    for bucket in hist.buckets:
        if bucket.high <= bucket.low:
            i = bisect.bisect_right(edges, bucket.low) - 1
            mass[min(max(i, 0), len(mass) - 1)] += bucket.count
            continue
        for i in range(len(mass)):
            # halves: widths stay finite even for buckets spanning -1e308..1e308
            overlap = min(edges[i + 1], bucket.high) / 2 - max(edges[i], bucket.low) / 2
            if overlap > 0:
                mass[i] += bucket.count * overlap / (bucket.high / 2 - bucket.low / 2)
    return mass


class ValueCount(_Model):
    """A value and how often it occurs (weighted counts in ``weighted_count``)."""

    value: str
    count: float
    weighted_count: float | None = None


class StringStatistics(_Model):
    """Figures over a string feature's non-null values.

    ``unique`` is exact when ``unique_is_exact`` (up to the configured bound), else a
    HyperLogLog estimate; ``top_values`` are exact when ``top_values_exact``.
    ``value_counts`` lists every value while exact (used for domains and drift).
    """

    unique: int = 0
    unique_is_exact: bool = True
    avg_length: float | None = None
    top_values: list[ValueCount] = []
    top_values_exact: bool = True
    value_counts: list[ValueCount] | None = None


class FeatureStatistics(_Model):
    """Statistics of one feature (column).

    Attributes:
        name: Column name.
        type: Logical type (``INT``, ``FLOAT``, ``STRING``, ``BYTES``, ``BOOL``, ``OTHER``).
        arrow_type: The Arrow type as written by ExampleGen, e.g. ``"int64"``.
        num_present: Rows where the feature is not null.
        num_missing: Rows where it is null.
        min_num_values / max_num_values / avg_num_values: Values per row (lists; 1 for
            scalars).
        is_list: Whether the column holds lists.
    """

    name: str
    type: FeatureType
    arrow_type: str
    num_present: int = 0
    num_missing: int = 0
    min_num_values: int | None = None
    max_num_values: int | None = None
    avg_num_values: float | None = None
    is_list: bool = False
    num_values: int = 0
    numeric: NumericStatistics | None = None
    string: StringStatistics | None = None

    @property
    def present_fraction(self) -> float:
        """Fraction of rows where the feature is present (1.0 on an empty split)."""
        total = self.num_present + self.num_missing
        return self.num_present / total if total else 1.0


class SliceStatistics(_Indexed):
    """Statistics of the rows of one slice (``"All"`` or ``"feature=value"``)."""

    slice: str = "All"
    num_examples: int = 0
    weighted_num_examples: float | None = None
    features: list[FeatureStatistics] = []


class DatasetStatistics(_Indexed):
    """Statistics of one split: the whole split plus optional slices.

    Attributes:
        split: The split name.
        num_examples: Rows in the split.
        weight_feature: The weight column, when weighted statistics were asked for.
        features: Per-feature statistics over all rows.
        slices: Per-slice statistics (``slice_features`` of ``StatsOptions``).
        quantile_sample_rate: Fraction of rows fed to the quantile sketches.
    """

    version: int = 1
    split: str
    num_examples: int = 0
    weighted_num_examples: float | None = None
    weight_feature: str | None = None
    features: list[FeatureStatistics] = []
    slices: list[SliceStatistics] = []
    quantile_sample_rate: float = 1.0

    @property
    def feature_names(self) -> list[str]:
        """Column names in file order."""
        return [f.name for f in self.features]


class _RecentFiles:
    """The statistics of the files last read or written, keyed by the SHA-256 of the
    file's bytes (10 ms per 15 MB; parsing them takes 150-500 ms): a file changed in any
    way since, even within one timestamp tick and at the same size, is parsed again, and a
    file moved unchanged (the launcher promotes outputs from a staging directory) is not.
    Bounded in file bytes (a parsed file takes ~4x its size in memory) and entries;
    thread-safe."""

    MAX_BYTES = 64 << 20
    MAX_ENTRIES = 8

    def __init__(self):
        self._entries: OrderedDict[bytes, tuple[int, DatasetStatistics]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, data: bytes) -> DatasetStatistics | None:
        digest = hashlib.sha256(data).digest()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            self._entries.move_to_end(digest)
            return entry[1]

    def put(self, data: bytes, stats: DatasetStatistics) -> None:
        if len(data) > self.MAX_BYTES:
            return
        digest = hashlib.sha256(data).digest()
        with self._lock:
            self._entries.pop(digest, None)
            self._entries[digest] = (len(data), stats)
            while (len(self._entries) > self.MAX_ENTRIES
                   or sum(size for size, _ in self._entries.values()) > self.MAX_BYTES):
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_recent = _RecentFiles()


def clear_statistics_cache() -> None:
    """Forget the statistics kept from recent reads and writes (the next load parses)."""
    _recent.clear()


def save_statistics(stats: DatasetStatistics, split_dir: str) -> str:
    """Write ``stats`` as ``<split_dir>/statistics.json``; return the path.

    ``stats`` is then what :func:`load_statistics` returns for that file while its bytes
    are unchanged, unless the JSON lost something (a non-finite float is written as
    ``null``): then the file is parsed on load like any other.
    """
    os.makedirs(split_dir, exist_ok=True)
    path = os.path.join(split_dir, STATISTICS_FILE)
    data = stats.model_dump_json(indent=1, exclude_none=True).encode()
    with open(path, "wb") as f:
        f.write(data)
    if b"null" not in data:  # None fields are left out: a null is a NaN or Inf made null
        _recent.put(data, stats)
    return path


def load_statistics(split_dir: str) -> DatasetStatistics:
    """Read ``<split_dir>/statistics.json``.

    The result may be shared with other readers of the same, unchanged file (see the
    module docstring): the models are frozen; do not change its lists either.

    Raises:
        gristmill.metadata.errors.DataError: The file is missing or not valid statistics.
    """
    from gristmill.metadata.errors import DataError

    path = os.path.join(split_dir, STATISTICS_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read()
        stats = _recent.get(data)
        if stats is None:
            with gc_paused():
                stats = DatasetStatistics.model_validate_json(data)
            _recent.put(data, stats)
        return stats
    except FileNotFoundError as e:
        raise DataError(f"statistics file {path} does not exist.", uri=split_dir,
                        fix="point at a Split-<name> directory of an ExampleStatistics "
                            "artifact written by StatisticsGen") from e
    except pydantic.ValidationError as e:
        raise DataError(f"{path} is not valid statistics: {e.errors()[0]['msg']} at "
                        f"{'.'.join(map(str, e.errors()[0]['loc']))}.", uri=split_dir,
                        fix="regenerate it with StatisticsGen") from e
