"""The cache key: one test per ingredient, and what a hit requires."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from orchestrator_fakes import Counter, OkExecutor, diamond, make_pipeline, read_value
from pydantic import BaseModel

from gristmill.components.framework.base import BaseComponent, OutputSpec, Parameters
from gristmill.metadata.standard_artifacts import Examples
from gristmill.metadata.types import ArtifactState, ExecutionState
from gristmill.orchestrator import SequentialRunner, cache
from gristmill.orchestrator.cache import cache_ingredients, cache_key, describe_changes


class RichParameters(Parameters):
    """One field per kind of value the canonical form handles."""

    n: int = 1
    rate: float = 0.5
    name: str = "a"
    flag: bool = False
    columns: list[str] = ["x", "y"]
    options: dict[str, int] = {"k": 1}
    tags: frozenset[str] = frozenset({"p", "q"})
    table: Any = None
    fn: Callable | None = None
    module_file: str = ""


class Rich(BaseComponent):
    """A component with every kind of parameter."""

    OUTPUTS = {"examples": OutputSpec(Examples)}
    PARAMETERS = RichParameters
    EXECUTOR = OkExecutor


def _key(component, inputs=None) -> str:
    return cache_key(cache_ingredients(component, inputs or {}))


def _load_function(tmp_path, filename: str, body: str) -> Callable:
    path = tmp_path / filename
    path.write_text(f"def preprocess(x):\n    {body}\n")
    spec = importlib.util.spec_from_file_location(f"user_{filename[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.preprocess


def _only_change(before: dict, after: dict) -> set[str]:
    return {k for k in before if before[k] != after[k]}


# -- every ingredient changes the key ------------------------------------------------------
@pytest.mark.unit
def test_same_definition_same_key():
    assert _key(Rich()) == _key(Rich())
    assert _key(Rich(options={"a": 1, "b": 2})) == _key(Rich(options={"b": 2, "a": 1}))
    assert len(_key(Rich())) == 64


@pytest.mark.unit
def test_component_type_changes_the_key():
    class OtherCounter(Counter):
        """Same parameters and executor, another class."""

    other = OtherCounter().with_id("Counter")
    before, after = cache_ingredients(Counter(), {}), cache_ingredients(other, {})
    assert _only_change(before, after) == {"component_type"}
    assert cache_key(before) != cache_key(after)


@pytest.mark.unit
def test_component_version_changes_the_key(monkeypatch):
    before = cache_ingredients(Counter(), {})
    monkeypatch.setattr(Counter, "VERSION", "2")
    after = cache_ingredients(Counter(), {})
    assert _only_change(before, after) == {"component_version"}
    assert cache_key(before) != cache_key(after)


@pytest.mark.unit
def test_gristmill_version_changes_the_key(monkeypatch):
    before = cache_ingredients(Counter(), {})
    monkeypatch.setattr(cache, "gristmill_version", lambda: "99.0.0")
    after = cache_ingredients(Counter(), {})
    assert _only_change(before, after) == {"gristmill_version"}
    assert cache_key(before) != cache_key(after)


@pytest.mark.unit
@pytest.mark.parametrize("name,value", [
    ("n", 2), ("rate", 0.25), ("name", "b"), ("flag", True), ("columns", ["y", "x"]),
    ("options", {"k": 2}), ("tags", frozenset({"p"})),
    ("table", pd.DataFrame({"x": [1, 2]})), ("fn", len)])
def test_each_parameter_changes_the_key(name, value):
    before = cache_ingredients(Rich(), {})
    after = cache_ingredients(Rich(**{name: value}), {})
    assert _key(Rich()) != _key(Rich(**{name: value}))
    assert describe_changes(before, after)[0].startswith(
        f"parameter {name + '.k' if name == 'options' else name!r} changed")


class TrainConfig(BaseModel):
    """A nested config model, as Trainer's ``config`` is."""

    layers: list[int] = [64] * 30
    learning_rate: float = 0.001


class ConfiguredParameters(Parameters):
    """A parameter whose value is a model with many fields."""

    config: TrainConfig = TrainConfig()
    columns: list[str] = [f"c{i}" for i in range(40)]


class Configured(BaseComponent):
    """A component whose change hides deep inside a long parameter value."""

    OUTPUTS = {"examples": OutputSpec(Examples)}
    PARAMETERS = ConfiguredParameters
    EXECUTOR = OkExecutor


@pytest.mark.unit
def test_a_nested_parameter_change_names_its_path_and_both_values():
    before = cache_ingredients(Configured(), {})
    after = cache_ingredients(Configured(config=TrainConfig(learning_rate=0.003)), {})
    assert describe_changes(before, after) == [
        "parameter 'config.learning_rate' changed: 0.001 -> 0.003"]
    # A long list that differs late: both sides are shown around the difference.
    after = cache_ingredients(Configured(columns=[f"c{i}" for i in range(39)] + ["zz"]), {})
    (line,) = describe_changes(before, after)
    assert '"c39"' in line and '"zz"' in line


@pytest.mark.unit
def test_dataframe_parameters_are_keyed_by_content():
    first = Rich(table=pd.DataFrame({"x": [1, 2]}))
    assert _key(first) == _key(Rich(table=pd.DataFrame({"x": [1, 2]})))
    assert _key(first) != _key(Rich(table=pd.DataFrame({"x": [1, 3]})))


@pytest.mark.unit
def test_module_file_content_changes_the_key(tmp_path):
    module = tmp_path / "preprocessing.py"
    module.write_text("SCALE = 1\n")
    before = cache_ingredients(Rich(module_file=str(module)), {})
    module.write_text("SCALE = 2\n")  # same path, new content
    after = cache_ingredients(Rich(module_file=str(module)), {})
    assert _only_change(before, after) == {"module_files"}
    assert cache_key(before) != cache_key(after)
    assert describe_changes(before, after) == [
        f"module file 'module_file' changed: \"{before['module_files']['module_file']}\" -> "
        f"\"{after['module_files']['module_file']}\""]


@pytest.mark.unit
def test_callable_source_changes_the_key(tmp_path):
    old = _load_function(tmp_path, "v1.py", "return x + 1")
    new = _load_function(tmp_path, "v2.py", "return x + 2")
    same = _load_function(tmp_path, "v3.py", "return x + 1")
    before = cache_ingredients(Rich(fn=old), {})
    after = cache_ingredients(Rich(fn=new), {})
    assert before["parameters"]["fn"]["callable"] == after["parameters"]["fn"]["callable"]
    assert before["parameters"]["fn"] != after["parameters"]["fn"]
    assert "fn source" in before["module_files"]
    assert cache_key(before) != cache_key(after)
    assert cache_ingredients(Rich(fn=same), {})["parameters"] == before["parameters"]


@pytest.mark.unit
def test_input_fingerprint_changes_the_key():
    first = {"examples": [Examples("/a", id=1, fingerprint="blake2b:aaa")]}
    moved = {"examples": [Examples("/b", id=2, fingerprint="blake2b:aaa")]}
    edited = {"examples": [Examples("/a", id=1, fingerprint="blake2b:bbb")]}
    assert _key(Counter(), first) == _key(Counter(), moved)  # content, not location
    assert _key(Counter(), first) != _key(Counter(), edited)
    changes = describe_changes(cache_ingredients(Counter(), first),
                               cache_ingredients(Counter(), edited))
    assert changes == ['input \'examples\' changed: ["blake2b:aaa"] -> ["blake2b:bbb"]']


@pytest.mark.unit
def test_external_inputs_change_the_key():
    class FileReader(Counter):
        """Fingerprints files outside the store, like ExampleGen."""

        seen = "files-v1"

        def fingerprint_external_inputs(self):
            return self.seen

    reader = FileReader()
    before = cache_ingredients(reader, {})
    reader.seen = "files-v2"
    after = cache_ingredients(reader, {})
    assert _only_change(before, after) == {"external_inputs"}
    assert cache_key(before) != cache_key(after)
    assert describe_changes(before, after) == [
        'external inputs changed: "files-v1" -> "files-v2"']


@pytest.mark.unit
def test_beam_args_are_not_ingredients():
    counter = Counter()
    assert _key(counter) == _key(counter.with_beam_pipeline_args(["--direct_num_workers=2"]))


@pytest.mark.unit
def test_node_id_and_pipeline_change_the_key():
    """Two nodes (or pipelines) with one definition never share outputs, as in TFX."""
    counter = Counter()
    before = cache_ingredients(counter, {}, "p")
    assert _only_change(before, cache_ingredients(counter.with_id("renamed"), {}, "p")) == {
        "node_id"}
    assert _only_change(before, cache_ingredients(counter, {}, "other")) == {"pipeline"}
    assert cache_key(before) != cache_key(cache_ingredients(counter, {}, "other"))


@pytest.mark.unit
def test_ingredient_docstring_lists_every_ingredient():
    listed = cache_ingredients.__doc__
    for ingredient in cache_ingredients(Counter(), {}):
        assert f"{ingredient}:" in listed


# -- what a hit requires ---------------------------------------------------------------------
def _run(tmp_path, components):
    return SequentialRunner().run(make_pipeline(tmp_path, components))


def _states(result) -> dict[str, str]:
    return {r.node_id: r.state.value for r in result.components}


@pytest.mark.integration
def test_a_failed_execution_is_never_a_hit(tmp_path):
    flag = tmp_path / "crash"
    flag.touch()
    failed = _run(tmp_path, diamond(fail_flag=str(flag)))
    assert _states(failed)["left"] == "FAILED"
    flag.unlink()
    fixed = _run(tmp_path, diamond(fail_flag=str(flag)))
    assert _states(fixed) == {"Source": "CACHED", "right": "CACHED", "left": "COMPLETE",
                              "Join": "COMPLETE"}


@pytest.mark.integration
def test_deleted_output_is_a_miss_and_marked_deleted(tmp_path, open_test_store):
    first = _run(tmp_path, diamond())
    source_output = first.node("Source").outputs["out"][0]
    shutil.rmtree(source_output.uri)
    second = _run(tmp_path, diamond())
    source = second.node("Source")
    assert source.state is ExecutionState.COMPLETE
    assert "missing" in source.cache_reason
    # The re-made output has the same content, so everything downstream is still a hit.
    assert _states(second) == {"Source": "COMPLETE", "left": "CACHED", "right": "CACHED",
                               "Join": "CACHED"}
    with open_test_store() as store:
        assert store.get_artifacts([source_output.id])[0].state is ArtifactState.DELETED


@pytest.mark.integration
def test_modified_output_is_a_miss_and_marked_abandoned(tmp_path, open_test_store):
    first = _run(tmp_path, diamond())
    left_output = first.node("left").outputs["out"][0]
    with open(os.path.join(left_output.uri, "value.txt"), "w") as f:
        f.write("999")
    second = _run(tmp_path, diamond())
    assert _states(second) == {"Source": "CACHED", "left": "COMPLETE", "right": "CACHED",
                               "Join": "CACHED"}
    assert "fingerprint mismatch" in second.node("left").cache_reason
    assert read_value(second.node("left").outputs["out"][0]) == 2
    with open_test_store() as store:
        assert store.get_artifacts([left_output.id])[0].state is ArtifactState.ABANDONED


@pytest.mark.integration
def test_an_input_edited_in_place_with_the_same_size_and_mtime_is_no_cache_hit(tmp_path):
    from gristmill.components import CsvExampleGen

    data = tmp_path / "data"
    data.mkdir()
    csv = data / "rows.csv"
    csv.write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    pipeline = make_pipeline(tmp_path, [CsvExampleGen(input_base=str(data))])
    assert SequentialRunner().run(pipeline).node("CsvExampleGen").state is \
        ExecutionState.COMPLETE
    before = os.stat(csv)
    with open(csv, "r+b") as handle:  # same size, one value changed
        handle.seek(len("x,label\n"))
        handle.write(b"7")
    os.utime(csv, ns=(before.st_atime_ns, before.st_mtime_ns))

    again = SequentialRunner().run(pipeline).node("CsvExampleGen")

    assert again.state is ExecutionState.COMPLETE  # not CACHED: the bytes changed
