"""Turn Arrow columns into model inputs: numeric matrix, categorical ids, labels.

Two encoders share one interface: :class:`RawFeatureEncoder` (fitted here from the train
split: numerics pass through, strings get a vocabulary) and :class:`TransformFeatureEncoder`
(wraps the Transform component's ``FittedTransform``). Both serialize to ``bundle.json``.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class EncodedColumns:
    """Per-column NumPy arrays (zero-copy views of Arrow buffers where Arrow allows)."""

    numeric: list[np.ndarray]
    categorical: list[np.ndarray]
    num_rows: int


def numeric_column(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """float32 view of ``col``; nulls become NaN. No copy for a float32 column without nulls."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if col.type != pa.float32():
        col = pc.cast(col, pa.float32())
    if col.null_count:
        col = pc.fill_null(col, float("nan"))
    return col.to_numpy(zero_copy_only=False)


def id_column(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """int64 ids of an already-encoded categorical column; nulls become -1."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if col.null_count:
        col = pc.fill_null(col, -1)
    if col.type != pa.int64():
        col = pc.cast(col, pa.int64())
    return col.to_numpy(zero_copy_only=False)


def is_categorical_type(t: pa.DataType) -> bool:
    """Strings, binaries and dictionaries are encoded with a vocabulary."""
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_dictionary(t) or pa.types.is_string_view(t))


def is_numeric_type(t: pa.DataType) -> bool:
    """Integers, floats, decimals and booleans feed the numeric matrix."""
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t))


@dataclass
class RawFeatureEncoder:
    """Encodes raw columns without a TransformGraph.

    Attributes:
        numeric_names: Columns fed as numerics (the model standardizes them).
        categorical_names: Columns looked up in a vocabulary.
        vocabularies: Vocabulary per categorical column, most frequent first.
        skipped: Column name -> why it is not a feature (e.g. a list column).
    """

    numeric_names: list[str]
    categorical_names: list[str]
    vocabularies: dict[str, list[str]]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def cardinalities(self) -> list[int]:
        """Vocabulary size per categorical column."""
        return [len(self.vocabularies[n]) for n in self.categorical_names]

    @classmethod
    def fit(cls, batches: Iterable[pa.Table | pa.RecordBatch], exclude: Sequence[str] = (),
            categorical: Sequence[str] = (), max_vocab_size: int = 100_000,
            min_frequency: int = 1) -> RawFeatureEncoder:
        """Learn vocabularies from training data (one pass, batch by batch).

        Args:
            batches: Tables or record batches of the train split.
            exclude: Columns that are not features (the label, weights, ids).
            categorical: Numeric columns to treat as categorical anyway (e.g. integer codes).
            max_vocab_size: Keep at most this many most-frequent values per column.
            min_frequency: Drop values seen fewer times (they map to the OOV id).
        """
        counts: dict[str, collections.Counter] = {}
        numeric, cats, skipped, schema = [], [], {}, None
        for batch in batches:
            if schema is None:
                schema = batch.schema
                for f in schema:
                    if f.name in exclude:
                        continue
                    if is_categorical_type(f.type) or f.name in categorical:
                        cats.append(f.name)
                        counts[f.name] = collections.Counter()
                    elif is_numeric_type(f.type):
                        numeric.append(f.name)
                    else:
                        skipped[f.name] = f"type {f.type} is neither numeric nor string"
            for name in cats:
                vc = pc.value_counts(pc.cast(batch.column(name), pa.string()))
                for value, n in zip(vc.field("values").to_pylist(),
                                    vc.field("counts").to_pylist(), strict=True):
                    if value is not None:
                        counts[name][value] += n
        vocabs = {name: [v for v, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
                         if n >= min_frequency][:max_vocab_size] for name, c in counts.items()}
        return cls(numeric, cats, vocabs, skipped)

    def encode(self, table: pa.Table | pa.RecordBatch) -> EncodedColumns:
        """Encode a table's feature columns (missing columns become NaN / OOV)."""
        n = table.num_rows
        nums = [numeric_column(table.column(c)) if c in table.column_names
                else np.full(n, np.nan, np.float32) for c in self.numeric_names]
        cats = []
        for name in self.categorical_names:
            if name not in table.column_names:
                cats.append(np.full(n, -1, np.int64))
                continue
            col = pc.cast(table.column(name), pa.string())
            ids = pc.index_in(col, value_set=pa.array(self.vocabularies[name], pa.string()))
            cats.append(id_column(ids))
        return EncodedColumns(nums, cats, n)

    def encode_records(self, records: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Fast path for a few records as dicts: ``(numeric [n, F], categorical [n, C])``."""
        index = self._index()
        numeric = np.array([[_to_float(r.get(c)) for c in self.numeric_names] for r in records],
                           dtype=np.float32).reshape(len(records), len(self.numeric_names))
        cats = np.array([[index[c].get(_to_str(r.get(c)), -1) for c in self.categorical_names]
                         for r in records], dtype=np.int64)
        return numeric, cats.reshape(len(records), len(self.categorical_names))

    def _index(self) -> dict[str, dict[str, int]]:
        if not hasattr(self, "_lookup"):
            self._lookup = {n: {v: i for i, v in enumerate(vocab)}
                            for n, vocab in self.vocabularies.items()}
        return self._lookup

    def to_config(self) -> dict[str, Any]:
        """JSON-ready form for ``bundle.json``."""
        return {"kind": "raw", "numeric": self.numeric_names, "categorical": self.categorical_names,
                "vocabularies": self.vocabularies, "skipped": self.skipped}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RawFeatureEncoder:
        """Inverse of :meth:`to_config`."""
        return cls(list(config["numeric"]), list(config["categorical"]),
                   {k: list(v) for k, v in config["vocabularies"].items()},
                   dict(config.get("skipped", {})))


def _to_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _to_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class TransformFeatureEncoder:
    """Encodes through a fitted transform (``gristmill.engine.transform_fn.FittedTransform``).

    Numeric outputs with a shape (``one_hot`` gives ``[depth]``) are flattened into one
    column per element. Passthrough outputs and the label are not model inputs.

    Args:
        transform: A loaded ``FittedTransform``.
        label_key: The label's name (raw or transformed), never a model input.
        inputs_are_transformed: Training tables already hold the transform's outputs (the
            Transform component's ``transformed_examples``); serving always transforms.
    """

    def __init__(self, transform: Any, label_key: str | None = None,
                 inputs_are_transformed: bool = False):
        self.transform = transform
        self.inputs_are_transformed = inputs_are_transformed
        feats = [f for f in transform.output_features if f.name != label_key]
        self.skipped = {f.name: "passthrough output (not a model input)"
                        for f in feats if f.kind not in ("numeric", "categorical")}
        self._numeric = [f for f in feats if f.kind == "numeric"]
        cats = [f for f in feats if f.kind == "categorical"]
        self.numeric_names = [n for f in self._numeric for n in _element_names(f)]
        self.categorical_names = [f.name for f in cats]
        self.cardinalities = [int(f.vocab_size or 0) for f in cats]

    def encode(self, table: pa.Table | pa.RecordBatch, raw: bool = True) -> EncodedColumns:
        """Encode ``table``; ``raw=False`` when it already holds transformed columns."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if raw and not self.inputs_are_transformed:
            table = self.transform.transform(table)
        n = table.num_rows
        nums: list[np.ndarray] = []
        for f in self._numeric:
            width = len(_element_names(f))
            if f.name not in table.column_names:
                nums += [np.full(n, np.nan, np.float32)] * width
            elif f.shape:
                flat = numeric_column(pc.list_flatten(table.column(f.name)))
                nums += list(flat.reshape(n, width).T)
            else:
                nums.append(numeric_column(table.column(f.name)))
        cats = [id_column(table.column(c)) if c in table.column_names
                else np.full(n, -1, np.int64) for c in self.categorical_names]
        return EncodedColumns(nums, cats, n)

    def encode_records(self, records: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Records as dicts -> ``(numeric, categorical)`` arrays, through the transform."""
        table = pa.Table.from_pylist(list(records))
        saved, self.inputs_are_transformed = self.inputs_are_transformed, False
        try:
            enc = self.encode(table)
        finally:
            self.inputs_are_transformed = saved
        return stack_columns(enc)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready form for ``bundle.json`` (the transform itself is copied to transform/)."""
        return {"kind": "transform", "numeric": self.numeric_names,
                "categorical": self.categorical_names, "cardinalities": self.cardinalities,
                "skipped": self.skipped}


def _element_names(feature: Any) -> list[str]:
    width = int(np.prod(feature.shape)) if feature.shape else 0
    return [f"{feature.name}[{i}]" for i in range(width)] if width else [feature.name]


def stack_columns(enc: EncodedColumns) -> tuple[np.ndarray, np.ndarray]:
    """Row-major ``(numeric [n, F] float32, categorical [n, C] int64)`` from per-column arrays."""
    numeric = (np.stack(enc.numeric, axis=1) if enc.numeric
               else np.zeros((enc.num_rows, 0), np.float32))
    cats = (np.stack(enc.categorical, axis=1) if enc.categorical
            else np.zeros((enc.num_rows, 0), np.int64))
    return numeric.astype(np.float32, copy=False), cats.astype(np.int64, copy=False)
