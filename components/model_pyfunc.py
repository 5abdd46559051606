"""Save a serving bundle as an MLflow pyfunc model (models-from-code) inside the bundle."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from typing import Any

CODE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyfunc_code.py")
MLFLOW_DIR = "mlflow_model"


def input_example(files: list[str], columns: list[str], rows: int = 5) -> Any:
    """The first ``rows`` raw records of the first Parquet file, as a DataFrame."""
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(files[0])
    present = [c for c in columns if c in handle.schema_arrow.names]
    batch = next(handle.iter_batches(batch_size=rows, columns=present))
    return batch.to_pandas()


def save_pyfunc(bundle_dir: str, example: Any, tmp_dir: str = "") -> str:
    """Write ``<bundle_dir>/mlflow_model`` and return its path.

    The pyfunc takes raw records (the signature is inferred from ``example``, which is also
    stored as the input example) and returns the bundle's prediction columns.

    Args:
        bundle_dir: A serving bundle directory.
        example: A few raw records (pandas DataFrame, label excluded).
        tmp_dir: Scratch space; the model is built there, then moved into the bundle.
    """
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    from gristmill.engine.serving import load_bundle

    output = load_bundle(bundle_dir).predict(example).to_pandas()
    signature = infer_signature(example, output)
    scratch = tempfile.mkdtemp(prefix="pyfunc-", dir=tmp_dir or None)
    staged = os.path.join(scratch, MLFLOW_DIR)
    bundle_copy = os.path.join(scratch, "bundle")
    shutil.copytree(bundle_dir, bundle_copy,
                    ignore=shutil.ignore_patterns(MLFLOW_DIR, "program.pt2"))
    with warnings.catch_warnings():
        # MLflow nags about type hints on predict; the signature is given explicitly.
        warnings.simplefilter("ignore", UserWarning)
        mlflow.pyfunc.save_model(path=staged, python_model=CODE_FILE,
                                 artifacts={"bundle": bundle_copy}, signature=signature,
                                 input_example=example, pip_requirements=_requirements())
    target = os.path.join(bundle_dir, MLFLOW_DIR)
    shutil.move(staged, target)
    shutil.rmtree(scratch, ignore_errors=True)
    return target


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for name in ("torch", "numpy", "pyarrow", "pandas", "safetensors", "onnxruntime", "mlflow"):
        try:
            reqs.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            reqs.append(name)
    return reqs
