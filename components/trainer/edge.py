"""The Trainer's edge report: measure ``model_int8.onnx`` against ``model.onnx``.

Runs when ``TrainerConfig.exports`` holds ``onnx_int8`` and the int8 export succeeded. The
accuracy fields need labelled *raw* rows: the eval split when it holds the raw columns and
the label, else the train split, else the raw sample Transform keeps in the transform graph
(models trained on transformed examples); ``eval_source`` says which was used and
``eval_rows`` how many. The Evaluator's int8 candidate (``ModelSpec(onnx="int8")``) is the
gate; this report is what the model card shows.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pyarrow as pa

log = logging.getLogger(__name__)
RAW_SAMPLE_FILE = "raw_example.parquet"


def labelled_raw_rows(fn_args: Any, raw_columns: list[str], label_key: str,
                      limit: int) -> tuple[pa.Table | None, str]:
    """``(rows, where they came from)``: the first source holding every raw column the
    model reads and the label (``(None, reason)`` when none does)."""
    import pyarrow.parquet as pq

    wanted = [*raw_columns, label_key]
    sources = [("eval split", fn_args.eval_files or []), ("train split", fn_args.train_files)]
    if fn_args.transform_graph_path:
        sources.append(("transform graph raw sample",
                        [os.path.join(fn_args.transform_graph_path, RAW_SAMPLE_FILE)]))
    for name, files in sources:
        files = [f for f in files if os.path.exists(f)]
        if not files or not set(wanted) <= set(pq.read_schema(files[0]).names):
            continue
        tables, rows = [], 0
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=8192, columns=wanted):
                tables.append(pa.Table.from_batches([batch]))
                rows += batch.num_rows
                if rows >= limit:
                    return pa.concat_tables(tables).slice(0, limit), name
        return pa.concat_tables(tables), name
    return None, "no split holds the raw columns and the label"


def write_trainer_edge_report(fn_args: Any, config: dict[str, Any]) -> dict[str, Any] | None:
    """Write ``edge_report.json`` into the model directory when ``model_int8.onnx`` exists."""
    from gristmill.engine.onnx_edge import MAX_ROWS, write_edge_report

    if "onnx_int8" not in config.get("exports", {}):
        return None
    raw = [i["name"] for i in (config.get("raw_onnx") or {}).get("inputs", [])]
    rows, source = labelled_raw_rows(fn_args, raw, config["label_key"], MAX_ROWS)
    if rows is None:
        log.warning("edge report without accuracy: %s", source)
    return write_edge_report(fn_args.serving_model_dir, rows, source)
