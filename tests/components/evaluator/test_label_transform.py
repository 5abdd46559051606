"""Labels computed by the model's fitted transform (TFMA's preprocessing_function_names)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

import gristmill.components.tfma as tfma
import gristmill.components.transform_ops as tft
from gristmill.components.evaluator.label_transform import (
    label_from_transform,
    load_label_transform,
    with_transformed_label,
)
from gristmill.components.transform.analysis import fit_in_memory
from gristmill.components.transform.compiler import raw_type
from gristmill.components.transform.tracing import trace
from gristmill.engine.transform_fn import FittedTransform
from gristmill.metadata.errors import ConfigError, DataError

pytestmark = pytest.mark.integration

RAW = pa.table({"fare": pa.array([10.0, None, 4.0, 20.0]), "tips": [3.0, 1.0, 0.5, 1.0],
                "tips_xf": ["stale", "stale", "stale", "stale"]})


def preprocessing_fn(inputs):
    fare, tips = tft.fill_missing(inputs["fare"]), tft.fill_missing(inputs["tips"])
    return {"fare_xf": tft.scale_to_z_score(fare),
            "tips_xf": tft.cast(tips > fare * 0.2, "int64")}


def fitted() -> FittedTransform:
    traced = trace(preprocessing_fn, {f.name: raw_type(f.type) for f in RAW.schema})
    return FittedTransform(*fit_in_memory(traced, [RAW]))


def test_the_label_is_computed_from_raw_columns_and_replaces_a_raw_column_of_that_name():
    out = with_transformed_label(fitted(), RAW, "tips_xf")
    assert out.column("tips_xf").to_pylist() == [1, 1, 0, 0]  # missing fare filled with 0
    assert out.column_names == RAW.column_names
    added = with_transformed_label(fitted(), RAW.drop(["tips_xf"]), "tips_xf")
    assert added.column_names[-1] == "tips_xf"


def test_missing_raw_label_columns_are_named():
    with pytest.raises(DataError, match=r"computed from raw columns \['fare', 'tips'\].*"
                                        r"lack \['tips'\]"):
        with_transformed_label(fitted(), RAW.drop(["tips"]), "tips_xf")


def test_bundles_without_the_label_output_or_transform_are_refused(tmp_path):
    ft = fitted()
    (tmp_path / "transform").mkdir()
    ft.save(tmp_path / "transform")
    (tmp_path / "bundle.json").write_text(json.dumps({"transform": "transform"}))
    assert load_label_transform(str(tmp_path), "tips_xf").output_features
    with pytest.raises(ConfigError, match=r"label_key 'tips' is not an output.*tips_xf"):
        load_label_transform(str(tmp_path), "tips")
    (tmp_path / "bundle.json").write_text(json.dumps({"transform": None}))
    with pytest.raises(ConfigError, match="needs a model trained with a transform_graph"):
        load_label_transform(str(tmp_path), "tips_xf")


def test_only_transform_features_asks_for_it():
    assert label_from_transform(tfma.EvalConfig(model_specs=[tfma.ModelSpec(
        label_key="tips_xf", preprocessing_function_names=["transform_features"])]))
    assert not label_from_transform(tfma.EvalConfig(model_specs=[tfma.ModelSpec(
        label_key="tips")]))
