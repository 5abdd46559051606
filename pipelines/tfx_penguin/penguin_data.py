"""TFX's processed penguin CSVs (``data/labelled``, ``data/unlabelled``), from the repo's data.

TFX's penguin example reads ``penguins_processed.csv``: ``species`` as 0/1/2 and the four
measurements ``culmen_length_mm``, ``culmen_depth_mm``, ``flipper_length_mm``,
``body_mass_g`` scaled to [0, 1], rows with missing values dropped. This builds the same shape
from ``pipelines/penguin/data`` (the Palmer penguins, ``bill_*`` named ``culmen_*`` as in TFX).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SOURCE = Path(__file__).resolve().parents[1] / "penguin" / "data"
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
RENAMED = {"bill_length_mm": "culmen_length_mm", "bill_depth_mm": "culmen_depth_mm",
           "flipper_length_mm": "flipper_length_mm", "body_mass_g": "body_mass_g"}


def processed(table: pa.Table, bounds: dict[str, tuple[float, float]]) -> pa.Table:
    """Complete rows, features min-max scaled with ``bounds``, species as an index."""
    columns = [*RENAMED, *(["species"] if "species" in table.column_names else [])]
    table = table.select(columns).drop_null()
    out = {}
    if "species" in table.column_names:
        out["species"] = pc.index_in(table.column("species"), pa.array(SPECIES))
    for raw, name in RENAMED.items():
        lo, hi = bounds[raw]
        value = pc.cast(table.column(raw), pa.float64())
        out[name] = pc.divide(pc.subtract(value, lo), hi - lo)
    return pa.table(out)


def write_data(root: str | os.PathLike) -> Path:
    """Write ``labelled/penguins_processed.csv`` and ``unlabelled/...`` under ``root``."""
    root = Path(root)
    labelled = pacsv.read_csv(SOURCE / "labelled" / "penguins.csv")
    bounds = {c: (pc.min(labelled.column(c)).as_py(), pc.max(labelled.column(c)).as_py())
              for c in RENAMED}
    for kind in ("labelled", "unlabelled"):
        path = root / kind / "penguins_processed.csv"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            source = pacsv.read_csv(SOURCE / kind / "penguins.csv")
            pacsv.write_csv(processed(source, bounds), path)
    return root
