"""DistributionValidator on real StatisticsGen output: distances by hand, blessing, halting."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components.distribution_validator.config import (
    DistributionValidatorConfig,
    NumExamplesComparator,
)
from gristmill.components.framework.data_schema import FeatureComparator
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.framework.statistics_model import DatasetStatistics, FeatureStatistics
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import ExampleAnomalies, Examples, ExampleStatistics

# Baseline fare: one value in each of the ten equal-width buckets [0,1) ... [9,10], twice.
BASELINE_FARE = [0.0, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 10.0] * 2
BASELINE_CITY = ["oslo"] * 12 + ["rome"] * 6 + ["lima"] * 2  # 0.6 / 0.3 / 0.1
# Shifted fare: bucket [0,1) holds 1, [8,9) holds 3, [9,10] holds 6 (same min and max, so
# StatisticsGen draws the same edges 0, 1, ..., 10).
SHIFTED_FARE = [0.0, 8.5, 8.5, 8.5, 9.5, 9.5, 9.5, 9.5, 9.5, 10.0]
SHIFTED_CITY = ["oslo"] * 3 + ["rome"] * 2 + ["lima"] * 5  # 0.3 / 0.2 / 0.5


def _table(fare, city):
    return pa.table({"fare": pa.array(fare, pa.float64()), "city": pa.array(city),
                     "trips": pa.array(range(len(fare)), pa.int64())})


def _statistics_of(root: Path, name: str, tables: dict[str, pa.Table]) -> ExampleStatistics:
    """Write ``tables`` as an Examples artifact and run the StatisticsGen executor on it."""
    from gristmill.components.statistics_gen.component import StatisticsGen

    examples = Examples(str(root / f"{name}_examples"))
    for split, table in tables.items():
        os.makedirs(examples.split_uri(split))
        pq.write_table(table, os.path.join(examples.split_uri(split), "part-00000.parquet"))
    examples.splits = list(tables)
    examples.set_property("span", 7)
    statistics = ExampleStatistics(str(root / name))
    os.makedirs(statistics.uri)
    context = ExecutionContext(component_id="StatisticsGen", tmp_dir=str(root))
    StatisticsGen.EXECUTOR(context).Do({"examples": [examples]}, {"statistics": [statistics]},
                                       StatisticsGen.PARAMETERS())
    return statistics


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    """Baseline (train, eval: same data) and current (train shifted, eval unchanged)."""
    root = tmp_path_factory.mktemp("distribution")
    same = _table(BASELINE_FARE, BASELINE_CITY)
    return {"baseline": _statistics_of(root, "baseline", {"train": same, "eval": same}),
            "current": _statistics_of(root, "current", {
                "train": _table(SHIFTED_FARE, SHIFTED_CITY), "eval": same})}


def _validate(tmp_path, inputs, **params):
    from gristmill.components.distribution_validator.component import DistributionValidator

    output = ExampleAnomalies(str(tmp_path / f"anomalies{len(os.listdir(tmp_path))}"))
    os.makedirs(output.uri)
    context = ExecutionContext(component_id="DistributionValidator")
    DistributionValidator.EXECUTOR(context).Do(inputs, {"anomalies": [output]},
                                               DistributionValidator.PARAMETERS(**params))
    return output, context


def _saved(output, split, file="anomalies.json"):
    return json.loads(Path(output.split_uri(split), file).read_text())


def _js(p, q):
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def kl(x):
        return sum(xi * math.log2(xi / mi) for xi, mi in zip(x, m, strict=True) if xi > 0)

    return 0.5 * kl(p) + 0.5 * kl(q)


# Hand figures: buckets of baseline 0.1 each; shifted 0.1, 0 x 7, 0.3, 0.6.
EXPECTED_JS = _js([0.1] * 10, [0.1] + [0.0] * 7 + [0.3, 0.6])
STRICT = DistributionValidatorConfig(
    features={"city": FeatureComparator(infinity_norm=0.2),
              "fare": FeatureComparator(jensen_shannon_divergence=0.1)},
    num_examples=NumExamplesComparator(min_fraction_threshold=0.8, max_fraction_threshold=1.5))


@pytest.mark.integration
def test_shifted_split_is_not_blessed_with_hand_computed_distances(tmp_path, stats):
    assert abs(EXPECTED_JS - 0.530659) < 1e-6  # the hand sum, worked out
    output, context = _validate(tmp_path, {"statistics": [stats["current"]],
                                           "baseline_statistics": [stats["baseline"]]},
                                config=STRICT)
    assert output.get_custom_property("blessed") == {"train": 0, "eval": 1}
    assert output.get_custom_property("split_pairs") == [["train", "train"], ["eval", "eval"]]
    assert output.splits == ["train", "eval"] and output.get_property("span") == 7
    train = _saved(output, "train")
    found = {a["code"]: a for a in train["anomalies"]}
    assert set(found) == {"COMPARATOR_L_INFTY_HIGH", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
                          "COMPARATOR_LOW_NUM_EXAMPLES"}
    # city: |0.3-0.6| = 0.3, |0.2-0.3| = 0.1, |0.5-0.1| = 0.4 -> 0.4 at 'lima'
    linf = found["COMPARATOR_L_INFTY_HIGH"]
    assert (linf["feature"], linf["fraction"], linf["details"]["value"]) == (
        "city", pytest.approx(0.4), "lima")
    assert "L-infinity distance to the baseline is 0.4000" in linf["description"]
    assert found["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"]["fraction"] == pytest.approx(
        EXPECTED_JS, rel=1e-9)
    assert found["COMPARATOR_LOW_NUM_EXAMPLES"]["fraction"] == pytest.approx(10 / 20)
    assert train["blessed"] is False and _saved(output, "eval")["anomalies"] == []
    measured = _saved(output, "eval", "comparisons.json")["measurements"]
    assert {(m["feature"], m["distance"]) for m in measured} == {("city", 0.0), ("fare", 0.0)}
    assert "train vs train: city COMPARATOR_L_INFTY_HIGH" in context.halt_reason
    assert context.metrics["train_num_examples_ratio"] == 0.5
    report = Path(output.uri, "report.html").read_text()
    assert "not blessed" in report and "Measured distances" in report and "lima" in report


@pytest.mark.integration
def test_thresholds_above_the_distances_bless_and_no_halt_when_disabled(tmp_path, stats):
    loose = DistributionValidatorConfig(
        features={"city": FeatureComparator(infinity_norm=0.4),  # not above: 0.4 is allowed
                  "fare": FeatureComparator(jensen_shannon_divergence=0.54)},
        num_examples=NumExamplesComparator(min_fraction_threshold=0.5))
    inputs = {"statistics": [stats["current"]], "baseline_statistics": [stats["baseline"]]}
    output, context = _validate(tmp_path, inputs, config=loose)
    assert output.get_custom_property("blessed") == {"train": 1, "eval": 1}
    assert context.halt_reason is None
    _, relaxed = _validate(tmp_path, inputs, config=STRICT, halt_on_error=False)
    assert relaxed.halt_reason is None


@pytest.mark.integration
def test_include_split_pairs_names_output_after_the_current_split(tmp_path, stats):
    inputs = {"statistics": [stats["current"]], "baseline_statistics": [stats["baseline"]]}
    output, _ = _validate(tmp_path, inputs, config=STRICT, include_split_pairs=[("eval", "train")])
    assert output.get_custom_property("blessed") == {"eval": 1}
    assert output.get_custom_property("split_pairs") == [["eval", "train"]]
    assert _saved(output, "eval", "comparisons.json")["baseline_split"] == "train"
    assert not os.path.exists(output.split_uri("train"))
    high = DistributionValidatorConfig(num_examples=NumExamplesComparator(
        max_fraction_threshold=0.4))
    output, _ = _validate(tmp_path, {"statistics": [stats["baseline"]],
                                     "baseline_statistics": [stats["current"]]},
                          config=high, include_split_pairs=[("eval", "train")])
    (anomaly,) = _saved(output, "eval")["anomalies"]  # 20 rows against 10
    assert (anomaly["code"], anomaly["fraction"]) == ("COMPARATOR_HIGH_NUM_EXAMPLES", 2.0)


@pytest.mark.integration
def test_default_comparator_skips_and_counts_unfit_features(tmp_path, stats):
    config = DistributionValidatorConfig(default=FeatureComparator(infinity_norm=0.2))
    output, context = _validate(tmp_path, {"statistics": [stats["current"]],
                                           "baseline_statistics": [stats["baseline"]]},
                                config=config)
    comparisons = _saved(output, "train", "comparisons.json")
    assert [m["feature"] for m in comparisons["measurements"]] == ["city"]
    assert sorted(s["feature"] for s in comparisons["skipped"]) == ["fare", "trips"]
    assert context.metrics["train_skipped_comparisons"] == 2.0
    assert [a["code"] for a in _saved(output, "train")["anomalies"]] == [
        "COMPARATOR_L_INFTY_HIGH"]
    # Listed explicitly, an unfit comparator is an ERROR: nothing could be compared.
    explicit = DistributionValidatorConfig(features={"fare": FeatureComparator(infinity_norm=0.2)})
    output, _ = _validate(tmp_path, {"statistics": [stats["current"]],
                                     "baseline_statistics": [stats["baseline"]]}, config=explicit)
    assert output.get_custom_property("blessed") == {"train": 0, "eval": 0}
    assert _saved(output, "eval")["anomalies"][0]["code"] == "STATS_NOT_AVAILABLE"


@pytest.mark.integration
def test_config_errors_name_the_problem_and_the_fix(tmp_path, stats):
    inputs = {"statistics": [stats["current"]], "baseline_statistics": [stats["baseline"]]}
    typo = DistributionValidatorConfig(features={"citty": FeatureComparator(infinity_norm=0.1)})
    with pytest.raises(ConfigError, match=r"\['citty'\].*Did you mean 'city'.*Available "
                                          r"features: \['city', 'fare', 'trips'\]"):
        _validate(tmp_path, inputs, config=typo)
    with pytest.raises(ConfigError, match=r"include_split_pairs \[\('test', 'train'\)\].*"
                                          r"splits \['train', 'eval'\]"):
        _validate(tmp_path, inputs, config=STRICT, include_split_pairs=[("test", "train")])
    only_train = ExampleStatistics(str(tmp_path / "only_train"))
    only_train.splits = ["train"]
    only_train.set_property("span", 1)
    with pytest.raises(ConfigError, match=r"no baseline split named \['eval'\].*baseline_"
                                          r"statistics .* have splits \['train'\].*Fix: pass "
                                          r"include_split_pairs.*\('eval', 'train'\)"):
        _validate(tmp_path, {"statistics": [stats["current"]],
                             "baseline_statistics": [only_train]}, config=STRICT)


@pytest.mark.integration
def test_without_baseline_every_split_is_blessed(tmp_path, stats):
    output, context = _validate(tmp_path, {"statistics": [stats["current"]]}, config=STRICT)
    assert output.get_custom_property("blessed") == {"train": 1, "eval": 1}
    assert output.get_custom_property("no_baseline") == 1
    assert context.halt_reason is None and _saved(output, "train")["anomalies"] == []


def _feature(name, kind="STRING"):
    return FeatureStatistics(name=name, type=kind, arrow_type="string", num_present=1)


@pytest.mark.unit
def test_num_examples_comparator_and_missing_features():
    from gristmill.components.distribution_validator.executor import (
        compare_num_examples,
        compare_statistics,
    )

    bounds = NumExamplesComparator(min_fraction_threshold=0.5, max_fraction_threshold=2.0)
    assert compare_num_examples(bounds, 50, 100) == ([], 0.5)  # bounds are inclusive
    assert compare_num_examples(bounds, 7, 0) == ([], None)  # no ratio on an empty baseline
    (low,), ratio = compare_num_examples(bounds, 0, 100)
    assert (low.code, ratio) == ("COMPARATOR_LOW_NUM_EXAMPLES", 0.0)
    (high,), _ = compare_num_examples(bounds, 201, 100)
    assert high.code == "COMPARATOR_HIGH_NUM_EXAMPLES" and high.severity == "ERROR"
    config = DistributionValidatorConfig(features={"a": FeatureComparator(infinity_norm=0.1)},
                                         default=FeatureComparator(infinity_norm=0.1))
    current = DatasetStatistics(split="s", num_examples=1, features=[_feature("b")])
    baseline = DatasetStatistics(split="s", num_examples=1, features=[_feature("a")])
    result = compare_statistics(config, current, baseline, "s")
    assert sorted((a.code, a.feature, a.severity) for a in result.anomalies.anomalies) == [
        ("COMPARATOR_CONTROL_DATA_MISSING", "b", "WARNING"),  # default: a warning
        ("COMPARATOR_TREATMENT_DATA_MISSING", "a", "ERROR")]  # listed: an error
    with pytest.raises(ValueError, match="compares nothing"):
        DistributionValidatorConfig()
    with pytest.raises(ValueError, match="above max_fraction_threshold"):
        NumExamplesComparator(min_fraction_threshold=2, max_fraction_threshold=1)
    with pytest.raises(ValueError, match=r"features \['x'\] set no threshold"):
        DistributionValidatorConfig(features={"x": FeatureComparator()})


@pytest.mark.unit
def test_component_channel_types():
    from gristmill.components.distribution_validator.component import DistributionValidator
    from gristmill.components.example_gen.component import CsvExampleGen
    from gristmill.components.schema_gen.component import ImportSchemaGen
    from gristmill.components.statistics_gen.component import StatisticsGen

    examples = CsvExampleGen(input_base="/x").outputs["examples"]
    current = StatisticsGen(examples=examples).outputs["statistics"]
    baseline = StatisticsGen(examples=examples).with_id("baseline_stats").outputs["statistics"]
    validator = DistributionValidator(statistics=current, baseline_statistics=baseline,
                                      config=STRICT, include_split_pairs=[("eval", "train")])
    assert validator.outputs["anomalies"].type is ExampleAnomalies
    assert validator.parameters.include_split_pairs == [("eval", "train")]
    schema = ImportSchemaGen(schema_file="s.yaml").outputs["schema"]
    with pytest.raises(ConfigError, match="baseline_statistics=.*expected an? ExampleStatistics"
                                          ".*got Schema"):
        DistributionValidator(statistics=current, baseline_statistics=schema, config=STRICT)
    with pytest.raises(ConfigError, match="config: Field required"):
        DistributionValidator(statistics=current)
