"""ExampleValidator: every anomaly code, drift/skew figures by hand, blessing and halting."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from gristmill.components.framework.anomalies import (
    jensen_shannon_divergence,
    l_infinity_distance,
    validate_statistics,
)
from gristmill.components.framework.data_schema import (
    DataSchema,
    FeatureComparator,
    FeatureSchema,
    NumericRange,
    Presence,
    save_schema,
)
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.framework.statistics_model import (
    Bucket,
    DatasetStatistics,
    FeatureStatistics,
    Histogram,
    NumericStatistics,
    StringStatistics,
    ValueCount,
    save_statistics,
)
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import ExampleAnomalies, ExampleStatistics, Schema


def strings(name, counts, missing=0):
    values = [ValueCount(value=v, count=c) for v, c in counts.items()]
    total = sum(counts.values())
    return FeatureStatistics(name=name, type="STRING", arrow_type="string", num_present=total,
                             num_missing=missing, min_num_values=1, max_num_values=1,
                             num_values=total, string=StringStatistics(
                                 unique=len(counts), top_values=values, value_counts=values))


def hist(counts, edges):
    return Histogram(kind="standard", buckets=[
        Bucket(low=edges[i], high=edges[i + 1], count=c) for i, c in enumerate(counts)])


def numbers(name, counts=(50, 50), edges=(0.0, 5.0, 10.0), kind="FLOAT", nan=0, inf=0,
            missing=0):
    present = int(sum(counts)) + nan + inf
    quantiles = [edges[0] + (edges[-1] - edges[0]) * i / 100 for i in range(101)]
    return FeatureStatistics(
        name=name, type=kind, arrow_type="double", num_present=present, num_missing=missing,
        min_num_values=1, max_num_values=1, num_values=present,
        numeric=NumericStatistics(min=edges[0], max=edges[-1], num_nan=nan, num_pos_inf=inf,
                                  quantiles=quantiles, histograms=[hist(counts, edges)]))


def dataset(split, *features, rows=100):
    return DatasetStatistics(split=split, num_examples=rows, features=list(features))


def codes(result):
    return sorted((a.code, a.feature, a.severity) for a in result.anomalies)


@pytest.mark.unit
def test_l_infinity_matches_a_hand_computation():
    a = strings("c", {"x": 50, "y": 30, "z": 20})
    b = strings("c", {"x": 20, "y": 30, "w": 50})
    # p - q: x 0.5-0.2=0.3, y 0, z 0.2, w 0.5 -> max 0.5 at 'w'
    assert l_infinity_distance(a, b) == (pytest.approx(0.5), "w")


@pytest.mark.unit
def test_jensen_shannon_matches_a_hand_computation():
    p, q = [0.5, 0.5], [0.25, 0.75]
    m = [0.375, 0.625]
    expected = 0.5 * sum(pi * math.log2(pi / mi) for pi, mi in zip(p, m, strict=True)) + \
        0.5 * sum(qi * math.log2(qi / mi) for qi, mi in zip(q, m, strict=True))
    same_edges = jensen_shannon_divergence(hist([50, 50], [0, 1, 2]), hist([25, 75], [0, 1, 2]))
    assert same_edges == pytest.approx(expected, rel=1e-12)
    # different edges are re-binned: [0,2) holding 100 spreads as 50/50 over [0,1),[1,2)
    rebinned = jensen_shannon_divergence(hist([100], [0, 2]), hist([25, 75], [0, 1, 2]))
    assert rebinned == pytest.approx(expected, rel=1e-12)
    assert jensen_shannon_divergence(hist([1], [0, 1]), hist([1], [5, 6])) == pytest.approx(1.0)


@pytest.mark.unit
def test_schema_violations_get_their_codes():
    schema = DataSchema(min_examples=10, features=[
        FeatureSchema(name="pay", type="STRING", domain=["cash", "card"], min_domain_mass=0.9),
        FeatureSchema(name="city", type="STRING", domain=["oslo"]),
        FeatureSchema(name="fare", type="FLOAT", range=NumericRange(min=0.0, max=8.0),
                      disallow_nan=True, disallow_inf=True),
        FeatureSchema(name="tips", type="FLOAT", presence=Presence(min_fraction=0.9)),
        FeatureSchema(name="zone", type="INT"),
        FeatureSchema(name="gone", type="INT"),
        FeatureSchema(name="maybe", type="INT", presence=Presence(min_fraction=0.0)),
    ])
    stats = dataset("train",
                    strings("pay", {"cash": 90, "card": 5, "bitcoin": 5}),
                    strings("city", {"oslo": 80, "rome": 20}),
                    numbers("fare", edges=(-2.0, 5.0, 10.0), nan=3, inf=1),
                    numbers("tips", missing=30),
                    strings("zone", {"a": 1}),
                    numbers("extra"), rows=5)
    result = validate_statistics(stats, schema)
    assert codes(result) == sorted([
        ("DATASET_LOW_NUM_EXAMPLES", None, "ERROR"),
        ("FEATURE_CONSTANT", "zone", "WARNING"),  # one distinct value
        ("SCHEMA_NEW_COLUMN", "extra", "ERROR"),
        ("ENUM_TYPE_UNEXPECTED_STRING_VALUES", "pay", "WARNING"),  # 95% in domain >= 90%
        ("ENUM_TYPE_UNEXPECTED_STRING_VALUES", "city", "ERROR"),
        ("FLOAT_TYPE_SMALL_FLOAT", "fare", "ERROR"),
        ("FLOAT_TYPE_BIG_FLOAT", "fare", "ERROR"),
        ("FLOAT_TYPE_HAS_NAN", "fare", "ERROR"),
        ("FLOAT_TYPE_HAS_INF", "fare", "ERROR"),
        ("FEATURE_TYPE_LOW_FRACTION_PRESENT", "tips", "ERROR"),
        ("INT_TYPE_STRING_VALUES", "zone", "ERROR"),
        ("SCHEMA_MISSING_COLUMN", "gone", "ERROR"),
        ("SCHEMA_MISSING_COLUMN", "maybe", "WARNING"),
    ])
    city = next(a for a in result.anomalies if a.feature == "city")
    assert city.fraction == pytest.approx(0.2) and city.count == 20
    assert city.details["unexpected"] == {"rome": 20}
    small = next(a for a in result.anomalies if a.code == "FLOAT_TYPE_SMALL_FLOAT")
    assert small.fraction == pytest.approx(2 / 12)  # -2..10 uniform quantiles: 2/12 below 0
    assert not result.blessed


@pytest.mark.unit
def test_drift_and_skew_use_the_schema_thresholds():
    schema = DataSchema(features=[
        FeatureSchema(name="pay", type="STRING",
                      drift_comparator=FeatureComparator(infinity_norm=0.25),
                      skew_comparator=FeatureComparator(infinity_norm=0.6)),
        FeatureSchema(name="fare", type="FLOAT",
                      drift_comparator=FeatureComparator(jensen_shannon_divergence=0.01))])
    today = dataset("train", strings("pay", {"x": 50, "y": 50}), numbers("fare", (50, 50)))
    yesterday = dataset("train", strings("pay", {"x": 80, "y": 20}), numbers("fare", (25, 75)))
    result = validate_statistics(today, schema, previous=yesterday, serving=yesterday)
    found = {(a.code, a.details["comparison"]): a.fraction for a in result.anomalies}
    assert found == {("COMPARATOR_L_INFTY_HIGH", "drift"): pytest.approx(0.3),
                     ("COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH", "drift"):
                         pytest.approx(0.04879, abs=1e-4)}  # skew 0.3 <= 0.6: none
    assert validate_statistics(today, schema).anomalies == []


def _write_stats(tmp_path, name, splits: dict[str, DatasetStatistics]):
    artifact = ExampleStatistics(str(tmp_path / name))
    for split, stats in splits.items():
        save_statistics(stats, artifact.split_uri(split))
    artifact.splits = list(splits)
    artifact.set_property("span", 4)
    return artifact


def _validate(tmp_path, schema, inputs, **params):
    from gristmill.components.example_validator.component import ExampleValidator

    schema_artifact = Schema(str(tmp_path / "schema"))
    os.makedirs(schema_artifact.uri, exist_ok=True)
    save_schema(schema, schema_artifact.uri)
    output = ExampleAnomalies(str(tmp_path / "anomalies"))
    os.makedirs(output.uri, exist_ok=True)
    context = ExecutionContext(component_id="ExampleValidator")
    ExampleValidator.EXECUTOR(context).Do({"schema": [schema_artifact], **inputs},
                                          {"anomalies": [output]},
                                          ExampleValidator.PARAMETERS(**params))
    return output, context


@pytest.mark.unit
def test_executor_blesses_per_split_reports_and_halts_on_error(tmp_path):
    schema = DataSchema(features=[FeatureSchema(name="pay", type="STRING", domain=["cash"])])
    stats = _write_stats(tmp_path, "stats", {"train": dataset("train", strings("pay", {"cash": 9})),
                                             "eval": dataset("eval", strings("pay", {"card": 1}))})
    output, context = _validate(tmp_path, schema, {"statistics": [stats]})
    assert output.get_custom_property("blessed") == {"train": 1, "eval": 0}
    assert output.get_property("span") == 4
    saved = json.loads(Path(output.split_uri("eval"), "anomalies.json").read_text())
    assert saved["blessed"] is False
    assert saved["anomalies"][0]["code"] == "ENUM_TYPE_UNEXPECTED_STRING_VALUES"
    assert "eval: pay ENUM_TYPE_UNEXPECTED_STRING_VALUES" in context.halt_reason
    report = Path(output.uri, "report.html").read_text()
    assert "not blessed" in report and "card" in report
    _, relaxed = _validate(tmp_path, schema, {"statistics": [stats]}, halt_on_error=False)
    assert relaxed.halt_reason is None


@pytest.mark.unit
def test_executor_compares_with_serving_statistics(tmp_path):
    schema = DataSchema(features=[FeatureSchema(
        name="pay", type="STRING", skew_comparator=FeatureComparator(infinity_norm=0.1))])
    stats = _write_stats(tmp_path, "stats", {"train": dataset("train", strings("pay", {"a": 5}))})
    serving = _write_stats(tmp_path, "serving", {"serving": dataset(
        "serving", strings("pay", {"a": 1, "b": 1}))})
    output, _ = _validate(tmp_path, schema, {"statistics": [stats],
                                             "serving_statistics": [serving]})
    assert output.get_custom_property("blessed") == {"train": 0}
    two = _write_stats(tmp_path, "serving2", {"x": dataset("x"), "y": dataset("y")})
    with pytest.raises(ConfigError, match="set serving_split"):
        _validate(tmp_path, schema, {"statistics": [stats], "serving_statistics": [two]})


@pytest.mark.unit
def test_component_channel_types():
    from gristmill.components.example_gen.component import CsvExampleGen
    from gristmill.components.example_validator.component import ExampleValidator
    from gristmill.components.schema_gen.component import ImportSchemaGen
    from gristmill.components.statistics_gen.component import StatisticsGen

    schema = ImportSchemaGen(schema_file="s.yaml").outputs["schema"]
    statistics = StatisticsGen(examples=CsvExampleGen(input_base="/x").outputs["examples"])
    validator = ExampleValidator(statistics=statistics.outputs["statistics"], schema=schema)
    assert validator.outputs["anomalies"].type is ExampleAnomalies
    with pytest.raises(ConfigError, match="statistics=.*expected an? ExampleStatistics"):
        ExampleValidator(statistics=schema, schema=schema)
