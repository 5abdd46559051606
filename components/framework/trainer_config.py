"""``TrainerConfig``: the typed hyperparameters of the Trainer's no-code default path.

The Tuner searches over these same names and writes the best values to
``best_hyperparameters.json``; the Trainer merges them over its own config.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic


class TrainerConfig(pydantic.BaseModel):
    """Hyperparameters of the built-in training path (all optional but ``label_key``).

    Attributes:
        label_key: The label column.
        task: ``classification`` or ``regression`` (default: inferred from the label).
        model: Built-in model, ``mlp`` or ``wide_deep``.
        hidden_units: Hidden layer widths.
        dropout: Dropout after each hidden layer.
        embedding_dims: Embedding width per categorical feature (default: rule of thumb).
        categorical_features: Raw columns to treat as categorical (e.g. integer codes).
            With a TransformGraph the transform decides: names that are categorical
            outputs are accepted, any other name is refused with a ConfigError.
        weight_key: Column of per-example weights.
        epochs, batch_size, learning_rate, weight_decay, clip_grad_norm, lr_schedule,
        warmup_steps: Optimization (AdamW, fused).
        early_stopping_patience, early_stopping_metric, restore_best: Early stopping.
        class_weights: ``None``, ``"balanced"`` or one weight per class.
        precision: ``auto`` (bf16 autocast on CUDA), ``bf16`` or ``fp32``.
        compile: ``torch.compile`` on CUDA.
        seed, deterministic: Reproducibility: on the CPU the same data, config and seed
            give bit-identical weights; on a GPU ``deterministic=True`` is needed too
            (deterministic kernels for the fit; see docs/components/trainer.md).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        data_residency: ``auto`` (on the device when it fits), ``device`` or ``stream``.
        exports: Extra serving formats to write (default ``["onnx"]``): ``program``
            (torch.export ``program.pt2``, opt-in: Gristmill never loads it), ``onnx``
            (``model.onnx``: raw columns in, fitted transform and model inside; plus
            ``model_tensors.onnx``), ``onnx_int8`` (also ``model_int8.onnx``, int8 weights,
            and ``edge_report.json``: size, accuracy against float, one-record latency).
        examples_are_transformed: The examples hold the transform's outputs (default: true
            when they come from Transform's ``transformed_examples``).
        checkpoint_dir: Where to checkpoint; a stable path resumes an interrupted run of the
            same training (same data, hyperparameters and initial weights); another run's
            checkpoint there is discarded with a warning, training starts fresh, and
            ``stale_checkpoint_discarded`` is logged (default: ``<model_run>/checkpoints``).
        distributed: ``auto`` uses DDP over all local GPUs when there are several; ``off``.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    label_key: str | None = None
    task: Literal["classification", "regression"] | None = None
    model: Literal["mlp", "wide_deep"] = "mlp"
    hidden_units: list[int] = [64, 32]
    dropout: float = pydantic.Field(0.0, ge=0.0, lt=1.0)
    embedding_dims: list[int] | None = None
    categorical_features: list[str] = []
    weight_key: str | None = None
    epochs: int = pydantic.Field(20, ge=1)
    batch_size: int = pydantic.Field(256, ge=1)
    learning_rate: float = pydantic.Field(1e-3, gt=0.0)
    weight_decay: float = pydantic.Field(1e-2, ge=0.0)
    clip_grad_norm: float | None = None
    lr_schedule: Literal["constant", "cosine", "linear", "step"] = "constant"
    warmup_steps: int = 0
    early_stopping_patience: int | None = 5
    early_stopping_metric: str = "val_loss"
    restore_best: bool = True
    class_weights: Literal["balanced"] | list[float] | None = None
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    compile: bool = False
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    data_residency: Literal["auto", "device", "stream"] = "auto"
    exports: list[Literal["program", "onnx", "onnx_int8"]] = ["onnx"]
    examples_are_transformed: bool | None = None
    checkpoint_dir: str | None = None
    distributed: Literal["auto", "off"] = "auto"

    def merged(self, overrides: dict[str, Any]) -> TrainerConfig:
        """A copy with ``overrides`` (e.g. tuned values) applied and validated."""
        return TrainerConfig.model_validate({**self.model_dump(), **overrides})

    def train_config(self, checkpoint_dir: str | None, max_steps: int | None,
                     eval_steps: int | None) -> Any:
        """The engine's ``TrainConfig`` for these hyperparameters."""
        from gristmill.engine.training import TrainConfig

        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
            weight_decay=self.weight_decay, clip_grad_norm=self.clip_grad_norm,
            lr_schedule=self.lr_schedule, warmup_steps=self.warmup_steps,
            early_stopping_patience=self.early_stopping_patience,
            early_stopping_metric=self.early_stopping_metric, restore_best=self.restore_best,
            checkpoint_dir=self.checkpoint_dir or checkpoint_dir,
            class_weights=self.class_weights, compile=self.compile, precision=self.precision,
            seed=self.seed, deterministic=self.deterministic, max_steps=max_steps,
            eval_steps=eval_steps)

    def model_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the built-in model."""
        return {"hidden_units": list(self.hidden_units), "dropout": self.dropout,
                "embedding_dims": self.embedding_dims}


class TrainArgs(pydantic.BaseModel):
    """Which splits to train on and for how many steps (``None``: the config's epochs)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    splits: list[str] = ["train"]
    num_steps: int | None = None


class EvalArgs(pydantic.BaseModel):
    """Which splits to evaluate on each epoch and on how many batches (``None``: all)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    splits: list[str] = ["eval"]
    num_steps: int | None = None
