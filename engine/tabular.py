"""The no-code path: train a built-in tabular model on Arrow data and save a bundle.

``train_tabular`` ties the engine together (encoder, labels, device-resident or streamed
data, model, training loop) and is what the Trainer's default ``run_fn``, the Tuner's trials
and the benchmark call.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn

from gristmill.engine import data as data_mod
from gristmill.engine.device import memory_budget_bytes, select_device
from gristmill.engine.errors import ConfigError, DataError
from gristmill.engine.features import RawFeatureEncoder, TransformFeatureEncoder
from gristmill.engine.labels import LabelSpec
from gristmill.engine.models import build_model, init_parameters
from gristmill.engine.training import FitResult, TrainConfig, fit

log = logging.getLogger(__name__)

#: A split: an in-memory table or Parquet files.
Source = pa.Table | Sequence[str]


@dataclass
class Prepared:
    """Encoder and label spec fitted on the train split, plus row accounting."""

    encoder: Any
    label: LabelSpec
    skipped_rows: dict[str, int] = field(default_factory=dict)


def fit_encoding(train: Source, label_key: str, task: str | None = None,
                 transform: Any = None, inputs_are_transformed: bool = False,
                 categorical: Sequence[str] = (), exclude: Sequence[str] = ()) -> Prepared:
    """Fit the feature encoder (or wrap a fitted transform) and the label spec on ``train``.

    Raises:
        ConfigError: A name in ``categorical`` cannot be honoured (see
            :func:`check_categorical`).
    """
    if transform is not None:
        encoder: Any = TransformFeatureEncoder(transform, label_key, inputs_are_transformed)
    else:
        encoder = RawFeatureEncoder.fit(_iter_tables(train), exclude=[label_key, *exclude],
                                        categorical=categorical)
    columns = source_schema(train).names
    check_categorical(categorical, encoder, columns, [label_key, *exclude])
    check_has_features(encoder, columns, [label_key, *exclude])
    labels = pa.chunked_array([t.column(label_key) for t in _iter_tables(train, [label_key])])
    if pa.types.is_dictionary(labels.type):
        labels = labels.cast(labels.type.value_type)
    return Prepared(encoder, LabelSpec.fit(labels, label_key, task))


def check_categorical(categorical: Sequence[str], encoder: Any, columns: Sequence[str],
                      excluded: Sequence[str]) -> None:
    """Refuse ``categorical_features`` that the encoding would not honour.

    Raw encoding honours any feature column. Through a transform the model inputs are the
    transform's outputs and the transform decides which are categorical: a name that is
    already a categorical output is accepted, any other is refused (it would silently stay
    numeric).

    Raises:
        ConfigError: A name is the label/weight, not a column, or (with a transform) not a
            categorical output; the message says why and the fix.
    """
    wanted = list(dict.fromkeys(categorical))
    refused = [n for n in wanted if n in excluded]
    if refused:
        raise ConfigError(f"categorical_features={wanted}: {refused} is the label or the "
                          "weight column, not a model input.",
                          fix=f"remove {refused} from categorical_features")
    if isinstance(encoder, TransformFeatureEncoder):
        _check_transform_categorical(wanted, encoder)
        return
    unknown = [n for n in wanted if n not in columns]
    if unknown:
        hints = {n: difflib.get_close_matches(n, columns, 1) for n in unknown}
        hint = "; ".join(f"did you mean {h[0]!r} for {n!r}?" for n, h in hints.items() if h)
        raise ConfigError(f"categorical_features={wanted}: {unknown} are not columns of the "
                          f"train split (columns: {list(columns)}). {hint}".rstrip(),
                          fix="name feature columns of the train split")
    numeric = [n for n in wanted if n not in encoder.categorical_names]
    if numeric:
        raise ConfigError(f"categorical_features={wanted}: the encoding in use (a warm "
                          f"start keeps the base model's) treats {numeric} as numeric.",
                          fix="train without base_model to change which features are "
                              "categorical, or drop them from categorical_features")


def check_has_features(encoder: Any, columns: Sequence[str], reserved: Sequence[str]) -> None:
    """Refuse an encoding with no feature at all (a model needs at least one input).

    Raises:
        DataError: Neither a numeric nor a categorical feature is left once the label (and
            weight) are set aside.
    """
    if list(encoder.numeric_names) or list(encoder.cardinalities):
        return
    raise DataError(
        f"no feature columns to train on: the train split has columns {list(columns)}, and "
        f"{[c for c in reserved if c in columns]} are the label/weight, so the model would "
        "have no input",
        fix="add at least one feature column besides the label (a table with only the label "
            "cannot be learned from; a transform must output at least one feature)")


def _check_transform_categorical(wanted: list[str], encoder: TransformFeatureEncoder) -> None:
    outputs = {f.name: f.kind for f in encoder.transform.output_features}
    refused = [n for n in wanted if n not in encoder.categorical_names]
    if not refused:
        return
    why = "; ".join(f"{n!r} is a {outputs[n]} output" if n in outputs else
                    f"{n!r} is not an output of the transform" for n in refused)
    example = refused[0]
    raise ConfigError(
        f"categorical_features={wanted} cannot be honoured with a TransformGraph: the model "
        f"inputs are the transform's outputs and the transform decides which are categorical "
        f"({why}; categorical outputs: {encoder.categorical_names}).",
        fix=f"make it categorical in preprocessing_fn, e.g. \"{example}\": "
            f"gt.compute_and_apply_vocabulary(inputs[\"{example}\"]), and drop {refused} from "
            "categorical_features")


def _iter_tables(source: Source, columns: Sequence[str] | None = None):
    if isinstance(source, pa.Table):
        yield source.select(list(columns)) if columns else source
        return
    stream = data_mod.ParquetStream(source, columns, shuffle=False)
    yield from stream.tables()


def to_tensor_data(table: pa.Table, prepared: Prepared, device: torch.device,
                   weight_key: str | None = None, split: str = "train") -> data_mod.TensorData:
    """Encode ``table`` onto ``device``; rows with a null label are dropped and counted."""
    label = table.column(prepared.label.key)
    if pa.types.is_dictionary(label.type):
        label = label.cast(label.type.value_type)
    if label.null_count:
        keep = pc.is_valid(label)
        prepared.skipped_rows[split] = prepared.skipped_rows.get(split, 0) + label.null_count
        log.warning("%s: skipped %d rows with a null label %r", split, label.null_count,
                    prepared.label.key)
        table, label = table.filter(keep), label.filter(keep)
    encoded = prepared.encoder.encode(table)
    weight = (data_mod.numeric_column(table.column(weight_key)) if weight_key else None)
    return data_mod.TensorData.from_encoded(encoded, prepared.label.encode(label), device, weight)


def load_split(source: Source, prepared: Prepared, device: torch.device,
               residency: str = "auto", split: str = "train", seed: int = 0,
               weight_key: str | None = None) -> Any:
    """Resident ``TensorData`` when it fits on ``device`` (or is asked for), else streaming."""
    if isinstance(source, pa.Table):
        return to_tensor_data(source, prepared, device, weight_key, split)
    enc = prepared.encoder
    rows = data_mod.ParquetStream(source, shuffle=False).num_rows
    need = data_mod.estimated_bytes(rows, len(enc.numeric_names), len(enc.categorical_names))
    if residency == "device" or (residency == "auto" and need <= memory_budget_bytes(device)):
        return to_tensor_data(data_mod.read_table(source), prepared, device, weight_key, split)
    log.info("%s: %d rows (~%d MB) stream by row group", split, rows, need // 2**20)
    stream = data_mod.ParquetStream(source, shuffle=True, seed=seed)
    return data_mod.StreamingData(
        stream, lambda t: to_tensor_data(t, prepared, device, weight_key, split), device)


def read_if_resident(source: Source, device: torch.device, residency: str = "auto") -> Source:
    """Read Parquet files into one table when they will be device-resident anyway.

    One read then serves the encoder fit, the label spec and the tensors. The size test is
    conservative: every column counted at 8 bytes.
    """
    if isinstance(source, pa.Table) or residency == "stream":
        return source
    rows = data_mod.ParquetStream(source, shuffle=False).num_rows
    need = rows * (8 * len(source_schema(source)) + 12)
    if residency == "device" or need <= memory_budget_bytes(device):
        return data_mod.read_table(source)
    return source


def numeric_stats(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std of the numeric inputs, ignoring NaN (streams: one pass)."""
    total = count = sq = None
    parts = [data.numeric] if isinstance(data, data_mod.TensorData) else \
        (b.numeric for b in data.batches(65536))
    for x in parts:
        x = x.double()
        ok = ~torch.isnan(x)
        z = torch.where(ok, x, torch.zeros_like(x))
        s, c, q = z.sum(0), ok.sum(0).double(), (z * z).sum(0)
        total, count, sq = (s, c, q) if total is None else (total + s, count + c, sq + q)
    if total is None:
        return torch.zeros(0), torch.ones(0)
    mean = total / count.clamp_min(1)
    var = (sq / count.clamp_min(1) - mean**2).clamp_min(0)
    return mean.float(), var.sqrt().float()


def build_tabular_model(name: str, prepared: Prepared, hidden_units: Sequence[int] = (64, 32),
                        dropout: float = 0.0, embedding_dims: Sequence[int] | None = None,
                        ) -> nn.Module:
    """A built-in model sized for ``prepared``'s features and label."""
    enc = prepared.encoder
    return build_model(name, num_numeric=len(enc.numeric_names),
                       cardinalities=list(enc.cardinalities),
                       num_outputs=prepared.label.num_outputs, hidden_units=list(hidden_units),
                       dropout=dropout, embedding_dims=embedding_dims)


@dataclass
class TabularResult:
    """A trained model and everything needed to save it as a bundle."""

    model: nn.Module
    prepared: Prepared
    fit: FitResult
    device: torch.device


def train_tabular(train: Source, eval_data: Source | None, label_key: str, *,
                  model: str | nn.Module = "mlp", model_kwargs: dict[str, Any] | None = None,
                  config: TrainConfig | None = None, task: str | None = None,
                  transform: Any = None, inputs_are_transformed: bool = False,
                  device: str | torch.device | None = None, residency: str = "auto",
                  categorical: Sequence[str] = (), weight_key: str | None = None,
                  init_weights: dict[str, torch.Tensor] | None = None,
                  prepared: Prepared | None = None,
                  on_epoch_end: Callable[[int, dict[str, float]], Any] | None = None,
                  ) -> TabularResult:
    """Fit encoders, build (or take) a model, and train it.

    Args:
        train: The train split (table or Parquet files).
        eval_data: The eval split, or ``None``.
        label_key: The label column.
        model: ``"mlp"``, ``"wide_deep"`` or an ``nn.Module`` taking ``(numeric, categorical)``.
        model_kwargs: For built-in models: ``hidden_units``, ``dropout``, ``embedding_dims``.
        config: Training settings.
        task: ``classification``/``regression`` (default: inferred from the label).
        transform: A ``FittedTransform`` to encode through (default: raw encoding).
        inputs_are_transformed: The splits hold the transform's outputs already.
        device: Training device (default: CUDA, MPS, CPU).
        residency: ``auto``, ``device`` (always resident) or ``stream``.
        categorical: Numeric raw columns to treat as categorical.
        weight_key: Column of per-example weights.
        init_weights: Warm start: a state dict to load before training (shapes must match).
        prepared: Reuse this encoding instead of fitting one (warm start from a bundle).
        on_epoch_end: Per-epoch callback ``fn(epoch, metrics)``.
    """
    config = config or TrainConfig()
    device = select_device(device)
    train = read_if_resident(train, device, residency)
    eval_data = read_if_resident(eval_data, device, residency) if eval_data is not None else None
    exclude = [weight_key] if weight_key else []
    if prepared is None:
        prepared = fit_encoding(train, label_key, task, transform, inputs_are_transformed,
                                categorical, exclude)
    else:
        check_categorical(categorical, prepared.encoder, source_schema(train).names,
                          [label_key, *exclude])
    train_data = load_split(train, prepared, device, residency, "train", config.seed, weight_key)
    eval_tensors = (load_split(eval_data, prepared, device, residency, "eval", config.seed)
                    if eval_data is not None else None)
    net = _model_for(model, prepared, model_kwargs, config.seed).to(device)
    features = getattr(net, "features", None)
    if features is not None and hasattr(features, "set_normalization"):
        mean, std = numeric_stats(train_data)
        features.set_normalization(mean.to(device), std.to(device))
    if init_weights is not None:
        net.load_state_dict(init_weights)
    result = fit(net, train_data, eval_tensors, task=prepared.label.task, config=config,
                 device=device, class_counts=prepared.label.class_counts,
                 target_std=prepared.label.target_std, on_epoch_end=on_epoch_end)
    return TabularResult(net, prepared, result, device)


def _model_for(model: str | nn.Module, prepared: Prepared, model_kwargs: dict[str, Any] | None,
               seed: int) -> nn.Module:
    """The user's module as is, or a built-in one with initial weights drawn from ``seed``."""
    if isinstance(model, nn.Module):
        return model
    net = build_tabular_model(model, prepared, **(model_kwargs or {}))
    # A private generator: the process-wide RNG is shared with concurrent threads.
    init_parameters(net, seed)
    return net


def raw_feature_spec(schema: pa.Schema, exclude: Sequence[str]) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` of the raw columns a bundle takes (label and excluded left out)."""
    return [{"name": f.name, "type": str(f.type)} for f in schema if f.name not in exclude]


def source_schema(source: Source) -> pa.Schema:
    """The Arrow schema of a split."""
    if isinstance(source, pa.Table):
        return source.schema
    import pyarrow.parquet as pq

    return pq.read_schema(source[0])
