"""``FnArgs``: what a user's ``run_fn(fn_args)`` (Trainer) or trial function (Tuner) receives.

Field names follow TFX's ``fn_args_utils.FnArgs``. The helpers load splits as Arrow tables
or device tensors and save a serving bundle, so a ``run_fn`` stays short. torch is imported
only by the helpers that need it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

from gristmill.metadata.errors import DataError
from gristmill.metadata.types import Artifact


def _no_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Default metrics sink: discard."""


@dataclass
class FnArgs:
    """Inputs of a training function.

    Attributes:
        train_files: Parquet files of the train split(s).
        eval_files: Parquet files of the eval split(s).
        train_steps: Optimizer steps to train for (``None``: epochs decide).
        eval_steps: Batches to evaluate on (``None``: all).
        schema_path: ``schema.yaml`` of the Schema input, if any.
        transform_graph_path: The TransformGraph directory, if any.
        serving_model_dir: Write the serving bundle here (the Model artifact).
        model_run_dir: Write curves and logs here (the ModelRun artifact).
        base_model: A previous Model artifact's directory for warm start, if any.
        hyperparameters: Merged hyperparameters: the Trainer's config, then the
            HyperParameters input (tuned values win).
        custom_config: The component's ``custom_config``.
        label_key: The label column (from the hyperparameters), if known.
        examples_are_transformed: The splits hold the transform's outputs already.
        working_dir: Scratch directory.
        log_metrics: ``log_metrics(metrics, step=epoch)`` sends a curve point to the UI.
    """

    train_files: list[str]
    eval_files: list[str]
    serving_model_dir: str
    model_run_dir: str
    train_steps: int | None = None
    eval_steps: int | None = None
    schema_path: str | None = None
    transform_graph_path: str | None = None
    base_model: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    custom_config: dict[str, Any] = field(default_factory=dict)
    label_key: str | None = None
    examples_are_transformed: bool = False
    working_dir: str = ""
    log_metrics: Callable[..., None] = _no_metrics

    def train_table(self, columns: list[str] | None = None) -> pa.Table:
        """The train split as one Arrow table."""
        from gristmill.engine.data import read_table

        return read_table(self.train_files, columns)

    def eval_table(self, columns: list[str] | None = None) -> pa.Table:
        """The eval split as one Arrow table."""
        from gristmill.engine.data import read_table

        return read_table(self.eval_files, columns)

    def load_transform(self) -> Any:
        """The ``FittedTransform`` of the TransformGraph input, or ``None``."""
        if not self.transform_graph_path:
            return None
        from gristmill.engine.transform_fn import FittedTransform

        return FittedTransform.load(self.transform_graph_path)

    def prepare(self, label_key: str | None = None, task: str | None = None) -> Any:
        """Fit the feature encoding and label spec on the train split (engine ``Prepared``)."""
        from gristmill.engine.tabular import fit_encoding

        return fit_encoding(self.train_files, label_key or self._label(), task,
                            self.load_transform(), self.examples_are_transformed)

    def tensors(self, split: str, prepared: Any, device: Any = None) -> Any:
        """A split (``"train"``/``"eval"``) as device-resident ``TensorData``."""
        from gristmill.engine.device import select_device
        from gristmill.engine.tabular import to_tensor_data

        table = self.train_table() if split == "train" else self.eval_table()
        return to_tensor_data(table, prepared, select_device(device), split=split)

    def save_bundle(self, model: Any, prepared: Any, exports: tuple[str, ...] = ("onnx",),
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write ``model`` with its encoding as a serving bundle into ``serving_model_dir``."""
        from gristmill.engine.serving import save_bundle

        return save_bundle(self.serving_model_dir, model, prepared.encoder, prepared.label,
                           self.raw_features(prepared), transform_uri=self.transform_graph_path,
                           exports=exports, extra=extra)

    def raw_features(self, prepared: Any) -> list[dict[str, str]]:
        """``[{"name", "type"}]`` of the raw inputs a bundle will take (label excluded)."""
        from gristmill.engine.tabular import raw_feature_spec, source_schema

        transform = getattr(prepared.encoder, "transform", None)
        if transform is not None:
            return [{"name": f.name, "type": f.arrow_type or f.type}
                    for f in transform.raw_features if f.name != prepared.label.key]
        return raw_feature_spec(source_schema(self.train_files), [prepared.label.key])

    def _label(self) -> str:
        if not self.label_key:
            raise ValueError("FnArgs.label_key is not set; pass label_key= or set "
                             "hyperparameters={'label_key': ...} on the Trainer")
        return self.label_key

    def to_json(self, path: str) -> None:
        """Write the plain fields (not ``log_metrics``) as JSON, e.g. for torchrun workers."""
        data = {k: v for k, v in asdict(self).items() if k != "log_metrics"}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)

    @classmethod
    def from_json(cls, path: str) -> FnArgs:
        """Inverse of :meth:`to_json`."""
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))


def split_files(uri: str) -> list[str]:
    """Parquet files under one split directory (``Split-<name>/``), sorted."""
    from glob import glob

    return sorted(glob(os.path.join(uri, "**", "*.parquet"), recursive=True))

HYPERPARAMETERS_FILE = "best_hyperparameters.json"


def first_artifact(input_dict: dict[str, list[Artifact]], key: str) -> Artifact | None:
    """The first artifact of input ``key``, or ``None`` when the input is absent."""
    items = input_dict.get(key) or []
    return items[0] if items else None


def resolve_split_files(examples: Artifact, splits: list[str], arg: str,
                        required: bool = True) -> list[str]:
    """Parquet files of ``splits``; a required split without files raises ``DataError``."""
    files: list[str] = []
    for split in splits:
        found = split_files(examples.split_uri(split))  # type: ignore[attr-defined]
        if not found and required:
            raise DataError(
                f"Trainer: no Parquet files for split {split!r} under "
                f"{examples.split_uri(split)}; the examples have splits "  # type: ignore[attr-defined]
                f"{examples.splits}.", uri=examples.uri,  # type: ignore[attr-defined]
                fix=f"set {arg}=...(splits=[...]) to one of {examples.splits}")  # type: ignore
        files += found
    return files
