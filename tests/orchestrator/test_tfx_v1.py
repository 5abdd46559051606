"""The tfx.v1 facade: every name of docs/tfx_migration.md resolves (or is refused with a
fix), TFX keywords reach the native components, and proto shapes build native values."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from gristmill.metadata.errors import ConfigError, DataError
from gristmill.orchestrator import tfx_v1 as tfx
from gristmill.orchestrator.tfx.namespace import TfxNameError

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "tfx_migration.md"
ROW = re.compile(r"^\| `?([^|`]+?)`?(?: \((?:[^|]|\\\|)*\))? "  # TFX name (an operator)
                 r"\| `(gristmill\.[\w.]+)` \| ([^|]+) \|$", re.MULTILINE)


def doc_rows() -> list[tuple[str, str, str]]:
    return [(t.strip(), g, s.strip()) for t, g, s in ROW.findall(DOC.read_text("utf-8"))]


def resolve(path: str):
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            value = getattr(value, name)
        return value
    raise ImportError(path)


def is_refused(status: str) -> bool:
    return status.startswith(("refused:", "not yet"))


def test_the_doc_tables_are_read():
    rows = doc_rows()
    assert len([r for r in rows if r[1].startswith("gristmill.orchestrator.tfx_v1")]) >= 50
    assert len([r for r in rows if ".tfma." in r[1]]) >= 10
    assert len([r for r in rows if ".transform_ops." in r[1]]) >= 60


@pytest.mark.parametrize("tfx_name,path,status", doc_rows(), ids=lambda v: v
                         if isinstance(v, str) and v.startswith("gristmill") else None)
def test_every_name_of_the_migration_table_imports_or_is_refused_with_a_fix(tfx_name, path,
                                                                              status):
    if is_refused(status):
        with pytest.raises(ConfigError, match="Fix: ") as raised:
            resolve(path)
        assert isinstance(raised.value, AttributeError)  # hasattr() keeps working
    else:
        assert resolve(path) is not None


def test_coverage_note_matches_the_table():
    rows = [r for r in doc_rows() if ".transform_ops." in r[1]]
    text = DOC.read_text("utf-8")
    extra = len(re.findall(r"^\| `tf\.(constant|int64).*\| covered", text, re.MULTILINE))
    covered = len([r for r in rows if r[2].startswith("covered")]) + extra
    total = len(rows) + extra
    assert f"Coverage: {covered} of the {total} tft / tf names" in text


def test_unknown_and_refused_names_say_what_to_write():
    with pytest.raises(TfxNameError, match=r"ResolverNode.*Fix: use tfx.dsl.Resolver"):
        tfx.components.ResolverNode  # noqa: B018
    with pytest.raises(TfxNameError, match=r"Did you mean 'Trainer'"):
        tfx.components.Trainr  # noqa: B018
    assert not hasattr(tfx.dsl.experimental, "RuntimeParameter")
    with pytest.raises(TfxNameError, match="gristmill compile"):
        tfx.orchestration.experimental  # noqa: B018
    import gristmill.components.transform_ops as tft

    with pytest.raises(ConfigError, match="pca.*Fix: not supported; compute components"):
        tft.pca  # noqa: B018


def test_pipeline_takes_tfx_keywords(tmp_path):
    gen = tfx.components.CsvExampleGen(input_base=str(tmp_path))
    path = tmp_path / "md" / "metadata.db"
    p = tfx.dsl.Pipeline(
        pipeline_name="p", pipeline_root=str(tmp_path / "root"), components=[gen],
        enable_cache=False, beam_pipeline_args=["--direct_num_workers=1"],
        metadata_connection_config=tfx.orchestration.metadata
        .sqlite_metadata_connection_config(str(path)))
    assert (p.name, p.root, p.enable_cache) == ("p", str(tmp_path / "root"), False)
    assert p.metadata_url == f"sqlite:///{path}" and p.beam_pipeline_args == (
        "--direct_num_workers=1",)
    with pytest.raises(ConfigError, match=r"\['platform_config'\] are not supported"):
        tfx.dsl.Pipeline(pipeline_name="p", components=[gen], platform_config=object())
    with pytest.raises(ConfigError, match="expected the result of .*sqlite_metadata"):
        tfx.dsl.Pipeline(pipeline_name="p", components=[gen], metadata_connection_config=1)


def _chain(tmp_path):
    gen = tfx.components.CsvExampleGen(input_base=str(tmp_path))
    stats = tfx.components.StatisticsGen(examples=gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=stats.outputs["statistics"])
    transform = tfx.components.Transform(examples=gen.outputs["examples"],
                                         schema=schema.outputs["schema"],
                                         module_file=str(tmp_path / "m.py"),
                                         force_tf_compat_v1=False)
    return gen, schema, transform


def test_components_translate_tfx_keywords(tmp_path):
    from gristmill.components import ExampleDiff, Trainer, Transform

    gen, schema, transform = _chain(tmp_path)
    assert type(transform) is Transform
    trainer = tfx.components.Trainer(
        module_file="m.py", transformed_examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"], schema=schema.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=10), eval_args=tfx.proto.EvalArgs(num_steps=2))
    assert type(trainer) is Trainer
    assert trainer.inputs["examples"] is transform.outputs["transformed_examples"]
    assert trainer.parameters.train_args.num_steps == 10
    other = tfx.components.CsvExampleGen(input_base=str(tmp_path)).with_id("Other")
    diff = tfx.components.ExampleDiff(examples_test=gen.outputs["examples"],
                                      examples_base=other.outputs["examples"],
                                      config=tfx.proto.ExampleDiffConfig(
                                          paired_example_skew=tfx.proto.PairedExampleSkew(
                                              identifier_features=["trip_id"])))
    assert type(diff) is ExampleDiff
    assert diff.inputs["examples"] is gen.outputs["examples"]
    assert diff.inputs["baseline_examples"] is other.outputs["examples"]


def test_keywords_without_gristmill_meaning_are_refused(tmp_path):
    gen, schema, transform = _chain(tmp_path)
    with pytest.raises(ConfigError, match="force_tf_compat_v1.*Fix: drop it"):
        tfx.components.Transform(examples=gen.outputs["examples"], module_file="m.py",
                                 schema=schema.outputs["schema"], force_tf_compat_v1=True)
    with pytest.raises(ConfigError, match=r"Tuner\(module_file=...\).*built-in Tuner"):
        tfx.components.Tuner(module_file="m.py", examples=gen.outputs["examples"])
    with pytest.raises(ConfigError, match="built-in Tuner"):
        tfx.components.TunerFnResult(tuner=None, fit_kwargs={})
    with pytest.raises(ConfigError, match="custom_executor_spec.*GenericExecutor"):
        tfx.components.Trainer(module_file="m.py", examples=gen.outputs["examples"],
                               custom_executor_spec=object())
    with pytest.raises(ConfigError, match="TFRecord"):
        tfx.components.ImportExampleGen(input_base=str(tmp_path))
    with pytest.raises(ConfigError, match="producer_component_id"):
        tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples,
                        producer_component_id="CsvExampleGen")


def test_tuner_tune_args_and_bulk_inferrer_specs(tmp_path):
    gen, schema, transform = _chain(tmp_path)
    tuner = tfx.components.Tuner(examples=transform.outputs["transformed_examples"],
                                 search_space={"learning_rate": [0.1, 0.01]},
                                 tune_args=tfx.proto.TuneArgs(num_parallel_trials=2))
    assert tuner.parameters.num_parallel_trials == 2
    model = tfx.components.Trainer(examples=gen.outputs["examples"]).outputs["model"]
    bulk = tfx.components.BulkInferrer(examples=gen.outputs["examples"], model=model,
                                       data_spec=tfx.proto.DataSpec(),
                                       model_spec=tfx.proto.ModelSpec(),
                                       output_example_spec=tfx.proto.OutputExampleSpec())
    assert "output_examples" in bulk.outputs
    with pytest.raises(ConfigError, match="one prediction signature"):
        tfx.components.BulkInferrer(examples=gen.outputs["examples"], model=model,
                                    model_spec=tfx.proto.ModelSpec(
                                        model_signature_name=["classify"]))
    with pytest.raises(ConfigError, match="column names cannot be chosen"):
        tfx.components.BulkInferrer(examples=gen.outputs["examples"], model=model,
                                    output_example_spec=tfx.proto.OutputExampleSpec(
                                        output_columns_spec=[{"classify_output": {}}]))


def test_nested_proto_names_build_native_values():
    from gristmill.components import Filesystem, PushDestination, SplitConfig, SplitSpec

    dest = tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
        base_directory="/srv"))
    assert isinstance(dest, PushDestination)
    assert dest.model_dump() == PushDestination(
        filesystem=Filesystem(base_directory="/srv")).model_dump()
    split = tfx.proto.SplitConfig(splits=[tfx.proto.SplitConfig.Split(name="a", hash_buckets=3)])
    assert isinstance(split, SplitConfig) and split.splits == [SplitSpec(name="a",
                                                                         hash_buckets=3)]
    inp = tfx.proto.Input(splits=[tfx.proto.Input.Split(name="x", pattern="day{SPAN}/*")])
    assert inp.splits[0].pattern == "day{SPAN}/*"
    rng = tfx.proto.RangeConfig(static_range=tfx.proto.StaticRange(start_span_number=3,
                                                                   end_span_number=3))
    assert rng.static_range.end_span_number == 3


def test_value_artifacts_store_their_value(tmp_path):
    from gristmill.metadata.types import artifact_class

    sa = tfx.types.standard_artifacts
    s = sa.String(str(tmp_path / "s"))
    s.value = '{"static_range": {"start_span_number": 1}}'
    assert sa.String(str(tmp_path / "s")).value == s.value
    f = sa.Float(str(tmp_path / "f"))
    f.value = 0.5
    assert f.value == 0.5 and artifact_class("Float") is sa.Float
    with pytest.raises(TypeError, match="Integer.value: expected int, got str"):
        sa.Integer(str(tmp_path / "i")).value = "3"
    with pytest.raises(DataError, match="no value was written"):
        sa.Integer(str(tmp_path / "empty")).value  # noqa: B018


def test_resolver_takes_tfx_range_config_for_span_windows(tmp_path):
    from gristmill.orchestrator.resolver import Resolver

    sa = tfx.types.standard_artifacts
    static = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.SpanRangeStrategy,
        config={"range_config": tfx.proto.RangeConfig(static_range=tfx.proto.StaticRange(
            start_span_number=2, end_span_number=4))},
        examples=tfx.dsl.Channel(type=sa.Examples)).with_id("span_resolver")
    assert isinstance(static, Resolver) and static.id == "span_resolver"
    assert (static.strategy.start_span, static.strategy.end_span) == (2, 4)
    rolling = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.SpanRangeStrategy,
        config={"range_config": tfx.proto.RangeConfig(rolling_range=tfx.proto.RollingRange(
            num_spans=2))}, examples=tfx.dsl.Channel(type=sa.Examples))
    assert (rolling.strategy.num_spans, rolling.strategy.start_span) == (2, None)
    with pytest.raises(ConfigError, match=r"LatestArtifactStrategy does not take "
                                         r"\['window'\].*Fix: use no config"):
        tfx.dsl.Resolver(strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
                         config={"window": 3}, model=tfx.dsl.Channel(type=sa.Model))


@tfx.dsl.components.component
def MakeRange(input_date: tfx.dsl.components.Parameter[str],  # noqa: N802 - TFX style
              range_config: tfx.dsl.components.OutputArtifact[
                  tfx.types.standard_artifacts.String]):
    from gristmill.orchestrator.tfx import proto_utils

    span = int(input_date[-2:])
    range_config.value = proto_utils.proto_to_json(tfx.proto.RangeConfig(
        static_range=tfx.proto.StaticRange(start_span_number=span, end_span_number=span)))


@tfx.dsl.components.component
def ReadRange(range_config: tfx.dsl.components.InputArtifact[  # noqa: N802 - TFX style
        tfx.types.standard_artifacts.String]) -> dict:
    from gristmill.orchestrator.tfx import proto_utils

    parsed = proto_utils.json_to_proto(range_config.value, tfx.proto.RangeConfig)
    return {"start_span": float(parsed.static_range.start_span_number)}


@pytest.mark.integration
def test_a_string_value_artifact_flows_between_components(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "off")
    make = MakeRange(input_date="20220107")
    read = ReadRange(range_config=make.outputs["range_config"])
    result = tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="values", pipeline_root=str(tmp_path / "root"), components=[make, read]))
    assert result.status == "COMPLETE"
    assert result.node("ReadRange").metrics == {"start_span": 7.0}
    stored_artifact = result.node("MakeRange").outputs["range_config"][0]
    assert isinstance(stored_artifact, tfx.types.standard_artifacts.String)
    stored = stored_artifact.value
    assert '"start_span_number":7' in stored


def test_a_facade_component_has_the_native_cache_key(tmp_path):
    import gristmill.components as gc
    from gristmill.orchestrator.cache import cache_ingredients

    (tmp_path / "data.csv").write_text("a,b\n1,2\n")

    facade = tfx.components.CsvExampleGen(input_base=str(tmp_path), output_config=tfx.proto.Output(
        split_config=tfx.proto.SplitConfig(splits=[
            tfx.proto.SplitConfig.Split(name="train", hash_buckets=3)])))
    native = gc.CsvExampleGen(input_base=str(tmp_path), output_config=gc.Output(
        split_config=gc.SplitConfig(splits=[gc.SplitSpec(name="train", hash_buckets=3)])))
    assert cache_ingredients(facade, {}, "p") == cache_ingredients(native, {}, "p")
    other = gc.CsvExampleGen(input_base=str(tmp_path), output_config=gc.Output(
        split_config=gc.SplitConfig(splits=[gc.SplitSpec(name="train", hash_buckets=4)])))
    assert cache_ingredients(facade, {}, "p") != cache_ingredients(other, {}, "p")
