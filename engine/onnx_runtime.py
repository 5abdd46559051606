"""Run a bundle's raw-record ONNX graph (``model.onnx`` or ``model_int8.onnx``) on raw rows.

The rows go through the same input rules as the Python serving path
(:mod:`gristmill.engine.serving_input`: required columns, safe widening), then straight into
onnxruntime; no torch, no Python transform.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from gristmill.engine.errors import ConfigError


class RawOnnxModel:
    """A loaded raw-record ONNX graph with the bundle's input rules.

    Attributes:
        path: The ONNX file.
        inputs: The raw columns it reads (:class:`~.serving_input.RawInput`).
        task: ``classification`` or ``regression``.
        label_key: The label column (ignored when present in the input).
        classes: Class values in probability order (empty for regression).
    """

    def __init__(self, path: str, inputs: list[Any], task: str, label_key: str | None,
                 label: Any = None, threads: int = 1):
        from gristmill.engine.onnx_session import onnx_session

        self.path = path
        self.uri = path  # what error messages name, as for a ServingBundle
        self.classes = list(label.classes) if label is not None else []
        self.inputs = inputs
        self.task = task
        self.label_key = label_key
        self.label = label
        self.session = onnx_session(path, threads)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw onnxruntime call: input name -> array, output name -> array."""
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds),
                        strict=True))

    def predict(self, table: Any) -> pa.Table:
        """Predict for raw rows (a table, record batch, DataFrame or list of dicts); same
        columns as ``ServingBundle.predict``."""
        from gristmill.engine.onnx_raw import raw_feeds
        from gristmill.engine.serving_input import conform_table, table_from_records
        from gristmill.engine.transform_fn import to_table

        source = f"raw ONNX {self.path}: predict"
        if isinstance(table, list):
            conformed, _ = table_from_records(table, self.inputs, label_key=self.label_key,
                                              source=source)
        else:
            conformed, _ = conform_table(to_table(table), self.inputs, label_key=self.label_key,
                                         source=source)
        out = self.run(raw_feeds(conformed, self.inputs))
        return self._as_table(out)

    def _as_table(self, out: dict[str, np.ndarray]) -> pa.Table:
        if self.task == "regression":
            return pa.table({"prediction": pa.array(out["prediction"], pa.float64())})
        probs = np.asarray(out["probabilities"], np.float32)
        offsets = pa.array(np.arange(0, probs.size + 1, max(probs.shape[1], 1), dtype=np.int32))
        prediction = out["prediction"]
        if self.label is not None:
            prediction = self.label.class_array().take(pa.array(probs.argmax(axis=1)))
        return pa.table({"prediction": prediction,
                         "probabilities": pa.ListArray.from_arrays(offsets,
                                                                   pa.array(probs.ravel()))})


def load_raw_onnx(uri: str, which: str = "onnx", threads: int = 1) -> RawOnnxModel:
    """Load the bundle's raw-record graph: ``which="onnx"`` (``model.onnx``, float) or
    ``"onnx_int8"`` (``model_int8.onnx``).

    Raises:
        ConfigError: The bundle has no such export (the error recorded at export is shown).
    """
    from gristmill.engine.labels import LabelSpec
    from gristmill.engine.serving import load_encoder, read_config
    from gristmill.engine.serving_input import model_raw_inputs

    uri = os.fspath(uri)
    config = read_config(uri)
    exports = config.get("exports", {})
    if which not in exports or not config.get("raw_onnx"):
        error = config.get("export_errors", {}).get(which, "not requested at training")
        raise ConfigError(f"model {uri}: no raw-record ONNX export {which!r} in this bundle "
                          f"(export error: {error}).",
                          fix="train with TrainerConfig(exports=[..., 'onnx', 'onnx_int8']), "
                              "or serve the Python bundle (load_bundle)")
    inputs = model_raw_inputs(config, load_encoder(uri, config))
    label = LabelSpec.from_config(config["label"])
    return RawOnnxModel(os.path.join(uri, exports[which]), inputs, config["task"],
                        config["label_key"], label, threads)

