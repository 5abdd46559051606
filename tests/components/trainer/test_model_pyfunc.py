"""The MLflow pyfunc directory written without MLflow: raw input examples and signatures."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components.trainer.model_pyfunc import RAW_EXAMPLE_FILE, _signature, input_example

pytestmark = pytest.mark.unit

RAW = [{"name": "island", "type": "string"}, {"name": "body_mass_g", "type": "int64"},
       {"name": "bill_length_mm", "type": "double"}]


def _raw_table(rows: int) -> pa.Table:
    return pa.table({"island": ["Biscoe", None, "Dream", "Torgersen", "Biscoe", "Dream"][:rows],
                     "body_mass_g": pa.array([3750, 3800, None, 4200, 3900, 4100][:rows],
                                             pa.int64()),
                     "bill_length_mm": [39.1, 39.5, 40.3, None, 36.7, 39.3][:rows],
                     "species": ["Adelie"] * rows})


def test_example_comes_from_raw_training_files_with_the_bundle_columns(tmp_path):
    pq.write_table(_raw_table(6), tmp_path / "part-00000.parquet")
    example = input_example([str(tmp_path / "part-00000.parquet")], RAW)
    assert example.column_names == ["island", "body_mass_g", "bill_length_mm"]
    assert example.num_rows == 5 and example["island"].to_pylist()[0] == "Biscoe"


def test_transformed_files_fall_back_to_the_graphs_raw_sample(tmp_path):
    transformed = tmp_path / "transformed.parquet"
    pq.write_table(pa.table({"island_id": [0, 1], "species": ["Adelie", "Gentoo"]}), transformed)
    graph = tmp_path / "graph"
    graph.mkdir()
    pq.write_table(_raw_table(3).drop_columns(["bill_length_mm"]), graph / RAW_EXAMPLE_FILE)
    example = input_example([str(transformed)], RAW, str(graph))
    assert example.num_rows == 3
    assert example["body_mass_g"].to_pylist() == [3750, 3800, None]
    # A raw column the sample lacks is added as missing values of its type.
    assert example.schema.field("bill_length_mm").type == pa.float64()
    assert example["bill_length_mm"].null_count == 3


def test_without_any_raw_source_one_typed_record_of_missing_values(tmp_path):
    example = input_example([], RAW, str(tmp_path / "no-graph"))
    assert example.num_rows == 1 and example.column_names == [f["name"] for f in RAW]
    assert [str(t) for t in example.schema.types] == ["string", "int64", "double"]


def test_signature_declares_outputs_only_so_gristmill_checks_raw_inputs():
    # An MLflow input schema refuses int64 for a "double" column (pd.read_csv of an integer
    # column) and drops unknown columns before predict; the bundle checks inputs itself.
    inputs = pa.schema([("island", pa.string()), ("body_mass_g", pa.int64()),
                        ("flag", pa.bool_()), ("code", pa.dictionary(pa.int32(), pa.string()))])
    outputs = pa.schema([("prediction", pa.string()),
                         ("probabilities", pa.list_(pa.float32())), ("score", pa.int64())])
    signature = _signature(inputs, outputs)
    assert signature["inputs"] is None
    assert json.loads(signature["outputs"]) == [
        {"type": "string", "name": "prediction", "required": True},
        {"type": "array", "items": {"type": "float"}, "name": "probabilities",
         "required": True},
        {"type": "long", "name": "score", "required": True}]


def test_an_unmappable_output_type_drops_the_signature():
    outputs = pa.schema([("prediction", pa.struct([("a", pa.int32())]))])
    assert _signature(pa.schema([("x", pa.float64())]), outputs) is None


@pytest.mark.integration
def test_pyfunc_serves_pd_read_csv_and_refuses_a_missing_column(tmp_path):
    """The documented recipe: pd.read_csv of the training CSV, label dropped, through MLflow."""
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd
    import pyarrow.csv as pacsv
    from bundles import penguin_like_table, train_bundle

    from gristmill.components.trainer.model_pyfunc import save_pyfunc
    from gristmill.engine.serving import load_bundle

    train = penguin_like_table(200)
    counts = np.arange(200) % 9
    train = train.append_column("clutch", pa.array([None if c == 0 else int(c) for c in counts],
                                                   pa.int64()))
    train = train.append_column("band", pa.array(np.arange(200) % 5, pa.int64()))
    model = train_bundle(str(tmp_path / "bundle"), train)
    pq.write_table(train, tmp_path / "part-00000.parquet")
    raw = [{"name": f.name, "type": str(f.type)} for f in train.schema if f.name != "species"]
    save_pyfunc(model.uri, input_example([str(tmp_path / "part-00000.parquet")], raw),
                str(tmp_path))
    pacsv.write_csv(train, tmp_path / "train.csv")
    frame = pd.read_csv(tmp_path / "train.csv").drop(columns=["species"])
    assert str(frame["band"].dtype) == "int64" and str(frame["clutch"].dtype) == "float64"
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "bundle" / "mlflow_model"))
    out = pyfunc.predict(frame)
    expected = load_bundle(model.uri).predict(train.drop_columns(["species"]))
    assert list(out["prediction"]) == expected["prediction"].to_pylist()
    assert "warnings" not in out.columns
    with pytest.raises(Exception, match=r"raw column 'band' is missing"):
        pyfunc.predict(frame.drop(columns=["band"]))
    # A column the model does not read is reported back, row by row.
    flagged = pyfunc.predict(frame.head(2).assign(islnd=["Dream", None]))
    assert list(flagged["warnings"]) == ["unknown field 'islnd' ignored (did you mean "
                                         "'island'?)", ""]


@pytest.mark.integration
def test_a_run_fn_model_class_is_trusted_by_the_trainer_only(tmp_path, monkeypatch):
    """The Trainer's pyfunc takes the class it just trained; other loaders need it listed."""
    from bundles import penguin_like_table

    from gristmill.components.trainer.model_pyfunc import save_pyfunc
    from gristmill.engine.errors import ConfigError
    from gristmill.engine.features import RawFeatureEncoder
    from gristmill.engine.labels import LabelSpec
    from gristmill.engine.serving import load_bundle, save_bundle

    (tmp_path / "user_models.py").write_text(
        "import torch\n"
        "class Linear(torch.nn.Module):\n"
        "    def __init__(self, width=2, classes=3):\n"
        "        super().__init__()\n"
        "        self.kwargs = {'width': width, 'classes': classes}\n"
        "        self.layer = torch.nn.Linear(width, classes)\n"
        "    def forward(self, numeric, categorical):\n"
        "        return self.layer(torch.nan_to_num(numeric))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import user_models

    table = penguin_like_table(50).drop_columns(["island"])
    encoder = RawFeatureEncoder.fit([table], exclude=["species"])
    label = LabelSpec.fit(table["species"], "species")
    directory = str(tmp_path / "bundle")
    raw = [{"name": f.name, "type": str(f.type)} for f in table.schema if f.name != "species"]
    save_bundle(directory, user_models.Linear(), encoder, label, raw, exports=())
    save_pyfunc(directory, table.drop_columns(["species"]).slice(0, 3), str(tmp_path))
    with pytest.raises(ConfigError, match="'user_models:Linear', which is not on the allow-list"):
        load_bundle(directory)
    monkeypatch.setenv("GRISTMILL_TRUSTED_MODEL_CLASSES", "user_models:Linear")
    assert load_bundle(directory).predict(table).num_rows == 50


def test_environment_files_rendered_once_per_process_same_text(tmp_path):
    """Rendered once (they are the same for every model a process saves) and byte for byte
    what ``yaml.safe_dump`` writes for them."""
    import yaml

    from gristmill.components.trainer import model_pyfunc

    first = model_pyfunc._environment_files()
    assert model_pyfunc._environment_files() is first
    for directory in (tmp_path / "a", tmp_path / "b"):
        directory.mkdir()
        model_pyfunc._write_environment(str(directory))
    for name, text in first:
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text() == text
        if name.endswith(".yaml"):
            assert text == yaml.safe_dump(yaml.safe_load(text), default_flow_style=False,
                                          sort_keys=False)
    requirements = dict(first)["requirements.txt"].splitlines()
    assert [r.split("==")[0] for r in requirements] == list(model_pyfunc.REQUIREMENTS)


def test_mlmodel_dumper_writes_what_the_python_safe_dumper_writes():
    """libyaml's emitter (when present) must not change the MLmodel's bytes."""
    import yaml

    from gristmill.components.trainer.model_pyfunc import YAML_DUMPER

    signature = _signature(pa.schema([]), pa.schema([("prediction", pa.string()),
                                                      ("probabilities", pa.list_(pa.float32()))]))
    mlmodel = {"flavors": {"python_function": {"artifacts": {"bundle": {
        "path": "artifacts/bundle", "uri": "/tmp/some where/ünïcode/bundle"}}, "code": None,
        "streamable": False, "python_version": "3.11.7"}}, "mlflow_version": "3.17.2",
        "model_size_bytes": 123456, "utc_time_created": "2026-12-03 16:21:07.123456",
        "metadata": {"gristmill_raw_inputs": [{"name": "island", "type": "string",
                                               "kind": "string"}, {"name": "yes", "type": "bool",
                                                                   "kind": "number"}]},
        "signature": signature, "is_signature_from_type_hint": False}
    assert yaml.dump(mlmodel, Dumper=YAML_DUMPER, default_flow_style=False) == \
        yaml.dump(mlmodel, Dumper=yaml.SafeDumper, default_flow_style=False)
