"""``@component``: specs from a typed signature, and the executor it builds."""

from __future__ import annotations

import pytest
from orchestrator_fakes import AddOne, Halter, Join, Source, read_value, write_value

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.framework.executor import ExecutionContext, Reporter
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Examples

pytestmark = pytest.mark.unit


class RecordingReporter(Reporter):
    """A fake reporter that keeps what it was given."""

    def __init__(self):
        self.metrics: list[dict] = []

    def log_metrics(self, metrics, step=None):
        self.metrics.append(dict(metrics))


def _artifact(tmp_path, name: str, value: int | None = None) -> Examples:
    path = tmp_path / name
    path.mkdir()
    artifact = Examples(str(path))
    if value is not None:
        write_value(artifact, value)
    return artifact


def test_specs_come_from_annotations():
    assert {"x": InputSpec(Examples, optional=False)} == AddOne.INPUTS
    assert {"out": OutputSpec(Examples)} == AddOne.OUTPUTS
    assert set(AddOne.PARAMETERS.model_fields) == {"inc", "fail_flag"}
    assert AddOne.PARAMETERS().inc == 1
    assert Join.INPUTS["c"].optional and not Join.INPUTS["a"].optional
    assert issubclass(AddOne, BaseComponent) and AddOne.__name__ == "AddOne"


def test_version_is_a_digest_of_the_function_source():
    assert len(AddOne.VERSION) == 16 and AddOne.VERSION != Source.VERSION


def test_executor_passes_artifacts_parameters_and_logs_returned_numbers(tmp_path):
    source, out = _artifact(tmp_path, "in", 41), _artifact(tmp_path, "out")
    reporter = RecordingReporter()
    context = ExecutionContext(component_id="AddOne", tmp_dir=str(tmp_path),
                               reporter=reporter)
    AddOne.EXECUTOR(context).Do({"x": [source]}, {"out": [out]}, AddOne.PARAMETERS(inc=2))
    assert read_value(out) == 43
    assert context.metrics == {"result": 43.0}
    assert reporter.metrics == [{"result": 43}]


def test_optional_input_left_out_is_none(tmp_path):
    a, b, out = (_artifact(tmp_path, "a", 1), _artifact(tmp_path, "b", 2),
                 _artifact(tmp_path, "out"))
    context = ExecutionContext(component_id="Join", tmp_dir=str(tmp_path))
    Join.EXECUTOR(context).Do({"a": [a], "b": [b]}, {"out": [out]}, Join.PARAMETERS())
    assert read_value(out) == 3


def test_execution_context_parameter_receives_the_context(tmp_path):
    x, out = _artifact(tmp_path, "x", 5), _artifact(tmp_path, "out")
    context = ExecutionContext(component_id="Halter", tmp_dir=str(tmp_path))
    Halter.EXECUTOR(context).Do({"x": [x]}, {"out": [out]}, Halter.PARAMETERS())
    assert context.halt_reason == "the data looked wrong"
    assert "context" not in Halter.PARAMETERS.model_fields


def test_failing_reporter_only_warns(tmp_path, caplog):
    class Broken(Reporter):
        def log_metrics(self, metrics, step=None):
            raise RuntimeError("tracking server down")

    context = ExecutionContext(component_id="X", reporter=Broken())
    context.log_metrics({"loss": 0.5})
    assert context.metrics == {"loss": 0.5}
    assert "tracking server down" in caplog.text


def test_missing_annotation_is_a_config_error():
    def NoHint(rows) -> None:
        """A parameter without a type."""

    with pytest.raises(ConfigError, match=r"@component NoHint: parameter 'rows' has no type "
                                          r"annotation.*rows: Parameter\[int\]"):
        component(NoHint)


def test_non_artifact_type_in_artifact_annotation_is_refused():
    def BadOutput(out: OutputArtifact[int]) -> None:
        """An output that is not an artifact type."""

    with pytest.raises(ConfigError, match=r"@component BadOutput: 'out' must name an artifact "
                                          r"type"):
        component(BadOutput)


def test_plain_annotations_are_parameters_and_required_ones_must_be_given():
    @component
    def Scaled(examples: InputArtifact[Examples], factor: float,
               label: Parameter[str] = "y") -> None:
        """A required plain parameter and an optional typed one."""

    upstream = Source()
    with pytest.raises(ConfigError, match=r"Scaled: invalid parameters: factor: Field required"):
        Scaled(examples=upstream.outputs["out"])
    node = Scaled(examples=upstream.outputs["out"], factor=2)
    assert (node.parameters.factor, node.parameters.label) == (2.0, "y")
