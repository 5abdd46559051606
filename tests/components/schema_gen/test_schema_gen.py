"""SchemaGen / ImportSchemaGen: inference rules, YAML round trip, validation errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gristmill.components.framework.data_schema import (
    DataSchema,
    FeatureSchema,
    load_schema,
    parse_schema,
    save_schema,
)
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.framework.schema_inference import SchemaGenParameters, infer_schema
from gristmill.components.framework.statistics_model import (
    DatasetStatistics,
    FeatureStatistics,
    NumericStatistics,
    StringStatistics,
    ValueCount,
    save_statistics,
)
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import ExampleStatistics, Schema


def numeric(name, present=100, missing=0, kind="FLOAT", low=0.0, high=10.0, nan=0, valency=1,
            is_list=False):
    return FeatureStatistics(
        name=name, type=kind, arrow_type="double" if kind == "FLOAT" else "int64",
        num_present=present, num_missing=missing, min_num_values=valency,
        max_num_values=valency, num_values=present * valency, is_list=is_list,
        numeric=NumericStatistics(mean=(low + high) / 2, std_dev=1.0, min=low, max=high,
                                  num_nan=nan))


def strings(name, counts: dict[str, int], missing=0, exact=True):
    values = [ValueCount(value=v, count=c) for v, c in counts.items()]
    return FeatureStatistics(
        name=name, type="STRING", arrow_type="string", num_present=sum(counts.values()),
        num_missing=missing, min_num_values=1, max_num_values=1, num_values=sum(counts.values()),
        string=StringStatistics(unique=len(counts), unique_is_exact=exact, top_values=values,
                                value_counts=values if exact else None, top_values_exact=exact))


def split_stats(split, *features):
    return DatasetStatistics(split=split, num_examples=100, features=list(features))


@pytest.mark.unit
def test_inference_of_types_presence_domains_shapes_and_comparators():
    stats = split_stats("train", numeric("fare", nan=2), numeric("tips", present=80, missing=20),
                        strings("pay", {"cash": 60, "card": 40}),
                        strings("id", {str(i): 1 for i in range(200)}),
                        numeric("emb", kind="INT", valency=4, is_list=True))
    schema = infer_schema([stats], SchemaGenParameters(drift_threshold=0.1, skew_threshold=0.2,
                                                       infer_numeric_ranges=True))
    fare, tips, pay, ids, emb = (schema.feature(n) for n in ("fare", "tips", "pay", "id", "emb"))
    assert (fare.type, fare.presence.min_fraction, fare.shape) == ("FLOAT", 1.0, [])
    assert not fare.disallow_nan and tips.disallow_nan  # NaN seen in fare only
    assert (tips.presence.min_fraction, tips.shape) == (0.72, None)  # 0.8 * (1 - 0.1)
    assert (pay.categorical, pay.domain) == (True, ["card", "cash"])
    assert ids.domain is None  # 200 distinct > max_domain_size
    assert emb.shape == [4]
    assert pay.drift_comparator.infinity_norm == 0.1
    assert fare.skew_comparator.jensen_shannon_divergence == 0.2
    assert (fare.range.min, fare.range.max) == (0.0, 10.0)


@pytest.mark.unit
def test_several_splits_are_merged_by_widening():
    train = split_stats("train", strings("pay", {"cash": 5}), numeric("x", kind="INT"),
                        numeric("only_train"))
    evaluation = split_stats("eval", strings("pay", {"card": 5}), numeric("x", present=50,
                                                                           missing=50))
    schema = infer_schema([train, evaluation], SchemaGenParameters())
    assert schema.feature("pay").domain == ["card", "cash"]
    assert schema.feature("x").presence.min_fraction == 0.45
    assert schema.feature("x").shape is None
    assert schema.feature("only_train").presence.min_fraction == 0.0


@pytest.mark.unit
def test_schema_yaml_round_trip_and_readable_errors(tmp_path):
    schema = DataSchema(features=[FeatureSchema(name="pay", type="STRING", domain=["a", "b"])])
    path = save_schema(schema, str(tmp_path))
    assert path.endswith("schema.yaml") and "domain:" in Path(path).read_text()
    assert load_schema(str(tmp_path)) == schema
    with pytest.raises(DataError, match=r"features.0.type: Input should be 'INT'.*got 'TEXT'"):
        parse_schema("features:\n- name: pay\n  type: TEXT\n", "bad.yaml")
    with pytest.raises(DataError, match="repeated: \\['a'\\]"):
        parse_schema('{"features": [{"name": "a", "type": "INT"}, {"name": "a", "type": "INT"}]}')
    with pytest.raises(DataError, match="does not exist"):
        load_schema(str(tmp_path / "nowhere.yaml"))


@pytest.mark.unit
def test_schema_gen_executor_writes_schema_yaml(tmp_path):
    from gristmill.components.schema_gen.component import SchemaGen

    statistics = ExampleStatistics(str(tmp_path / "stats"))
    save_statistics(split_stats("train", strings("pay", {"a": 3})), statistics.split_uri("train"))
    save_statistics(split_stats("eval", strings("pay", {"zzz": 3})), statistics.split_uri("eval"))
    statistics.splits = ["train", "eval"]
    output = Schema(str(tmp_path / "schema"))
    os.makedirs(output.uri)
    SchemaGen.EXECUTOR(ExecutionContext(component_id="SchemaGen")).Do(
        {"statistics": [statistics]}, {"schema": [output]},
        SchemaGen.PARAMETERS(exclude_splits=["eval"]))
    assert load_schema(output.uri).feature("pay").domain == ["a"]


@pytest.mark.unit
def test_import_schema_gen_keeps_the_curated_file_and_rejects_bad_ones(tmp_path):
    from gristmill.components.schema_gen.component import ImportSchemaGen

    curated = tmp_path / "curated.yaml"
    curated.write_text("# reviewed by the data team\nfeatures:\n- name: x\n  type: INT\n")
    output = Schema(str(tmp_path / "schema"))
    os.makedirs(output.uri)
    component = ImportSchemaGen(schema_file=str(curated))
    component.EXECUTOR(ExecutionContext(component_id="ImportSchemaGen")).Do(
        {}, {"schema": [output]}, component.parameters)
    assert "reviewed by the data team" in Path(output.uri, "schema.yaml").read_text()
    assert load_schema(output.uri).feature("x").type == "INT"
    first = component.fingerprint_external_inputs()
    curated.write_text("features:\n- name: x\n  type: FLOAT\n")
    assert component.fingerprint_external_inputs() != first
    curated.write_text("features:\n- name: x\n")
    with pytest.raises(DataError, match="features.0.type: Field required"):
        component.EXECUTOR(ExecutionContext(component_id="ImportSchemaGen")).Do(
            {}, {"schema": [output]}, component.parameters)


@pytest.mark.unit
def test_schema_gen_wants_statistics():
    from gristmill.components.schema_gen.component import ImportSchemaGen, SchemaGen

    imported = ImportSchemaGen(schema_file="s.yaml")
    with pytest.raises(ConfigError, match="expected an? ExampleStatistics channel, got Schema"):
        SchemaGen(statistics=imported.outputs["schema"])
