"""schema.yaml: the parsed copy kept beside it speeds loading and never hides an edit."""

from __future__ import annotations

import os

import pytest

from gristmill.components.framework.data_schema import (
    DataSchema,
    FeatureSchema,
    load_schema,
    save_schema,
)


@pytest.mark.unit
def test_an_edited_schema_yaml_is_read_not_its_stale_parsed_copy(tmp_path):
    schema = DataSchema(features=[FeatureSchema(name=f"c{i}", type="FLOAT") for i in range(3)])
    save_schema(schema, str(tmp_path))
    assert load_schema(str(tmp_path)) == schema
    with open(tmp_path / "schema.yaml", "a") as f:
        f.write("min_examples: 7\n")
    assert load_schema(str(tmp_path)).min_examples == 7


@pytest.mark.unit
def test_a_damaged_parsed_copy_is_ignored(tmp_path):
    schema = DataSchema(features=[FeatureSchema(name="x", type="INT")])
    save_schema(schema, str(tmp_path))
    copies = [f for f in os.listdir(tmp_path) if f != "schema.yaml"]
    assert len(copies) == 1
    (tmp_path / copies[0]).write_text("{not json")
    assert load_schema(str(tmp_path)) == schema


@pytest.mark.unit
def test_feature_lookup_follows_a_replaced_feature_list():
    schema = DataSchema(features=[FeatureSchema(name="x", type="INT")])
    assert schema.feature("x").type == "INT"
    schema.features = [FeatureSchema(name="y", type="FLOAT")]
    assert schema.feature("x") is None and schema.feature("y").type == "FLOAT"
