"""The serving bundle: the fitted transform and the model in one directory.

Layout (the ``Model`` artifact)::

    bundle.json          config: format_version, task, label_key, classes, raw features,
                         encoder, model class + kwargs, transformed feature names, exports
    weights.safetensors  the model's state dict (never a pickle)
    transform/           copy of the TransformGraph, when training used one
    program.pt2          torch.export program (opt-in: exports=["program", ...])
    model.onnx           raw-record ONNX graph: raw columns in, transform + model inside
                         (optional; see gristmill.engine.onnx_raw)
    model_tensors.onnx   ONNX graph on the encoded tensors (optional; backend="onnx")
    model_int8.onnx      int8-quantized model.onnx (optional) and edge_report.json
    mlflow_model/        MLflow pyfunc wrapper (written by the Trainer)

``load_bundle(uri).predict(table)`` takes raw records and returns predictions. Importing
this module does not import torch; loading a bundle with the torch backend does.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from gristmill.engine.errors import ConfigError
from gristmill.engine.features import RawFeatureEncoder, TransformFeatureEncoder, stack_columns
from gristmill.engine.labels import LabelSpec
from gristmill.engine.request_log import RequestLogger
from gristmill.engine.serving_input import (
    InputReport,
    clean_records,
    conform_table,
    model_raw_inputs,
    table_from_records,
)
from gristmill.engine.transform_fn import to_table

FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.json"
WEIGHTS_FILE = "weights.safetensors"
TRANSFORM_DIR = "transform"
BACKENDS = ("auto", "torch", "onnx")
#: Model classes any bundle may name; others must be trusted explicitly (see load_model).
BUILTIN_MODEL_CLASSES = ("gristmill.engine.models:TabularMLP", "gristmill.engine.models:WideDeep")
TRUSTED_CLASSES_ENV = "GRISTMILL_TRUSTED_MODEL_CLASSES"


def save_bundle(directory: str, model: Any, encoder: Any, label: LabelSpec,
                raw_features: Sequence[dict[str, str]], *, transform_uri: str | None = None,
                exports: Sequence[str] = ("onnx",),
                model_class: str | None = None, model_kwargs: dict[str, Any] | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a serving bundle to ``directory`` and return its ``bundle.json`` content.

    Args:
        directory: Output directory (created if missing).
        model: The trained ``nn.Module`` (moved to the CPU for export).
        encoder: A ``RawFeatureEncoder`` or ``TransformFeatureEncoder``.
        label: The fitted :class:`LabelSpec`.
        raw_features: ``[{"name", "type"}]`` of the raw inputs serving expects.
        transform_uri: TransformGraph directory to copy into ``transform/``.
        exports: Which of ``program``/``onnx``/``onnx_int8`` to attempt.
        model_class: ``"module:QualName"`` (default: the model's own class).
        model_kwargs: Constructor arguments (default: ``model.kwargs``).
        extra: More JSON to record (metrics, training config).
    """
    from safetensors.torch import save_file

    from gristmill.engine import export, models

    os.makedirs(directory, exist_ok=True)
    model = model.to("cpu").eval()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(directory, WEIGHTS_FILE))
    if transform_uri:
        shutil.copytree(transform_uri, os.path.join(directory, TRANSFORM_DIR), dirs_exist_ok=True)
    inputs = export.example_inputs(len(encoder.numeric_names), list(encoder.cardinalities))
    raw_inputs = model_raw_inputs({"raw_features": list(raw_features), "label_key": label.key},
                                  encoder)
    done, errors = export.export_all(model, inputs, directory, tuple(exports), encoder=encoder,
                                     label=label, raw_inputs=raw_inputs)
    config = {
        "format_version": FORMAT_VERSION, "task": label.task, "label_key": label.key,
        "classes": label.classes, "label": label.to_config(),
        "raw_features": [dict(f) for f in raw_features],
        "encoder": encoder.to_config(),
        "transform": TRANSFORM_DIR if transform_uri else None,
        "model": {"class": model_class or models.class_path(model),
                  "kwargs": (model_kwargs if model_kwargs is not None
                             else models.model_kwargs(model))},
        "transformed_features": {"numeric": list(encoder.numeric_names),
                                 "categorical": list(encoder.categorical_names)},
        "exports": done, "export_errors": errors,
        "raw_onnx": ({"inputs": [{"name": i.name, "kind": i.kind} for i in raw_inputs]}
                     if "onnx" in done else None), **(extra or {}),
    }
    with open(os.path.join(directory, BUNDLE_FILE), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, default=_json_default)
        f.write("\n")
    return config


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class ServingBundle:
    """A loaded bundle: raw records in, predictions out.

    Attributes:
        uri: The bundle directory.
        config: The parsed ``bundle.json``.
        task: ``"classification"`` or ``"regression"``.
        label_key: The label column's name.
        classes: Class values in probability order (empty for regression).
        raw_features: ``[{"name", "type"}]`` the model expects.
        backend: ``torch``, ``onnx`` or ``program``.
    """

    def __init__(self, uri: str, config: dict[str, Any], encoder: Any, runner: Any,
                 backend: str):
        self.uri = uri
        self.config = config
        self.encoder = encoder
        self.label = LabelSpec.from_config(config["label"])
        self.task = config["task"]
        self.label_key = config["label_key"]
        self.classes = list(config["classes"])
        self.raw_features = list(config["raw_features"])
        self.backend = backend
        self.inputs = model_raw_inputs(config, encoder)
        self._run = runner
        self.request_log: RequestLogger | None = None  # sampled requests as Parquet spans

    @property
    def raw_feature_names(self) -> list[str]:
        """Names of the raw input columns."""
        return [f["name"] for f in self.raw_features]

    @property
    def required_columns(self) -> list[str]:
        """The raw columns every batch must hold (the ones the model reads)."""
        return [i.name for i in self.inputs]

    def predict(self, table: Any) -> pa.Table:
        """Predict for raw records.

        Args:
            table: ``pa.Table``, ``pa.RecordBatch`` or pandas DataFrame of raw records, or a
                list of dicts (JSON-like records). Columns the model does not read (the label,
                ids) are ignored; the rules for missing columns, absent keys and types are
                those of :mod:`gristmill.engine.serving_input`.

        Returns:
            Classification: ``prediction`` (a class, typed like the label) and
            ``probabilities`` (list<float> in ``classes`` order). Regression:
            ``prediction`` (float64).

        Raises:
            DataError: A raw column the model reads is missing, or holds values of a type it
                cannot take safely.
        """
        return self.predict_with_report(table)[0]

    def predict_with_report(self, table: Any) -> tuple[pa.Table, InputReport]:
        """:meth:`predict`, plus the :class:`InputReport` (ignored columns, widenings)."""
        if isinstance(table, list):
            conformed, report = table_from_records(table, self.inputs, label_key=self.label_key,
                                                   source=self._source("predict"))
        else:
            conformed, report = conform_table(_to_table(table), self.inputs,
                                              label_key=self.label_key,
                                              source=self._source("predict"))
        if self.request_log is not None:
            self.request_log.log(conformed)
        return self._predict_conformed(conformed), report

    def _predict_conformed(self, table: pa.Table) -> pa.Table:
        numeric, categorical = stack_columns(self.encoder.encode(table))
        outputs = self.predict_arrays(numeric, categorical)
        return pa.table(self.label.decode(outputs))

    def _source(self, method: str) -> str:
        return f"model {self.uri}: {method}"

    def predict_arrays(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Raw model outputs (logits / standardized values) for encoded inputs."""
        if numeric.shape[0] == 0:
            return np.zeros((0, self.label.num_outputs), np.float32)
        return self._run(numeric, categorical)

    def predict_records(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Predict for records given as dicts (JSON objects): a key left out is null.

        Returns:
            One dict per record: ``prediction`` and, for classification, ``probabilities``.

        Raises:
            DataError: No records, an empty record, or a value of the wrong type.
        """
        return self.predict_records_with_report(records)[0]

    def predict_records_with_report(self, records: Sequence[dict[str, Any]]
                                    ) -> tuple[list[dict[str, Any]], InputReport]:
        """:meth:`predict_records`, plus the report (unknown keys and their counts)."""
        source = self._source("predict_records")
        if self.request_log is not None:
            self._log_records(records, source)
        if getattr(self.encoder, "transform", None) is not None:
            table, report = table_from_records(records, self.inputs, label_key=self.label_key,
                                               source=source)
            numeric, categorical = stack_columns(self.encoder.encode(table))
        else:  # the low-latency path: no Arrow table for a few records
            cleaned, report = clean_records(records, self.inputs, label_key=self.label_key,
                                            source=source)
            numeric, categorical = self.encoder.encode_records(cleaned)
        outputs = self.predict_arrays(numeric, categorical)
        if self.task == "regression":
            values = outputs[:, 0] * self.label.target_std + self.label.target_mean
            return [{"prediction": float(v)} for v in values], report
        z = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        probs = z / z.sum(axis=1, keepdims=True)
        return [{"prediction": self.classes[int(p.argmax())], "probabilities": p.tolist()}
                for p in probs], report

    def _log_records(self, records: Sequence[dict[str, Any]], source: str) -> None:
        """Conform only the sampled records (typed like the table path) and log them."""
        keep = self.request_log.sample(len(records))
        if len(keep):
            table, _ = table_from_records([records[i] for i in keep], self.inputs,
                                          label_key=self.label_key, source=source)
            self.request_log.write(table)


def _to_table(data: Any) -> pa.Table:
    try:
        return to_table(data)
    except TypeError as e:
        raise TypeError(f"predict() expects a pyarrow Table, RecordBatch, pandas DataFrame or "
                        f"a list of dicts, got {type(data).__name__}") from e


def read_config(uri: str) -> dict[str, Any]:
    """Parse ``bundle.json``.

    Raises:
        FileNotFoundError: ``uri`` is not a serving bundle.
        ValueError: The bundle was written by a newer, incompatible format.
    """
    path = os.path.join(os.fspath(uri), BUNDLE_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: {uri} is not a Gristmill serving "
                                f"bundle (expected the Trainer's model artifact directory)")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {config['format_version']} is newer than "
                         f"this gristmill supports ({FORMAT_VERSION}); upgrade gristmill")
    return config


def required_columns(uri: str) -> list[str]:
    """The raw columns a bundle's model reads, every batch must hold them.

    Reads ``bundle.json`` (and the transform plan, if any); imports no torch, runs no model.
    """
    uri = os.fspath(uri)
    config = read_config(uri)
    return [i.name for i in model_raw_inputs(config, load_encoder(uri, config))]


def load_encoder(uri: str, config: dict[str, Any]) -> Any:
    """The bundle's feature encoder (raw vocabularies, or the copied fitted transform)."""
    enc = config["encoder"]
    if enc["kind"] == "raw":
        return RawFeatureEncoder.from_config(enc)
    from gristmill.engine.transform_fn import FittedTransform

    transform = FittedTransform.load(os.path.join(uri, config.get("transform") or TRANSFORM_DIR))
    return TransformFeatureEncoder(transform, label_key=config["label_key"])


def load_model(uri: str, config: dict[str, Any] | None = None,
               trusted_model_classes: Sequence[str] = ()) -> Any:
    """Rebuild the eager ``nn.Module`` from ``bundle.json`` and ``weights.safetensors``.

    The model class named in ``bundle.json`` is checked against the allow-list
    (:func:`check_model_class`) before anything is imported.
    """
    from safetensors.torch import load_file

    config = config or read_config(uri)
    check_model_class(uri, config["model"]["class"], trusted_model_classes)
    from gristmill.engine.models import instantiate

    model = instantiate(config["model"]["class"], dict(config["model"]["kwargs"]))
    model.load_state_dict(load_file(os.path.join(uri, WEIGHTS_FILE)))
    return model.eval()


def allowed_model_classes(trusted_model_classes: Sequence[str] = ()) -> list[str]:
    """The built-in model classes, those passed in, and those listed (comma-separated
    ``module:QualName`` entries) in ``$GRISTMILL_TRUSTED_MODEL_CLASSES``."""
    listed = os.environ.get(TRUSTED_CLASSES_ENV, "").split(",")
    from_env = [c.strip() for c in listed if c.strip()]
    return [*BUILTIN_MODEL_CLASSES, *trusted_model_classes, *from_env]


def check_model_class(uri: str, path: Any, trusted_model_classes: Sequence[str] = ()) -> None:
    """Refuse a model class that is not on the allow-list, before importing its module.

    ``bundle.json`` is artifact data: importing the module it names would run that module's
    top-level code, so only exact ``module:QualName`` entries of the allow-list are imported.

    Raises:
        ConfigError: The class is not allowed (nothing has been imported).
    """
    allowed = allowed_model_classes(trusted_model_classes)
    if isinstance(path, str) and path in allowed:
        return
    raise ConfigError(f"{uri}/{BUNDLE_FILE} names model class {path!r}, which is not on the "
                      f"allow-list {allowed}; nothing was imported.",
                      fix=f"if you wrote that class and trust this bundle, allow it: "
                          f"load_bundle(uri, trusted_model_classes=[{path!r}]) or "
                          f"{TRUSTED_CLASSES_ENV}={path} (comma-separated); or serve the "
                          "exported model.onnx with backend='onnx', which imports no class")


def _make_runner(uri: str, config: dict[str, Any], backend: str,
                 trusted_model_classes: Sequence[str] = ()) -> tuple[Any, str]:
    exports = config.get("exports", {})
    # Bundles before the raw-record export held the tensor graph under "onnx".
    tensor_file = exports.get("onnx_tensors") or \
        (exports.get("onnx") if "raw_onnx" not in config else None)
    if backend == "auto":
        backend = "onnx" if tensor_file else "torch"
    if backend == "onnx":
        from gristmill.engine.onnx_session import INPUT_NAMES, OUTPUT_NAME, onnx_session

        if not tensor_file:
            errors = config.get("export_errors", {})
            raise ValueError(f"{uri}: no model_tensors.onnx in this bundle (export error: "
                             f"{errors.get('onnx_tensors') or errors.get('onnx')}); use "
                             "backend='torch'")
        session = onnx_session(os.path.join(uri, tensor_file))
        return (lambda num, cat: session.run(
            [OUTPUT_NAME], {INPUT_NAMES[0]: num, INPUT_NAMES[1]: cat})[0]), backend
    import torch

    if backend == "program":
        # torch.export.load may fall back to unpickling, and nothing read from an artifact
        # is unpickled; program.pt2 stays in the bundle for callers who trust its source.
        raise ConfigError(f"{uri}: backend 'program' is not loaded by Gristmill because "
                          "torch.export.load can unpickle the file.",
                          fix="use backend='onnx' or 'torch' (same predictions, checked at "
                              "export), or torch.export.load(program.pt2) yourself if you "
                              "trust the bundle")
    if backend != "torch":
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    module = load_model(uri, config, trusted_model_classes)

    def run(num: np.ndarray, cat: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(num), torch.from_numpy(cat)).float().numpy()

    return run, backend


def load_bundle(uri: str, backend: str = "torch",
                trusted_model_classes: Sequence[str] = (),
                request_log: RequestLogger | None = None) -> ServingBundle:
    """Load a serving bundle written by the Trainer.

    Args:
        uri: The Model artifact directory.
        backend: ``torch`` (eager, default), ``onnx`` (onnxruntime, lowest latency),
            or ``auto`` (ONNX when exported). ``program.pt2`` (torch.export, written only
            when ``exports`` asks for it) is never loaded here: torch.export.load can unpickle.
        trusted_model_classes: ``module:QualName`` model classes to allow besides the
            built-in ones (see :func:`check_model_class`).
        request_log: Logs a sample of the scored records as Parquet spans
            (:mod:`gristmill.engine.request_log`); ``None``: nothing is logged. Only
            explicit (a serving process may pass ``RequestLogger.from_env()``), so the
            Evaluator's and BulkInferrer's scoring is never logged as requests.
    """
    uri = os.fspath(uri)
    config = read_config(uri)
    encoder = load_encoder(uri, config)
    runner, backend = _make_runner(uri, config, backend, trusted_model_classes)
    bundle = ServingBundle(uri, config, encoder, runner, backend)
    bundle.request_log = request_log
    return bundle
