"""Label handling: task inference, class vocabularies, regression target scaling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Integer labels with at most this many distinct values may be classes (see infer_task).
MAX_INTEGER_CLASSES = 20
#: ... and only when each class has on average at least this many labelled rows.
MIN_ROWS_PER_INTEGER_CLASS = 2


@dataclass
class LabelSpec:
    """How labels map to model targets and back.

    Attributes:
        key: The label column.
        task: ``"classification"`` or ``"regression"``.
        classes: Class values (JSON scalars) in output order; empty for regression.
        arrow_type: The label column's Arrow type as a string (``"string"``, ``"int64"``).
        target_mean: Regression targets are standardized with this mean ...
        target_std: ... and this standard deviation; predictions are scaled back.
        class_counts: Training examples per class, in class order.
    """

    key: str
    task: str
    classes: list[Any] = field(default_factory=list)
    arrow_type: str = "string"
    target_mean: float = 0.0
    target_std: float = 1.0
    class_counts: list[int] = field(default_factory=list)

    @property
    def num_outputs(self) -> int:
        """Model output width: number of classes, or 1 for regression."""
        return len(self.classes) if self.task == "classification" else 1

    @classmethod
    def fit(cls, column: pa.ChunkedArray | pa.Array, key: str,
            task: str | None = None) -> LabelSpec:
        """Infer the task (unless given) and learn classes or target scaling from ``column``.

        Raises:
            ValueError: The column has no non-null values, or a regression label is not numeric.
        """
        values = pc.drop_null(column)
        if len(values) == 0:
            raise ValueError(f"label column {key!r} has no non-null values")
        task = task or infer_task(column.type, values)
        if task == "classification":
            vc = pc.value_counts(values)
            pairs = sorted(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(),
                               strict=True),
                           key=lambda kv: kv[0])
            return cls(key, task, [v for v, _ in pairs], str(column.type),
                       class_counts=[n for _, n in pairs])
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                or pa.types.is_decimal(column.type)):
            raise ValueError(f"regression label {key!r} must be numeric, got {column.type}")
        arr = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        std = float(arr.std()) or 1.0
        return cls(key, task, [], str(column.type), float(arr.mean()), std)

    def encode(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Targets for training: int64 class ids (-1 = null/unknown) or standardized float32."""
        if self.task == "classification":
            ids = pc.index_in(column, value_set=pa.array(self.classes, type=column.type))
            return pc.fill_null(ids, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        arr = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        return ((arr - self.target_mean) / self.target_std).astype(np.float32)

    def decode(self, outputs: np.ndarray) -> dict[str, pa.Array]:
        """Model outputs ``[n, k]`` -> prediction columns (labels + probabilities, or values)."""
        if self.task == "classification":
            z = outputs - outputs.max(axis=1, keepdims=True)
            probs = np.exp(z)
            probs /= probs.sum(axis=1, keepdims=True)
            labels = self.class_array().take(pa.array(probs.argmax(axis=1)))
            flat = pa.array(probs.astype(np.float32).ravel())
            offsets = pa.array(np.arange(0, probs.size + 1, probs.shape[1], dtype=np.int32))
            return {"prediction": labels,
                    "probabilities": pa.ListArray.from_arrays(offsets, flat)}
        values = outputs[:, 0].astype(np.float64) * self.target_std + self.target_mean
        return {"prediction": pa.array(values, pa.float64())}

    def class_array(self) -> pa.Array:
        """The classes as an Arrow array of the label's type."""
        return pa.array(self.classes, type=_parse_type(self.arrow_type))

    def to_config(self) -> dict[str, Any]:
        """JSON-ready form for ``bundle.json``."""
        return {"key": self.key, "task": self.task, "classes": self.classes,
                "arrow_type": self.arrow_type, "target_mean": self.target_mean,
                "target_std": self.target_std, "class_counts": self.class_counts}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LabelSpec:
        """Inverse of :meth:`to_config`."""
        return cls(**config)


def infer_task(arrow_type: pa.DataType, values: pa.Array | pa.ChunkedArray) -> str:
    """The task a label's type and values suggest (when ``task`` is not given).

    Strings and booleans are classes; floats and decimals are regression. Integers are
    classes when they are binary (at most 2 distinct values), or when they have at most
    :data:`MAX_INTEGER_CLASSES` distinct values and at least
    :data:`MIN_ROWS_PER_INTEGER_CLASS` labelled rows per distinct value on average; otherwise
    regression (51 rows with 50 distinct incomes are amounts, not 50 classes).
    """
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "regression"
    if pa.types.is_integer(arrow_type):
        distinct = pc.count_distinct(values).as_py()
        present = len(values) - values.null_count
        few = (distinct <= MAX_INTEGER_CLASSES
               and distinct * MIN_ROWS_PER_INTEGER_CLASS <= present)
        return "classification" if distinct <= 2 or few else "regression"
    return "classification"


_SIMPLE_TYPES = {str(t): t for t in (
    pa.string(), pa.large_string(), pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(),
    pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64(), pa.float32(), pa.float64(), pa.binary())}


def _parse_type(name: str) -> pa.DataType:
    if name in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[name]
    if name.startswith("dictionary<values=string"):
        return pa.string()
    return pa.string()
