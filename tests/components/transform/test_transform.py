"""Transform executor on Beam: parity with serving, analyzer values, cache, errors."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components import Transform
from gristmill.components.framework.base import Channel
from gristmill.components.framework.executor import ExecutionContext
from gristmill.engine.transform_fn import FittedTransform
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import (
    Examples,
    ExampleStatistics,
    TransformCache,
    TransformGraph,
)

pytestmark = pytest.mark.integration

COMPANIES = ["Flash Cab", "Taxi Affiliation", "Yellow", "Blue Diamond", "Chicago Carriage"]
PAYMENTS = ["Credit Card", "Cash", "Mobile", "Prcard"]

MODULE = '''
import gristmill.components.transform_ops as gt


def preprocessing_fn(inputs):
    fare = inputs["fare"]
    miles = gt.fill_missing(inputs["trip_miles"], 0.0)
    return {
        "fare_z": gt.scale_to_z_score(fare),
        "miles_z": gt.scale_to_z_score(miles),
        "seconds_z": gt.scale_to_z_score(gt.log1p(inputs["trip_seconds"])),
        "fare_01": gt.scale_to_0_1(gt.clip(fare, 0.0, 500.0)),
        "payment": gt.compute_and_apply_vocabulary(inputs["payment_type"], num_oov_buckets=2),
        "company": gt.compute_and_apply_vocabulary(inputs["company"], top_k=3),
        "company_hot": gt.one_hot(gt.compute_and_apply_vocabulary(inputs["company"])),
        "fare_bucket": gt.bucketize(fare, 10),
        "miles_bucket": gt.bucketize(miles, 10),
        "lat_bucket": gt.bucketize(inputs["pickup_latitude"], 10),
        "hour_bucket": gt.bucketize(inputs["trip_start_hour"], 4),
        "company_hash": gt.hash_strings(inputs["company"], 16),
        "company_x_hour": gt.feature_cross([inputs["company"], inputs["trip_start_hour"]], 64),
        "fare_per_company": gt.scale_to_z_score_per_key(fare, inputs["company"]),
        "fare_centered": (fare - gt.mean(fare)) / (gt.max(fare) - gt.min(fare)),
        "fare_bucket_id": gt.compute_and_apply_vocabulary(gt.bucketize(fare, 4)),
        "tips": inputs["tips"],
    }
'''


def taxi_table(rows: int, seed: int, companies: list[str]) -> pa.Table:
    """Taxi-like rows with nulls, NaN, extreme values and the given company names."""
    rng = np.random.default_rng(seed)
    seconds = rng.gamma(2.0, 450.0, rows)
    miles = np.round(seconds / 3600 * rng.normal(14, 4, rows).clip(1), 2)
    fare = np.round(3.25 + 2.25 * miles + rng.normal(0, 1.5, rows), 2)
    fare[rng.random(rows) < 0.002] = 1e9  # extreme values
    fare[rng.random(rows) < 0.002] = -1e6
    miles[rng.random(rows) < 0.01] = np.nan  # NaN, not null: must count as missing
    company = rng.choice(companies, rows).astype(object)
    company[rng.random(rows) < 0.1] = None
    return pa.table({
        "trip_seconds": pa.array(seconds.astype(np.int64), mask=rng.random(rows) < 0.02),
        "trip_miles": pa.array(miles),
        "fare": pa.array(fare, mask=rng.random(rows) < 0.03),
        "tips": pa.array(np.round(rng.random(rows) * 5, 2)),
        "pickup_latitude": pa.array(rng.normal(41.88, 0.05, rows), mask=rng.random(rows) < .05),
        "trip_start_hour": pa.array(rng.integers(0, 24, rows)),
        "payment_type": pa.array(rng.choice(PAYMENTS, rows)),
        "company": pa.array(company.tolist(), pa.string()),
    })


def write_examples(root: str, splits: dict[str, pa.Table], span: int = 1,
                   files: int = 2) -> Examples:
    """An Examples artifact: ``Split-<name>/part-0000i.parquet`` with several row groups."""
    examples = Examples(root)
    for split, table in splits.items():
        os.makedirs(examples.split_uri(split))
        step = -(-table.num_rows // files)
        for i in range(files):
            pq.write_table(table.slice(i * step, step),
                           f"{examples.split_uri(split)}/part-{i:05d}.parquet",
                           row_group_size=1500)
    examples.splits = list(splits)
    examples.set_property("span", span)
    examples.set_property("row_counts", {s: t.num_rows for s, t in splits.items()})
    return examples


def outputs(root: str) -> dict[str, list]:
    out = {"transform_graph": [TransformGraph(f"{root}/transform_graph")],
           "transformed_examples": [Examples(f"{root}/transformed_examples")],
           "updated_analyzer_cache": [TransformCache(f"{root}/updated_analyzer_cache")]}
    for arts in out.values():
        os.makedirs(arts[0].uri)
    return out


def run(tmp, inputs: dict, **params) -> dict[str, list]:
    out = outputs(str(tmp))
    Transform.EXECUTOR(ExecutionContext(component_id="Transform", tmp_dir=str(tmp))).Do(
        inputs, out, Transform.PARAMETERS(**params))
    return out


@pytest.fixture(scope="module")
def taxi(tmp_path_factory):
    """One Transform run over 10k rows (7k train, 3k eval with an unseen company)."""
    tmp = tmp_path_factory.mktemp("transform")
    module_file = tmp / "preprocessing.py"
    module_file.write_text(textwrap.dedent(MODULE))
    train = taxi_table(7000, 1, COMPANIES)
    eval_ = taxi_table(3000, 2, [*COMPANIES, "Unseen Cab Co"])
    examples = write_examples(str(tmp / "examples"), {"train": train, "eval": eval_})
    out = run(tmp / "run", {"examples": [examples]}, module_file=str(module_file))
    return {"examples": examples, "out": out, "train": train, "eval": eval_, "tmp": tmp,
            "module_file": str(module_file)}


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _assert_tables_match(beam: pa.Table, serving: pa.Table) -> None:
    assert beam.column_names == serving.column_names
    for name in beam.column_names:
        a, b = beam.column(name).combine_chunks(), serving.column(name).combine_chunks()
        assert a.type == b.type, name
        if pa.types.is_floating(a.type):
            x = a.to_numpy(zero_copy_only=False)
            y = b.to_numpy(zero_copy_only=False)
            assert np.array_equal(np.isnan(x), np.isnan(y)), name
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=name)
        else:
            assert a.equals(b), name


@pytest.mark.parametrize("split", ["train", "eval"])
def test_serving_path_equals_beam_path(taxi, split):
    out = taxi["out"]
    beam_table = pq.read_table(out["transformed_examples"][0].split_uri(split))
    raw = taxi[split]
    ft = FittedTransform.load(out["transform_graph"][0].uri)
    assert beam_table.num_rows == raw.num_rows
    _assert_tables_match(beam_table, ft.transform(raw))
    _assert_tables_match(beam_table, ft.transform(raw.to_pandas()))
    from gristmill.engine.transform_torch import transform_with_torch

    _assert_tables_match(beam_table, transform_with_torch(ft, raw))


def test_analyzer_results_are_the_train_statistics(taxi):
    ft = FittedTransform.load(taxi["out"]["transform_graph"][0].uri)
    steps = {s["label"]: s for s in ft.steps}
    fare = taxi["train"].column("fare").to_numpy(zero_copy_only=False)
    z = steps["scale_to_z_score(fare)"]["params"]
    assert z["mean"] == pytest.approx(np.nanmean(fare), rel=1e-9)
    assert z["std"] == pytest.approx(np.nanstd(fare), rel=1e-9)
    miles = steps["scale_to_z_score(fill_missing(trip_miles))"]["params"]
    filled = np.nan_to_num(taxi["train"].column("trip_miles").to_numpy(), nan=0.0)
    assert miles["mean"] == pytest.approx(filled.mean(), rel=1e-9)
    # vocabulary: train's companies by frequency, top 3; the eval-only company is OOV
    counts = taxi["train"].column("company").drop_null().value_counts().to_pylist()
    ranked = [c["values"] for c in sorted(counts, key=lambda c: (-c["counts"], c["values"]))]
    company = next(f for f in ft.output_features if f.name == "company")
    assert ft.vocabularies[steps["apply_vocabulary(company)"]["params"]["vocabulary"]] \
        == ranked[:3] or company.vocab_size == 4
    # bucket boundaries: deciles of fare within the sketch's rank error
    bounds = steps["bucketize(fare, 10)"]["params"]["boundaries"]
    assert len(bounds) == 9
    ranks = [np.mean(fare[~np.isnan(fare)] < b) for b in bounds]
    np.testing.assert_allclose(ranks, np.arange(1, 10) / 10, atol=0.02)


def test_output_features_and_artifact_properties(taxi):
    out = taxi["out"]
    ft = FittedTransform.load(out["transform_graph"][0].uri)
    feats = {f.name: f for f in ft.output_features}
    assert feats["fare_z"].kind == "numeric" and feats["fare_z"].dtype == "float32"
    assert feats["payment"].kind == "categorical" and feats["payment"].vocab_size == 4 + 2
    assert feats["company"].vocab_size == 3 + 1
    assert feats["company_hot"].shape == (6,)  # 5 companies + 1 OOV
    assert feats["fare_bucket"].vocab_size == 9 + 2  # 10 buckets + missing
    assert feats["company_hash"].vocab_size == 16
    assert feats["tips"].kind == "passthrough"
    examples = out["transformed_examples"][0]
    assert examples.splits == ["train", "eval"]
    assert examples.get_property("row_counts") == {"train": 7000, "eval": 3000}
    assert examples.get_property("span") == 1
    schema = _read_json(f"{out['transform_graph'][0].uri}/transformed_schema.json")
    assert [o["name"] for o in schema["outputs"]] == list(feats)
    assert out["transform_graph"][0].get_custom_property("analyzers_reused") == 0


def test_eval_unseen_category_and_nulls_map_to_oov(taxi):
    ft = FittedTransform.load(taxi["out"]["transform_graph"][0].uri)
    raw = pa.table({"company": pa.array(["Unseen Cab Co", None, COMPANIES[0]]),
                    "payment_type": pa.array(["Bitcoin", None, "Cash"])})
    got = ft.transform(raw)
    assert got.column_names == ["payment", "company", "company_hot", "company_hash"]
    payment = got.column("payment").to_pylist()
    assert payment[1] == 4 and payment[0] in (4, 5) and payment[2] < 4
    assert got.column("company_hot").to_pylist()[0][5] == 1.0


def test_serving_without_label_omits_outputs_that_need_it(taxi):
    ft = FittedTransform.load(taxi["out"]["transform_graph"][0].uri)
    got = ft.transform(taxi["eval"].drop(["tips"]).slice(0, 10))
    assert "tips" not in got.column_names and "fare_z" in got.column_names


def test_analyzer_cache_reuses_unchanged_span(taxi):
    tmp, first = taxi["tmp"], taxi["out"]
    cache = first["updated_analyzer_cache"][0]
    assert os.path.exists(os.path.join(cache.uri, "index.json"))
    second = run(tmp / "cached", {"examples": [taxi["examples"]], "analyzer_cache": [cache]},
                 module_file=taxi["module_file"], materialize=False)
    graph = second["transform_graph"][0]
    n = len(FittedTransform.load(graph.uri).plan["analyzers"])
    phase0 = sum(1 for a in FittedTransform.load(graph.uri).plan["analyzers"] if a["phase"] == 0)
    assert graph.get_custom_property("analyzers_reused") == phase0
    assert graph.get_custom_property("analyzers_computed") == n - phase0  # 2nd-pass only
    a = _read_json(f"{first['transform_graph'][0].uri}/transform_fn.json")
    b = _read_json(f"{graph.uri}/transform_fn.json")
    assert b["steps"] == a["steps"]  # restored accumulators give the very same constants
    assert second["transformed_examples"][0].splits == []
    # the updated cache is complete again: a third run reuses everything from it
    third = run(tmp / "third", {"examples": [taxi["examples"]],
                                "analyzer_cache": second["updated_analyzer_cache"]},
                module_file=taxi["module_file"], materialize=False)
    assert third["transform_graph"][0].get_custom_property("analyzers_reused") == phase0


def test_new_span_computes_only_its_own_accumulators(tmp_path):
    def fn(inputs):
        import gristmill.components.transform_ops as gt
        return {"x": gt.scale_to_z_score(inputs["fare"]),
                "c": gt.compute_and_apply_vocabulary(inputs["company"])}

    span1 = write_examples(str(tmp_path / "s1"), {"train": taxi_table(500, 3, COMPANIES)}, 1)
    span2 = write_examples(str(tmp_path / "s2"), {"train": taxi_table(500, 4, COMPANIES)}, 2)
    first = run(tmp_path / "r1", {"examples": [span1]}, preprocessing_fn=fn)
    both = run(tmp_path / "r2", {"examples": [span1, span2],
                                 "analyzer_cache": first["updated_analyzer_cache"]},
               preprocessing_fn=fn)
    graph = both["transform_graph"][0]
    assert graph.get_custom_property("analyzers_reused") == 2
    assert graph.get_custom_property("analyzers_computed") == 2
    fare = np.concatenate([pq.read_table(ex.split_uri("train")).column("fare").to_numpy(
        zero_copy_only=False) for ex in (span1, span2)])
    merged = FittedTransform.load(graph.uri).steps[0]["params"]
    assert merged["mean"] == pytest.approx(np.nanmean(fare), rel=1e-9)
    assert merged["std"] == pytest.approx(np.nanstd(fare), rel=1e-9)
    assert both["transformed_examples"][0].get_property("row_counts") == {"train": 1000}
    assert both["transformed_examples"][0].get_property("span") == 2


def test_type_error_names_output_op_and_types(tmp_path):
    examples = write_examples(str(tmp_path / "ex"), {"train": taxi_table(50, 5, COMPANIES)})

    def fn(inputs):
        import gristmill.components.transform_ops as gt
        return {"pay_z": gt.scale_to_z_score(inputs["payment_type"])}

    with pytest.raises(ConfigError, match=r"output 'pay_z': scale_to_z_score expected a "
                                          r"float or int input, got string \(payment_type\)"):
        run(tmp_path / "r", {"examples": [examples]}, preprocessing_fn=fn)


def test_bad_splits_and_module_file_are_config_errors(tmp_path):
    examples = write_examples(str(tmp_path / "ex"), {"train": taxi_table(50, 5, COMPANIES)})
    with pytest.raises(ConfigError, match="split 'trian' is not in .*Did you mean 'train'"):
        run(tmp_path / "a", {"examples": [examples]}, preprocessing_fn=lambda i: {},
            splits_config={"analyze": ["trian"]})
    bad = tmp_path / "m.py"
    bad.write_text("def preprocesing_fn(inputs):\n    return {}\n")
    with pytest.raises(ConfigError, match="defines no function 'preprocessing_fn'.*Did you mean"):
        run(tmp_path / "b", {"examples": [examples]}, module_file=str(bad))


def test_all_missing_column_cannot_be_scaled(tmp_path):
    table = pa.table({"x": pa.nulls(20, pa.float64())})
    examples = write_examples(str(tmp_path / "ex"), {"train": table}, files=1)

    def fn(inputs):
        import gristmill.components.transform_ops as gt
        return {"z": gt.scale_to_z_score(inputs["x"])}

    with pytest.raises(DataError, match=r"moments\(x\) saw no present values"):
        run(tmp_path / "r", {"examples": [examples]}, preprocessing_fn=fn)


def test_component_checks_channel_types():
    from gristmill.components.statistics_gen.component import StatisticsGen

    examples = Channel(Examples, None, "examples")
    node = Transform(examples=examples, preprocessing_fn="my_pkg.prep.preprocessing_fn")
    assert set(node.outputs) == {"transform_graph", "transformed_examples",
                                 "updated_analyzer_cache", "pre_transform_schema",
                                 "pre_transform_stats", "post_transform_schema",
                                 "post_transform_stats", "post_transform_anomalies"}
    assert node.outputs["transform_graph"].type is TransformGraph
    stats = StatisticsGen(examples=examples)
    with pytest.raises(ConfigError, match="expected an? Examples channel, got ExampleStatistics"):
        Transform(examples=stats.outputs["statistics"], module_file="x.py")
    with pytest.raises(ConfigError, match="module_file"):
        Transform(examples=examples)
    assert issubclass(stats.outputs["statistics"].type, ExampleStatistics)
