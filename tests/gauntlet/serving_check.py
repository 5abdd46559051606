"""Serving equals training, and the model against the trivial baseline.

Parity: the eval split's raw rows (label dropped) through the served model -
``load_bundle(uri).predict`` and the MLflow pyfunc in ``mlflow_model/`` - must equal the
model applied to the rows Transform wrote on Beam (``transformed_examples``), to 1e-6 on
every row, nulls included. Rows are paired by position; the label column (passed through by
Transform) must match row by row, so a reordering cannot pass unseen.

Baseline: the majority class of the train split (accuracy) or its mean (RMSE), scored on
the eval split's labelled rows. A reference scikit-learn model (logistic / ridge regression
on the same Beam-transformed features) explains below-baseline cases.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pyarrow as pa

from tests.gauntlet.stats_check import read_table

TOLERANCE = 1e-6


def _read_table(examples_uri: str, split: str) -> pa.Table:
    table = read_table(examples_uri, split)
    return pa.table({}) if table is None else table


def check_parity(model_uri: str, raw_uri: str, transformed_uri: str,
                 split: str = "eval") -> dict:
    """Compare the served model on raw rows with the model on Beam-transformed rows."""
    from gristmill.engine.features import stack_columns
    from gristmill.engine.serving import load_bundle

    bundle = load_bundle(model_uri)
    label = bundle.label_key
    raw = _read_table(raw_uri, split)
    transformed = _read_table(transformed_uri, split)
    report = {"rows": raw.num_rows, "problems": []}
    if raw.num_rows != transformed.num_rows:
        report["problems"].append(f"{raw.num_rows} raw eval rows but {transformed.num_rows} "
                                  "transformed")
        return report
    if label in transformed.column_names and \
            raw.column(label).to_pylist() != transformed.column(label).to_pylist():
        report["problems"].append("rows not aligned: transformed label order differs (harness "
                                  "cannot pair rows)")
        return report
    served_input = raw.drop_columns([label]) if label in raw.column_names else raw
    served = bundle.predict(served_input)
    numeric, categorical = stack_columns(bundle.encoder.encode(transformed, raw=False))
    beam = pa.table(bundle.label.decode(bundle.predict_arrays(numeric, categorical)))
    report["problems"] += compare_predictions(served, beam, "load_bundle")
    report["problems"] += _pyfunc_parity(model_uri, served_input, beam)
    return report


def _pyfunc_parity(model_uri: str, served_input: pa.Table, beam: pa.Table) -> list[str]:
    path = os.path.join(model_uri, "mlflow_model")
    if not os.path.isdir(path):
        return ["no mlflow_model/ in the bundle"]
    import mlflow.pyfunc

    try:
        model = mlflow.pyfunc.load_model(path)
        out = model.predict(served_input.to_pandas())
    except Exception as e:  # the served path refusing raw rows is exactly what we look for
        text = str(e)
        return [f"pyfunc: {type(e).__name__}: {text[:120]} ... {text[-400:]}"]
    return compare_predictions(pa.Table.from_pandas(pd.DataFrame(out), preserve_index=False),
                               beam, "pyfunc")


def compare_predictions(served: pa.Table, beam: pa.Table, path: str) -> list[str]:
    """Every column of ``beam`` equal in ``served``: labels exactly, numbers to 1e-6."""
    problems = []
    if served.num_rows != beam.num_rows:
        return [f"{path}: {served.num_rows} predictions for {beam.num_rows} rows"]
    for name in beam.column_names:
        if name not in served.column_names:
            problems.append(f"{path}: no {name!r} column")
            continue
        a, b = served.column(name).to_pylist(), beam.column(name).to_pylist()
        bad = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if not _same(x, y)]
        if bad:
            i = bad[0]
            problems.append(f"{path}: {name} differs on {len(bad)}/{len(a)} rows "
                            f"(row {i}: served {a[i]!r} vs beam {b[i]!r})")
    return problems


def _same(x, y) -> bool:
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y, strict=True))
    if isinstance(x, float) and isinstance(y, float):
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return abs(x - y) <= TOLERANCE * max(1.0, abs(y))
    return x == y


def baseline(task: str, train: pd.Series, evaluation: pd.Series) -> float | None:
    """Accuracy of the train majority class, or RMSE of the train mean, on labelled eval rows."""
    train, evaluation = train.dropna(), evaluation.dropna()
    if train.empty or evaluation.empty:
        return None
    if task == "classification":
        majority = train.astype(str).value_counts().sort_index().idxmax()
        return float((evaluation.astype(str) == majority).mean())
    return float(np.sqrt(((evaluation.astype(float) - train.astype(float).mean()) ** 2).mean()))


def reference_metric(model_uri: str, transformed_uri: str, task: str) -> float | None:
    """A scikit-learn linear model on the same transformed features (train -> eval)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    from gristmill.engine.features import stack_columns
    from gristmill.engine.serving import load_bundle

    bundle = load_bundle(model_uri)
    arrays = {}
    for split in ("train", "eval"):
        table = _read_table(transformed_uri, split)
        numeric, categorical = stack_columns(bundle.encoder.encode(table, raw=False))
        features = np.nan_to_num(np.hstack([numeric, _one_hot(categorical, bundle)]))
        arrays[split] = (features, table.column(bundle.label_key).to_pandas())
    (xt, yt), (xe, ye) = arrays["train"], arrays["eval"]
    keep_t, keep_e = yt.notna().to_numpy(), ye.notna().to_numpy()
    xt, yt, xe, ye = xt[keep_t], yt[keep_t], xe[keep_e], ye[keep_e]
    if not len(ye) or yt.nunique() < 2 or xt.shape[1] == 0:
        return None
    if task == "classification":
        model = LogisticRegression(max_iter=500).fit(xt, yt.astype(str))
        return float((model.predict(xe) == ye.astype(str).to_numpy()).mean())
    model = Ridge().fit(xt, yt.astype(float))
    return float(np.sqrt(((model.predict(xe) - ye.astype(float).to_numpy()) ** 2).mean()))


def _one_hot(categorical: np.ndarray, bundle) -> np.ndarray:
    blocks = []
    for j, size in enumerate(bundle.encoder.cardinalities):
        block = np.zeros((len(categorical), int(size) + 1), np.float32)
        ids = np.clip(categorical[:, j], -1, int(size)) + 1
        block[np.arange(len(categorical)), np.minimum(ids, int(size))] = 1.0
        blocks.append(block)
    return np.hstack(blocks) if blocks else np.zeros((len(categorical), 0), np.float32)
