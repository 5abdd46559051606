"""Test helper: real Examples artifacts and real serving bundles, small and fast.

Bundles are written with :func:`gristmill.engine.serving.save_bundle` (no ONNX/program
export, to stay fast). A "good" model is trained for a few hundred full-batch Adam steps;
a "bad" one keeps its random initial weights, so it is deliberately worse.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.metadata.standard_artifacts import Examples, Model

SPECIES = ["Adelie", "Chinstrap", "Gentoo"]


def penguin_like_table(n: int, seed: int = 0, regression: bool = False) -> pa.Table:
    """Three well-separated classes on two numerics, plus an ``island`` category."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    centers = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x = centers[label] + rng.normal(scale=0.8, size=(n, 2))
    islands = np.array(["Biscoe", "Dream", "Torgersen"])[rng.integers(0, 3, n)]
    columns = {"bill_length_mm": x[:, 0], "flipper_length_mm": x[:, 1], "island": islands}
    if regression:
        columns["body_mass_g"] = 2.0 * x[:, 0] - x[:, 1] + rng.normal(scale=0.1, size=n)
    else:
        columns["species"] = np.array(SPECIES)[label]
    return pa.table(columns)


def write_examples(root: str, splits: dict[str, pa.Table], files_per_split: int = 1) -> Examples:
    """An Examples artifact holding ``splits`` as ``Split-<name>/part-*.parquet``."""
    os.makedirs(root, exist_ok=True)
    for name, table in splits.items():
        directory = os.path.join(root, f"Split-{name}")
        os.makedirs(directory, exist_ok=True)
        bounds = np.linspace(0, table.num_rows, files_per_split + 1).astype(int)
        for i in range(files_per_split):
            part = table.slice(bounds[i], bounds[i + 1] - bounds[i])
            pq.write_table(part, os.path.join(directory, f"part-{i:05d}.parquet"))
    examples = Examples(root, id=1)
    examples.splits = list(splits)
    examples.set_property("row_counts", {k: t.num_rows for k, t in splits.items()})
    return examples


def train_bundle(directory: str, table: pa.Table, label_key: str = "species", good: bool = True,
                 seed: int = 0, model_id: int = 10) -> Model:
    """Fit a tiny MLP on ``table`` (or leave it untrained when ``good`` is False) and save it
    as a serving bundle; return a Model artifact pointing at it."""
    import torch

    from gristmill.engine.features import RawFeatureEncoder, stack_columns
    from gristmill.engine.labels import LabelSpec
    from gristmill.engine.models import TabularMLP
    from gristmill.engine.serving import save_bundle

    torch.manual_seed(seed)
    encoder = RawFeatureEncoder.fit([table], exclude=[label_key])
    label = LabelSpec.fit(table[label_key], label_key)
    numeric, categorical = stack_columns(encoder.encode(table))
    model = TabularMLP(len(encoder.numeric_names), encoder.cardinalities, label.num_outputs,
                       hidden_units=[16])
    x_num, x_cat = torch.from_numpy(numeric), torch.from_numpy(categorical)
    model.features.set_normalization(torch.nanmean(x_num, 0), torch.std(x_num, 0))
    if good:
        target = torch.from_numpy(label.encode(table[label_key]))
        loss_fn = (torch.nn.functional.cross_entropy if label.task == "classification"
                   else lambda out, y: torch.nn.functional.mse_loss(out[:, 0], y))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(150):
            optimizer.zero_grad()
            loss_fn(model(x_num, x_cat), target).backward()
            optimizer.step()
    raw = [{"name": f.name, "type": str(f.type)} for f in table.schema if f.name != label_key]
    save_bundle(directory, model, encoder, label, raw, exports=())
    return Model(directory, id=model_id)
