"""Transform's statistics outputs: pre/post-transform statistics, schemas and anomalies."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gristmill.components.transform_ops as gt
from gristmill.components import Transform
from gristmill.components.beam.statistics.options import StatsOptions
from gristmill.components.framework.anomalies import load_anomalies
from gristmill.components.framework.base import Channel
from gristmill.components.framework.data_schema import load_schema, save_schema
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.framework.schema_inference import SchemaGenParameters, infer_schema
from gristmill.components.framework.statistics_model import load_statistics
from gristmill.components.statistics_gen.component import StatisticsGen
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import (
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    Schema,
    TransformCache,
    TransformGraph,
)

pytestmark = pytest.mark.integration

STATS_OUTPUTS = {"pre_transform_schema": Schema, "pre_transform_stats": ExampleStatistics,
                 "post_transform_schema": Schema, "post_transform_stats": ExampleStatistics,
                 "post_transform_anomalies": ExampleAnomalies}


def preprocessing_fn(inputs):
    return {"x_z": gt.scale_to_z_score(inputs["x"]),
            "color_id": gt.compute_and_apply_vocabulary(inputs["color"]),
            "label": inputs["label"]}


def table(rows: int, seed: int, colors: list[str], x_nulls: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "x": pa.array(rng.normal(50.0, 7.0, rows),
                      mask=rng.random(rows) < x_nulls if x_nulls else None),
        "color": pa.array(rng.choice(colors, rows)),
        "label": pa.array(rng.integers(0, 2, rows)),
    })


def write_examples(root: str, splits: dict[str, pa.Table]) -> Examples:
    examples = Examples(root)
    for split, data in splits.items():
        os.makedirs(examples.split_uri(split))
        half = data.num_rows // 2
        for i, part in enumerate([data.slice(0, half), data.slice(half)]):
            pq.write_table(part, f"{examples.split_uri(split)}/part-{i:05d}.parquet",
                           row_group_size=300)
    examples.splits = list(splits)
    examples.set_property("span", 3)
    return examples


def run(tmp, examples: Examples | list[Examples], schema: Schema | None = None,
        **params) -> dict[str, list]:
    out = {"transform_graph": [TransformGraph(f"{tmp}/graph")],
           "transformed_examples": [Examples(f"{tmp}/transformed")],
           "updated_analyzer_cache": [TransformCache(f"{tmp}/cache")]}
    out |= {key: [kind(f"{tmp}/{key}")] for key, kind in STATS_OUTPUTS.items()}
    for arts in out.values():
        os.makedirs(arts[0].uri)
    examples = examples if isinstance(examples, list) else [examples]
    inputs = {"examples": examples} | ({"schema": [schema]} if schema is not None else {})
    Transform.EXECUTOR(ExecutionContext(component_id="Transform", tmp_dir=str(tmp))).Do(
        inputs, out, Transform.PARAMETERS(preprocessing_fn=preprocessing_fn, **params))
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Train 2000 rows, eval 800 rows of the same distribution."""
    tmp = tmp_path_factory.mktemp("transform_stats")
    examples = write_examples(str(tmp / "examples"),
                              {"train": table(2000, 1, ["red", "green", "blue"]),
                               "eval": table(800, 2, ["red", "green", "blue"])})
    return {"examples": examples, "out": run(tmp / "run", examples), "tmp": tmp}


def _stats(out: dict, key: str, split: str):
    return load_statistics(out[key][0].split_uri(split))


def test_pre_stats_equal_statistics_gen_of_the_raw_split(clean):
    tmp = clean["tmp"]
    reference = ExampleStatistics(str(tmp / "statistics_gen"))
    os.makedirs(reference.uri)
    StatisticsGen.EXECUTOR(ExecutionContext(component_id="StatisticsGen", tmp_dir=str(tmp))).Do(
        {"examples": [clean["examples"]]}, {"statistics": [reference]},
        StatisticsGen.PARAMETERS())
    pre_art = clean["out"]["pre_transform_stats"][0]
    assert pre_art.splits == ["train"]  # the analyzed split only
    assert pre_art.get_property("span") == 3
    pre, ref = _stats(clean["out"], "pre_transform_stats", "train"), \
        load_statistics(reference.split_uri("train"))
    assert pre.num_examples == ref.num_examples == 2000
    assert pre.feature_names == ref.feature_names == ["x", "color", "label"]
    for name in pre.feature_names:
        a, b = pre.feature(name), ref.feature(name)
        assert (a.type, a.num_present, a.num_missing) == (b.type, b.num_present, b.num_missing)
    x, x_ref = pre.feature("x").numeric, ref.feature("x").numeric
    assert (x.min, x.max, x.num_zeros) == (x_ref.min, x_ref.max, x_ref.num_zeros)
    assert x.mean == pytest.approx(x_ref.mean, rel=1e-12)
    assert x.std_dev == pytest.approx(x_ref.std_dev, rel=1e-9)
    assert x.median == pytest.approx(x_ref.median, abs=0.5)  # KLL sketches: within epsilon
    buckets = zip(x.histogram("standard").buckets, x_ref.histogram("standard").buckets,
                  strict=True)
    for a, b in buckets:  # counts come from the sketches too: within 2 * epsilon * rows
        assert (a.low, a.high) == (b.low, b.high) and abs(a.count - b.count) <= 40
    assert pre.feature("color").string == ref.feature("color").string
    assert os.path.exists(os.path.join(pre_art.uri, "report.html"))


def test_post_stats_reflect_the_transform(clean):
    post_art = clean["out"]["post_transform_stats"][0]
    assert post_art.splits == ["train", "eval"]
    train = _stats(clean["out"], "post_transform_stats", "train")
    assert train.num_examples == 2000
    assert sorted(train.feature_names) == ["color_id", "label", "x_z"]
    x_z = train.feature("x_z").numeric
    assert abs(x_z.mean) < 1e-6
    assert x_z.std_dev == pytest.approx(1.0, abs=1e-6)  # population std, like the analyzer
    color = train.feature("color_id")
    assert color.string is not None and color.string.unique == 3  # ids counted as categories
    assert sorted(v.value for v in color.string.value_counts) == ["0", "1", "2"]
    eval_x = _stats(clean["out"], "post_transform_stats", "eval").feature("x_z").numeric
    assert abs(eval_x.mean) < 0.2 and abs(eval_x.mean) > 0  # train's mean/std, not eval's


def test_schemas(clean):
    pre = load_schema(clean["out"]["pre_transform_schema"][0].uri)
    assert pre == infer_schema([_stats(clean["out"], "pre_transform_stats", "train")],
                               SchemaGenParameters())
    post = load_schema(clean["out"]["post_transform_schema"][0].uri)
    types = {f.name: f.type for f in post.features}
    assert types == {"x_z": "FLOAT", "color_id": "INT", "label": "INT"}
    color = post.feature("color_id")
    # the vocabulary's 3 ids plus its OOV bucket: the full id range, seen or not
    assert color.categorical and color.domain == ["0", "1", "2", "3"]
    assert post.feature("x_z").presence.min_fraction == 1.0


def test_clean_data_has_no_post_transform_anomalies(clean):
    art = clean["out"]["post_transform_anomalies"][0]
    assert art.splits == ["train", "eval"]
    for split in ("train", "eval"):
        assert load_anomalies(art.split_uri(split)).anomalies == []
    assert art.get_custom_property("blessed") == {"train": 1, "eval": 1}


def test_eval_with_missing_values_is_a_post_transform_anomaly(tmp_path):
    examples = write_examples(str(tmp_path / "examples"),
                              {"train": table(1000, 3, ["red", "blue"]),
                               "eval": table(500, 4, ["red", "blue"], x_nulls=0.2)})
    out = run(tmp_path / "run", examples)
    art = out["post_transform_anomalies"][0]
    assert load_anomalies(art.split_uri("train")).anomalies == []
    found = load_anomalies(art.split_uri("eval")).anomalies
    # train never misses x, so x_z is required and dense: eval's nulls break both
    assert sorted((a.code, a.feature) for a in found) == [
        ("FEATURE_TYPE_LOW_FRACTION_PRESENT", "x_z"), ("INVALID_FEATURE_SHAPE", "x_z")]
    low = next(a for a in found if a.code == "FEATURE_TYPE_LOW_FRACTION_PRESENT")
    assert low.fraction == pytest.approx(
        _stats(out, "post_transform_stats", "eval").feature("x_z").present_fraction)
    assert art.get_custom_property("blessed") == {"train": 1, "eval": 0}


def test_input_schema_is_the_pre_transform_schema(tmp_path, clean):
    schema = Schema(str(tmp_path / "schema"))
    os.makedirs(schema.uri)
    given = infer_schema([_stats(clean["out"], "pre_transform_stats", "train")],
                         SchemaGenParameters(infer_numeric_ranges=True))
    save_schema(given, schema.uri)
    out = run(tmp_path / "run", clean["examples"], schema, materialize=False)
    assert load_schema(out["pre_transform_schema"][0].uri) == given
    # post-transform statistics do not need materialized examples
    assert out["transformed_examples"][0].get_custom_property("materialized") == 0
    assert not os.listdir(out["transformed_examples"][0].uri)
    assert _stats(out, "post_transform_stats", "eval").num_examples == 800


def test_disable_statistics_publishes_empty_outputs(tmp_path, clean):
    out = run(tmp_path / "run", clean["examples"], disable_statistics=True)
    for key in STATS_OUTPUTS:
        art = out[key][0]
        assert art.get_custom_property("disabled") == 1
        assert os.listdir(art.uri) == []
    assert out["post_transform_stats"][0].splits == []
    assert out["transformed_examples"][0].get_property("row_counts") == {"train": 2000,
                                                                         "eval": 800}


def test_stats_options_updater_fn(tmp_path, clean):
    seen = []

    def updater(stats_type, options):
        seen.append(stats_type)
        if stats_type == "post_transform":
            return options.model_copy(update={"num_histogram_buckets": 4})
        return options

    out = run(tmp_path / "run", clean["examples"], stats_options_updater_fn=updater)
    assert sorted(seen) == ["post_transform", "pre_transform"]
    post = _stats(out, "post_transform_stats", "train").feature("x_z").numeric
    pre = _stats(out, "pre_transform_stats", "train").feature("x").numeric
    assert len(post.histogram("standard").buckets) == 4
    assert len(pre.histogram("standard").buckets) == 10
    with pytest.raises(ConfigError, match="returned dict, expected StatsOptions"):
        run(tmp_path / "bad", clean["examples"], stats_options_updater_fn=lambda t, o: {})
    with pytest.raises(ConfigError, match="column 'x'"):
        run(tmp_path / "weight", clean["examples"],
            stats_options_updater_fn=lambda t, o: StatsOptions(weight_feature="x"))


def test_several_spans_are_one_dataset_per_split(tmp_path, clean):
    span2 = write_examples(str(tmp_path / "span2"),
                           {"train": table(600, 7, ["red", "blue"]),
                            "eval": table(100, 8, ["red", "blue"])})
    out = run(tmp_path / "run", [clean["examples"], span2])
    assert _stats(out, "pre_transform_stats", "train").num_examples == 2600
    post = _stats(out, "post_transform_stats", "train")
    assert post.num_examples == 2600
    assert abs(post.feature("x_z").numeric.mean) < 1e-6  # fitted on both spans together
    assert _stats(out, "post_transform_stats", "eval").num_examples == 900


def test_component_declares_the_statistics_outputs():
    node = Transform(examples=Channel(Examples, None, "examples"),
                     preprocessing_fn="my_pkg.prep.preprocessing_fn")
    for key, kind in STATS_OUTPUTS.items():
        assert node.outputs[key].type is kind
    assert Transform.PARAMETERS(preprocessing_fn="a.b").disable_statistics is False
