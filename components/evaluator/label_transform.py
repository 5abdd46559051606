"""Labels made by the fitted transform (TFMA's ``preprocessing_function_names``).

TFX's taxi and penguin examples compute the label in ``preprocessing_fn`` (``tips_xf`` =
"tip > 20% of the fare") and tell TFMA to run the ``transform_features`` signature over the
raw eval examples first. Here that signature is the serving bundle's copy of the fitted
transform: :class:`AddTransformedLabel` appends the label column it computes to every raw
record batch, before prediction and slicing. Raw columns stay as they are, so slicing keys
and the model's inputs are unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import apache_beam as beam
import pyarrow as pa

from gristmill.components.evaluator.config import EvalConfig
from gristmill.metadata.errors import ConfigError, DataError

TRANSFORM_FUNCTION = "transform_features"


def label_from_transform(config: EvalConfig) -> bool:
    """Whether the first model spec asks for the label to come from the fitted transform."""
    return TRANSFORM_FUNCTION in config.model_specs[0].preprocessing_function_names


class AddTransformedLabel(beam.DoFn):
    """Append (or replace) ``label_key`` with the fitted transform's output of that name.

    Args:
        model_uri: The candidate's serving bundle (its ``transform/`` holds the fitted plan).
        label_key: The transform output that is the label.
    """

    def __init__(self, model_uri: str, label_key: str):
        self.model_uri = model_uri
        self.label_key = label_key

    def setup(self):
        self.transform = load_label_transform(self.model_uri, self.label_key)

    def process(self, batch: pa.RecordBatch):
        table = pa.Table.from_batches([batch])
        yield with_transformed_label(self.transform, table, self.label_key).to_batches(
            max_chunksize=None)[0] if table.num_rows else batch


def load_label_transform(model_uri: str, label_key: str) -> Any:
    """The bundle's fitted transform, checked to produce ``label_key``.

    Raises:
        ConfigError: The bundle has no fitted transform, or it has no output ``label_key``.
    """
    from gristmill.engine.serving import TRANSFORM_DIR, read_config
    from gristmill.engine.transform_fn import FittedTransform

    bundle = read_config(model_uri)
    directory = os.path.join(model_uri, bundle.get("transform") or TRANSFORM_DIR)
    if not bundle.get("transform") or not os.path.isdir(directory):
        raise ConfigError(f"Evaluator: ModelSpec(preprocessing_function_names="
                          f"[{TRANSFORM_FUNCTION!r}]) needs a model trained with a "
                          f"transform_graph; the bundle at {model_uri} has none.",
                          fix="train with Trainer(transform_graph=...) or drop "
                              "preprocessing_function_names and label raw examples")
    transform = FittedTransform.load(directory)
    names = [f.name for f in transform.output_features]
    if label_key not in names:
        raise ConfigError(f"Evaluator: label_key {label_key!r} is not an output of the fitted "
                          f"transform (outputs: {names}).",
                          fix="set ModelSpec(label_key=...) to the name preprocessing_fn "
                              "gives the label")
    return transform


def with_transformed_label(transform: Any, table: pa.Table, label_key: str) -> pa.Table:
    """``table`` with column ``label_key`` computed by ``transform`` from its raw columns.

    Raises:
        DataError: A raw column the label needs is absent from the examples.
    """
    feature = next(f for f in transform.output_features if f.name == label_key)
    absent = [c for c in feature.raw_inputs if c not in table.column_names]
    if absent:
        raise DataError(f"Evaluator: the label {label_key!r} is computed from raw columns "
                        f"{list(feature.raw_inputs)}, but the eval examples lack {absent}.",
                        fix="evaluate examples that carry the raw label columns")
    label = transform.transform(table, [label_key]).column(label_key)
    if label_key in table.column_names:
        return table.set_column(table.column_names.index(label_key), label_key, label)
    return table.append_column(label_key, label)
