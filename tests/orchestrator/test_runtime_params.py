"""Run-time parameters from value artifacts: TFX's penguin pattern of a generator component
whose RangeConfig output feeds ExampleGen's ``range_config`` through ``.future()[0].value``."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from gristmill.metadata.errors import CompileError, ConfigError
from gristmill.metadata.store import open_store
from gristmill.metadata.types import ExecutionState
from gristmill.orchestrator import tfx_v1 as tfx
from gristmill.orchestrator.compiler import compile_pipeline
from gristmill.orchestrator.explain import explain
from gristmill.orchestrator.tfx import proto_utils

sa = tfx.types.standard_artifacts
Parameter, OutputArtifact = tfx.dsl.components.Parameter, tfx.dsl.components.OutputArtifact


@tfx.dsl.components.component
def RangeConfigGen(span: Parameter[int],  # noqa: N802 - TFX style
                   range_config: OutputArtifact[sa.String]):
    """Chooses one span, as TFX's RangeConfig generators do (proto JSON in a String)."""
    range_config.value = proto_utils.proto_to_json(tfx.proto.RangeConfig(
        static_range=tfx.proto.StaticRange(start_span_number=span, end_span_number=span)))


@tfx.dsl.components.component
def WriteValue(text: Parameter[str], out: OutputArtifact[sa.String]):  # noqa: N802
    """Writes any string (or nothing, for the empty string)."""
    if text:
        out.value = text


@tfx.dsl.components.component
def WriteInteger(out: OutputArtifact[sa.Integer]):  # noqa: N802
    out.value = 3


@pytest.fixture
def spans(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "off")
    data = tmp_path / "data"
    for span, rows in ((1, 5), (2, 7), (3, 9)):
        (data / f"span-{span}").mkdir(parents=True)
        lines = [f"{span * 100 + i},{i % 2}" for i in range(rows)]
        (data / f"span-{span}" / "part.csv").write_text("x,y\n" + "\n".join(lines) + "\n")
    return tmp_path


def _example_gen(data, range_config):
    return tfx.components.CsvExampleGen(
        input_base=str(data), range_config=range_config,
        input_config=tfx.proto.Input(splits=[tfx.proto.Input.Split(
            name="train", pattern="span-{SPAN}/*.csv")]))


def _run(root, *components, enable_cache=True):
    return tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="spans", pipeline_root=str(root), components=list(components),
        enable_cache=enable_cache))


def _ingested(result) -> tuple[int, list[int]]:
    examples = result.node("CsvExampleGen").outputs["examples"][0]
    rows = [x for split in examples.splits
            for x in pq.read_table(examples.split_uri(split)).column("x").to_pylist()]
    return examples.get_property("span"), sorted(rows)


@pytest.mark.integration
def test_a_generated_range_config_picks_the_span_and_is_in_the_cache_key(spans):
    gen = RangeConfigGen(span=2)
    example_gen = _example_gen(spans / "data", gen.outputs["range_config"].future()[0].value)
    # Listed before its producer: the compiler orders it after RangeConfigGen.
    first = _run(spans / "root", example_gen, gen)
    assert first.status == "COMPLETE", first.node("CsvExampleGen").error
    assert _ingested(first) == (2, [200 + i for i in range(7)])  # not the latest span (3)
    recorded = first.node("CsvExampleGen").parameters["range_config"]
    assert "static_range" in str(recorded) and "2" in str(recorded)

    gen3 = RangeConfigGen(span=3)
    second = _run(spans / "root", _example_gen(spans / "data", gen3.outputs[
        "range_config"].future().value), gen3)
    assert second.node("CsvExampleGen").state is ExecutionState.COMPLETE  # not a cache hit
    assert _ingested(second) == (3, [300 + i for i in range(9)])

    again_example_gen = _example_gen(spans / "data", gen.outputs[
        "range_config"].future()[0].value)
    with open_store(None) as store:  # explain reads the value as the run will: a hit
        verdicts = {v.node_id: v.verdict for v in explain(compile_pipeline(tfx.dsl.Pipeline(
            pipeline_name="spans", pipeline_root=str(spans / "root"),
            components=[gen, again_example_gen])), store)}
    assert verdicts == {"RangeConfigGen": "hit", "CsvExampleGen": "hit"}
    again = _run(spans / "root", again_example_gen, gen)
    assert again.node("CsvExampleGen").state is ExecutionState.CACHED  # span 2's run
    assert _ingested(again) == (2, [200 + i for i in range(7)])


def test_the_value_producer_is_an_upstream_and_must_be_in_the_pipeline(spans):
    gen = RangeConfigGen(span=2)
    example_gen = _example_gen(spans / "data", gen.outputs["range_config"].future()[0].value)
    compiled = compile_pipeline(tfx.dsl.Pipeline(
        pipeline_name="p", pipeline_root=str(spans / "root"), components=[example_gen, gen]))
    assert compiled.order == ["RangeConfigGen", "CsvExampleGen"]
    assert compiled.nodes["CsvExampleGen"].upstream == {"RangeConfigGen"}
    with pytest.raises(CompileError, match=r"CsvExampleGen\(range_config=\.\.\.\): expected "
                                           r"its producer RangeConfigGen"):
        compile_pipeline(tfx.dsl.Pipeline(pipeline_name="p", components=[example_gen]))


@pytest.mark.integration
@pytest.mark.parametrize("producer, message", [
    (lambda: WriteValue(text=""), r"could not be read: .*no value was written"),
    (lambda: WriteValue(text="span two"), r"run-time value 'span two' is not a valid value: "
                                          r"range_config"),
    (lambda: WriteInteger(), r"run-time value 3 is not a valid value: range_config"),
])
def test_a_missing_or_wrong_value_fails_the_node_naming_parameter_and_producer(
        spans, producer, message):
    gen = producer()
    key = next(iter(gen.outputs))
    result = _run(spans / "root", gen, _example_gen(spans / "data",
                                                    gen.outputs[key].future()[0].value))
    node = result.node("CsvExampleGen")
    assert result.status == "FAILED" and node.state is ExecutionState.FAILED
    assert f'CsvExampleGen(range_config={gen.id}.outputs["{key}"].future()[0].value)' in \
        node.error
    assert __import__("re").search(message, node.error), node.error
    assert "Fix: " in node.error


@pytest.mark.integration
def test_a_non_value_artifact_is_refused(spans):
    upstream = _example_gen(spans / "data", None).with_id("first_gen")
    result = _run(spans / "root", upstream, _example_gen(
        spans / "data", upstream.outputs["examples"].future()[0].value))
    assert "expected a value artifact (String, Integer, Float, Boolean, JsonValue), got " \
           "Examples" in result.node("CsvExampleGen").error


def test_a_required_parameter_cannot_wait_for_a_run_time_value(spans):
    gen = WriteValue(text="x")
    with pytest.raises(ConfigError, match=r"CsvExampleGen\(input_base=\.\.\.\): a required "
                                          r"parameter cannot wait"):
        tfx.components.CsvExampleGen(input_base=gen.outputs["out"].future()[0].value)
    with pytest.raises(ConfigError, match=r"unknown parameter 'range_confg'"):
        tfx.components.CsvExampleGen(input_base=str(spans),
                                     range_confg=gen.outputs["out"].future()[0].value)


@pytest.mark.integration
def test_the_penguin_port_range_config_generator_runs_as_in_tfx(spans):
    """pipelines/tfx_penguin keeps TFX's RangeConfigGenerator and its
    ``outputs['range_config'].future()[0].value``: a date picks the day's span."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "pipelines" / "tfx_penguin" / \
        "penguin_pipeline_local.py"
    spec = importlib.util.spec_from_file_location("penguin_port_for_range", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for day in (1, 2, 3):
        (spans / "data" / "labelled" / f"day{day}").mkdir(parents=True)
        (spans / "data" / "labelled" / f"day{day}" / "p.csv").write_text(
            "x,y\n" + "\n".join(f"{day * 100 + i},1" for i in range(4)) + "\n")
    pipeline = module.create_pipeline(
        pipeline_name="penguin_range", pipeline_root=str(spans / "root"),
        data_root=str(spans / "data"), module_file="unused.py", accuracy_threshold=0.6,
        serving_model_dir=str(spans / "serving"), metadata_path=str(spans / "md.db"),
        user_provided_schema_path=None, enable_tuning=False, enable_bulk_inferrer=False,
        examplegen_input_config=tfx.proto.Input(splits=[tfx.proto.Input.Split(
            name="input", pattern="day{SPAN}/*")]),
        examplegen_range_config_date="20220103", resolver_range_config=None,
        beam_pipeline_args=[], enable_transform_input_cache=False)
    compiled = compile_pipeline(pipeline)
    assert "RangeConfigGenerator" in compiled.nodes["CsvExampleGen"].upstream
    nodes = {c.id: c for c in pipeline.components}
    result = _run(spans / "root", nodes["RangeConfigGenerator"], nodes["CsvExampleGen"])
    assert result.status == "COMPLETE", result.node("CsvExampleGen").error
    assert _ingested(result) == (2, [200, 201, 202, 203])  # 2022-01-03 is day 2


@pytest.mark.integration
def test_a_value_in_a_cond_predicate(spans):
    """``future()[0].value`` also reads a value artifact in a ``Cond`` (TFX allows both)."""
    go, stop = WriteValue(text="go").with_id("go"), WriteValue(text="stop").with_id("stop")
    with tfx.dsl.Cond(go.outputs["out"].future().value == "go"):
        runs = WriteInteger().with_id("runs")
    with tfx.dsl.Cond(stop.outputs["out"].future()[0].value == "go"):
        skipped = WriteInteger().with_id("skipped")
    result = _run(spans / "root", go, stop, runs, skipped)
    assert result.node("runs").state is ExecutionState.COMPLETE
    assert result.node("skipped").state is ExecutionState.CANCELED


@pytest.mark.integration
def test_run_node_per_process_reads_the_value_from_the_store(spans):
    """``gristmill run-node`` (one node per task, as on Airflow/KFP): the generator's value is
    read back from the store's outputs of the same run."""
    from gristmill.orchestrator.run_node import run_node

    gen = RangeConfigGen(span=1)
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="spans_tasks", pipeline_root=str(spans / "root"), components=[
            gen, _example_gen(spans / "data", gen.outputs["range_config"].future()[0].value)])
    run_node(pipeline, "RangeConfigGen", "task-run")
    outcome = run_node(pipeline, "CsvExampleGen", "task-run")
    assert outcome.state == "COMPLETE", outcome.error
    with open_store(None) as store:
        examples = store.get_outputs(outcome.execution_id)["examples"][0]
        assert examples.get_property("span") == 1
        params = store.get_execution(outcome.execution_id).parameters
    assert "start_span_number" in str(params["range_config"])


@tfx.dsl.components.component
def RangeConfigDict(range_config: OutputArtifact[sa.JsonValue]):  # noqa: N802
    range_config.value = tfx.proto.RangeConfig(static_range=tfx.proto.StaticRange(
        start_span_number=1, end_span_number=1)).model_dump(exclude_none=True)


@pytest.mark.integration
def test_a_json_value_holding_the_config_dict_works_too(spans):
    gen = RangeConfigDict()
    result = _run(spans / "root", gen, _example_gen(spans / "data", gen.outputs[
        "range_config"].future()[0].value))
    assert result.status == "COMPLETE", result.node("CsvExampleGen").error
    assert _ingested(result) == (1, [100, 101, 102, 103, 104])


@pytest.mark.integration
def test_a_json_config_with_a_bad_field_names_the_field(spans):
    gen = WriteValue(text='{"static_range": {"start_span_number": "two"}}')
    result = _run(spans / "root", gen, _example_gen(spans / "data",
                                                    gen.outputs["out"].future()[0].value))
    error = result.node("CsvExampleGen").error
    assert "range_config.static_range.start_span_number" in error, error
