"""BulkInferrer: Beam batch inference with the serving bundle."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bundles import penguin_like_table, train_bundle, write_examples

from gristmill.components.bulk_inferrer.component import BulkInferrer
from gristmill.components.bulk_inferrer.config import BulkInferrerParameters, DataSpec
from gristmill.components.bulk_inferrer.executor import BulkInferrerExecutor
from gristmill.components.framework.base import Channel
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.errors import ConfigError, DataError
from gristmill.metadata.standard_artifacts import (
    Examples,
    InferenceResult,
    Model,
    ModelBlessing,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bulk")
    train = penguin_like_table(200, seed=0)
    model = train_bundle(str(root / "model"), train, good=True, model_id=41)
    unlabelled = penguin_like_table(250, seed=5).drop_columns(["species"])
    examples = write_examples(str(root / "examples"),
                              {"unlabelled": unlabelled, "extra": unlabelled.slice(0, 7)},
                              files_per_split=3)
    # An empty Parquet file must give an empty output file, not a missing one.
    pq.write_table(unlabelled.slice(0, 0),
                   os.path.join(examples.split_uri("extra"), "part-00003.parquet"))
    return {"root": root, "model": model, "examples": examples, "table": unlabelled}


def _infer(root, name, model, examples, **inputs):
    out = Examples(str(root / name / "examples"))
    result = InferenceResult(str(root / name / "result"))
    for a in (out, result):
        os.makedirs(a.uri)
    context = ExecutionContext(component_id="BulkInferrer", tmp_dir=str(root / name))
    params = BulkInferrerParameters(**inputs.pop("params", {}))
    BulkInferrerExecutor(context).Do(
        {"examples": [examples], "model": [model], **{k: [v] for k, v in inputs.items()}},
        {"output_examples": [out], "inference_result": [result]}, params)
    return out, result, context


def test_row_counts_equal_inputs_and_predictions_match_the_bundle(world):
    from gristmill.engine.serving import load_bundle

    out, result, _ = _infer(world["root"], "all", world["model"], world["examples"])
    assert out.splits == ["unlabelled", "extra"]
    assert out.get_property("row_counts") == {"unlabelled": 250, "extra": 7}
    assert result.get_custom_property("row_counts") == {"unlabelled": 250, "extra": 7}
    table = pq.read_table(out.split_uri("unlabelled"))
    assert table.num_rows == 250
    assert table.column_names == [*world["table"].column_names, "prediction", "probabilities"]
    assert table.select(world["table"].column_names).equals(world["table"])
    expected = load_bundle(world["model"].uri).predict(world["table"])
    assert table["prediction"].to_pylist() == expected["prediction"].to_pylist()
    assert len(os.listdir(out.split_uri("extra"))) == 4
    only = pq.read_table(os.path.join(result.uri, "Split-unlabelled"))
    assert only.column_names == ["prediction", "probabilities"]
    sums = np.array([sum(p) for p in only["probabilities"].to_pylist()])
    assert np.allclose(sums, 1.0, atol=1e-5)


def test_selected_split_only_and_unknown_split_refused(world):
    out, _, _ = _infer(world["root"], "one", world["model"], world["examples"],
                       params={"data_spec": DataSpec(example_splits=["extra"])})
    assert out.get_property("row_counts") == {"extra": 7}
    with pytest.raises(ConfigError, match="split 'nope' is not in the examples"):
        _infer(world["root"], "bad", world["model"], world["examples"],
               params={"data_spec": DataSpec(example_splits=["nope"])})


def test_unblessed_model_infers_nothing_and_halts_downstream(world, tmp_path):
    blessing = ModelBlessing(str(tmp_path), custom_properties={
        "blessed": 0, "current_model_id": 41, "blessing_message": "accuracy too low"})
    out, result, context = _infer(world["root"], "unblessed", world["model"], world["examples"],
                                  model_blessing=blessing)
    assert out.get_custom_property("inferred") == 0
    assert "accuracy too low" in result.get_custom_property("reason")
    assert out.splits == [] and os.listdir(out.uri) == []
    assert "BulkInferrer skipped" in context.halt_reason


def test_input_column_named_like_a_prediction_is_refused(world, tmp_path):
    table = world["table"].slice(0, 5).append_column("prediction", pa.array([1] * 5))
    examples = write_examples(str(tmp_path / "ex"), {"x": table})
    with pytest.raises(DataError, match=r"already has column\(s\) \['prediction'\]"):
        _infer(tmp_path, "clash", world["model"], examples)


def test_examples_without_a_raw_column_are_refused_before_inference(world, tmp_path):
    table = world["table"].slice(0, 20)
    second = table.drop_columns(["island"])  # one file of the split lacks a feature column
    examples = write_examples(str(tmp_path / "ex"), {"x": pa.concat_tables([table, table])},
                              files_per_split=2)
    pq.write_table(second, os.path.join(examples.split_uri("x"), "part-00001.parquet"))
    with pytest.raises(ConfigError, match=r"BulkInferrer: the examples lack raw column\(s\) "
                                          r"\['island'\] that model 41 reads.*part-00001"
                                          r".*Fix: give BulkInferrer raw examples"):
        _infer(tmp_path, "missing", world["model"], examples)
    assert not os.listdir(tmp_path / "missing" / "result" / "Split-x")  # nothing written


def test_component_checks_channel_types():
    inferrer = BulkInferrer(examples=Channel(Examples), model=Channel(Model),
                            model_blessing=Channel(ModelBlessing))
    assert inferrer.outputs["output_examples"].type is Examples
    assert inferrer.outputs["inference_result"].type is InferenceResult
    with pytest.raises(ConfigError, match="expected a Model channel, got Examples"):
        BulkInferrer(examples=Channel(Examples), model=Channel(Examples))
