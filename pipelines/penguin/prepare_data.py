"""Write the penguin pipeline's input data from the ``palmerpenguins`` package.

The package ships the Palmer penguins table (344 rows; species, island and sex are strings;
the four measurements and sex have missing values). This script writes:

* ``data/labelled/penguins.csv``: every row not held back, all 8 columns;
* ``data/unlabelled/penguins.csv``: a deterministic ~5% sample (every 20th row) without the
  ``species`` column, for BulkInferrer.

Missing values become empty cells, the CSV convention every reader understands. The files are
checked in; run ``python pipelines/penguin/prepare_data.py`` to regenerate them.
"""

from __future__ import annotations

import csv
import os
from importlib import resources
from pathlib import Path

COLUMNS = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
           "body_mass_g", "sex", "year"]
HOLD_BACK_EVERY = 20  # row i is held back when i % 20 == 0: 18 of 344 rows, all species
LABEL = "species"
DATA_DIR = Path(__file__).resolve().parent / "data"


def read_source_rows() -> list[dict[str, str]]:
    """The package's penguins.csv as dicts, with its ``NA`` markers turned into ``""``."""
    source = resources.files("palmerpenguins") / "data" / "penguins.csv"
    with source.open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise ValueError(f"{source}: expected columns {COLUMNS}, got {reader.fieldnames}")
        return [{k: ("" if v == "NA" else v) for k, v in row.items()} for row in reader]


def split_rows(rows: list[dict[str, str]]) -> tuple[list[dict], list[dict]]:
    """(labelled, unlabelled): the held-back rows lose their label."""
    labelled = [r for i, r in enumerate(rows) if i % HOLD_BACK_EVERY != 0]
    unlabelled = [{k: v for k, v in r.items() if k != LABEL}
                  for i, r in enumerate(rows) if i % HOLD_BACK_EVERY == 0]
    return labelled, unlabelled


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` with a header line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def prepare(data_dir: str | os.PathLike = DATA_DIR) -> dict[str, int]:
    """Write both files under ``data_dir``; returns the row counts."""
    labelled, unlabelled = split_rows(read_source_rows())
    write_csv(Path(data_dir) / "labelled" / "penguins.csv", labelled)
    write_csv(Path(data_dir) / "unlabelled" / "penguins.csv", unlabelled)
    return {"labelled": len(labelled), "unlabelled": len(unlabelled)}


if __name__ == "__main__":
    print(prepare())
