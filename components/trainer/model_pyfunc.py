"""Save a serving bundle as an MLflow pyfunc model (models-from-code) inside the bundle.

The directory is written as plain files, without importing MLflow (2-3 s of the Trainer
otherwise): ``MLmodel`` with a ``python_function`` flavor whose ``loader_module`` is MLflow's
models-from-code loader, the code file (:mod:`gristmill.components.trainer.pyfunc_code`), the bundle
as the ``bundle`` artifact, the input example, the signature, and the environment files
(``requirements.txt``, ``python_env.yaml``, ``conda.yaml``). This is the layout
``mlflow.pyfunc.save_model(python_model=<code file>, artifacts=...)`` writes (MLflow 3.x);
``mlflow.pyfunc.load_model`` and ``mlflow models predict`` read it (tests check both).
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import shutil
import sys
import tempfile
import uuid
from typing import Any

import pyarrow as pa
import yaml

CODE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyfunc_code.py")
MLFLOW_DIR = "mlflow_model"
EXAMPLE_ROWS = 5
#: A few raw records Transform writes beside its graph (``transform.executor``), for models
#: trained on transformed examples (whose files have no raw columns).
RAW_EXAMPLE_FILE = "raw_example.parquet"
#: libyaml's emitter when PyYAML has it: the same text as ``yaml.SafeDumper`` (a test
#: checks), in a fifth of the time (~1 ms of every Trainer run for the MLmodel).
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
REQUIREMENTS = ("torch", "numpy", "pyarrow", "pandas", "safetensors", "onnxruntime", "mlflow")


def input_example(files: list[str], raw_features: list[dict[str, str]],
                  transform_graph_path: str | None = None, rows: int = EXAMPLE_ROWS) -> pa.Table:
    """A few raw records with exactly the bundle's raw feature columns (label excluded).

    Taken from the first training file when it has the raw columns, else from the raw
    sample Transform keeps in ``transform_graph_path`` (models trained on transformed
    examples), else one record of missing values typed from ``raw_features``. A raw column
    the source lacks is added as missing values (serving treats it the same way).

    Args:
        files: The training Parquet files.
        raw_features: The bundle's ``[{"name", "type"}]`` (Arrow type names).
        transform_graph_path: The ``transform_graph`` directory, if any.
        rows: Records to take.
    """
    import pyarrow.parquet as pq

    names = [f["name"] for f in raw_features]
    sources = [files[0]] if files else []
    if transform_graph_path:
        sources.append(os.path.join(transform_graph_path, RAW_EXAMPLE_FILE))
    table = None
    for path in sources:
        if not os.path.exists(path):
            continue
        handle = pq.ParquetFile(path)
        present = [c for c in names if c in handle.schema_arrow.names]
        if present and handle.metadata.num_rows:
            batch = next(handle.iter_batches(batch_size=rows, columns=present))
            table = pa.Table.from_batches([batch])
            break
    if table is None:
        table = pa.table({"_": pa.nulls(1)}).drop_columns(["_"])  # one record, no columns
    columns = {}
    for feature in raw_features:
        name = feature["name"]
        columns[name] = (table[name] if name in table.column_names else
                         pa.nulls(table.num_rows, _arrow_type(feature["type"])))
    return pa.table(columns)


def save_pyfunc(bundle_dir: str, example: pa.Table, tmp_dir: str = "") -> str:
    """Write ``<bundle_dir>/mlflow_model`` and return its path.

    The pyfunc takes raw records and returns the bundle's prediction columns (plus a
    ``warnings`` column when the input had columns the model does not read). The signature
    declares the outputs only: an input schema would let MLflow refuse safe widenings
    (``Can not safely convert int64 to float64`` for a ``pd.read_csv`` integer column) and
    drop unknown columns before the model could report them, so Gristmill checks the raw
    inputs itself (:mod:`gristmill.engine.serving_input`) and records them in the MLmodel's
    ``metadata.gristmill_raw_inputs`` for readers.

    Args:
        bundle_dir: A serving bundle directory.
        example: A few raw records (see :func:`input_example`).
        tmp_dir: Scratch space; the model is built there, then moved into the bundle.
    """
    from gristmill.engine.serving import load_bundle, read_config

    # The Trainer wrote this bundle from the model it just trained (its class is already
    # imported in this process), so the bundle's own class is trusted here.
    own_class = read_config(bundle_dir)["model"]["class"]
    output = load_bundle(bundle_dir, trusted_model_classes=[own_class]).predict(example)
    scratch = tempfile.mkdtemp(prefix="pyfunc-", dir=tmp_dir or None)
    staged = os.path.join(scratch, MLFLOW_DIR)
    os.makedirs(os.path.join(staged, "artifacts"))
    shutil.copytree(bundle_dir, os.path.join(staged, "artifacts", "bundle"),
                    ignore=shutil.ignore_patterns(MLFLOW_DIR, "program.pt2"))
    shutil.copy2(CODE_FILE, staged)
    _write_example(staged, example)
    _write_environment(staged)
    _write_mlmodel(staged, bundle_dir, _signature(example.schema, output.schema),
                   _raw_inputs(bundle_dir))
    target = os.path.join(bundle_dir, MLFLOW_DIR)
    shutil.move(staged, target)
    shutil.rmtree(scratch, ignore_errors=True)
    return target


def _arrow_type(name: str) -> pa.DataType:
    try:
        return pa.type_for_alias(name)
    except ValueError:
        return pa.null()


def _mlflow_type(arrow: pa.DataType) -> Any:
    """MLflow's column type for an Arrow type; ``None`` when it has none."""
    if pa.types.is_dictionary(arrow):
        return _mlflow_type(arrow.value_type)
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        items = _mlflow_type(arrow.value_type)
        return {"type": "array", "items": items if isinstance(items, dict) else
                {"type": items}} if items else None
    for check, name in ((pa.types.is_boolean, "boolean"), (pa.types.is_int64, "long"),
                        (pa.types.is_uint64, "long"), (pa.types.is_integer, "integer"),
                        (pa.types.is_float64, "double"), (pa.types.is_floating, "float"),
                        (pa.types.is_string, "string"), (pa.types.is_large_string, "string"),
                        (pa.types.is_binary, "binary"), (pa.types.is_large_binary, "binary"),
                        (pa.types.is_timestamp, "datetime"), (pa.types.is_date, "datetime")):
        if check(arrow):
            return name
    return None


def _signature(inputs: pa.Schema, outputs: pa.Schema) -> dict[str, Any] | None:
    """MLflow's ``signature`` block: outputs only (see :func:`save_pyfunc`); ``None`` when an
    output type has no MLflow equivalent."""
    del inputs  # raw inputs are checked by Gristmill, not by MLflow's schema enforcement
    columns = []
    for field in outputs:
        kind = _mlflow_type(field.type)
        if kind is None:
            return None
        spec = kind if isinstance(kind, dict) else {"type": kind}
        columns.append({**spec, "name": field.name, "required": True})
    return {"inputs": None, "outputs": json.dumps(columns), "params": None}


def _raw_inputs(bundle_dir: str) -> list[dict[str, str]]:
    from gristmill.engine.serving import load_encoder, read_config
    from gristmill.engine.serving_input import model_raw_inputs

    config = read_config(bundle_dir)
    return [{"name": i.name, "type": i.arrow_type, "kind": i.kind}
            for i in model_raw_inputs(config, load_encoder(bundle_dir, config))]


def _write_example(model_dir: str, example: pa.Table) -> None:
    split = {"columns": example.column_names,
             "data": [[row[c] for c in example.column_names] for row in example.to_pylist()]}
    with open(os.path.join(model_dir, "input_example.json"), "w", encoding="utf-8") as f:
        json.dump(split, f, default=str)
    with open(os.path.join(model_dir, "serving_input_example.json"), "w",
              encoding="utf-8") as f:
        json.dump({"dataframe_split": split}, f, indent=2, default=str)


@functools.cache
def _version(name: str) -> str | None:
    """The installed distribution's version, once per process: each lookup parses the
    package's METADATA (~0.5 ms; 11 per Trainer run before), and a process keeps running
    the version it imported even if another is installed meanwhile."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name).split("+")[0]
    except PackageNotFoundError:
        return None


def _pinned(name: str) -> str:
    found = _version(name)
    return f"{name}=={found}" if found else name


@functools.cache
def _environment_files() -> tuple[tuple[str, str], ...]:
    """``(file name, text)`` of ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``:
    the same for every model this process saves, so rendered once."""
    python = ".".join(map(str, sys.version_info[:3]))
    requirements = [_pinned(name) for name in REQUIREMENTS]
    python_env = {"python": python,
                  "build_dependencies": [_pinned("pip"), _pinned("setuptools"), "wheel"],
                  "dependencies": ["-r requirements.txt"]}
    pip = _version("pip")
    conda = {"channels": ["conda-forge"], "name": "mlflow-env",
             "dependencies": [f"python={python}", f"pip<={pip}" if pip else "pip",
                              {"pip": requirements}]}
    return (("requirements.txt", "\n".join(requirements)),
            *((name, yaml.safe_dump(content, default_flow_style=False, sort_keys=False))
              for name, content in (("python_env.yaml", python_env), ("conda.yaml", conda))))


def _write_environment(model_dir: str) -> None:
    for name, text in _environment_files():
        with open(os.path.join(model_dir, name), "w", encoding="utf-8") as f:
            f.write(text)


def _write_mlmodel(model_dir: str, bundle_dir: str, signature: dict[str, Any] | None,
                   raw_inputs: list[dict[str, str]]) -> None:
    size = sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(model_dir) for name in names)
    flavor = {
        "artifacts": {"bundle": {"path": "artifacts/bundle",
                                 "uri": os.path.abspath(bundle_dir)}},
        "code": None,
        "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
        "loader_module": "mlflow.pyfunc.loaders.code_model",
        "model_code_path": CODE_FILE,
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "streamable": False,
    }
    mlmodel = {
        "flavors": {"python_function": flavor},
        "mlflow_version": _version("mlflow"),
        "model_size_bytes": size,
        "model_uuid": uuid.uuid4().hex,
        "saved_input_example_info": {"artifact_path": "input_example.json",
                                     "pandas_orient": "split",
                                     "serving_input_path": "serving_input_example.json",
                                     "type": "dataframe"},
        "utc_time_created": str(datetime.datetime.now(datetime.UTC).replace(tzinfo=None)),
        "metadata": {"gristmill_raw_inputs": raw_inputs},
    }
    if signature is not None:
        mlmodel |= {"signature": signature, "is_signature_from_type_hint": False,
                    "type_hint_from_example": False}
    with open(os.path.join(model_dir, "MLmodel"), "w", encoding="utf-8") as f:
        yaml.dump(mlmodel, f, Dumper=YAML_DUMPER, default_flow_style=False)
