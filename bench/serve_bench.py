"""``serve``: latency of one raw record -> prediction on the CPU.

A small MLP bundle (numeric + string features, 3 classes) is trained and saved with its
ONNX export; then ``ServingBundle.predict_records([record])`` is timed record by record
(string vocabulary lookup in Python in front of onnxruntime). ``seconds`` is the ONNX p50;
the torch-eager and Arrow-table paths are reported for comparison. Goal: p50 <= 200 us.
"""

from __future__ import annotations

import statistics
import tempfile
import time


def add_arguments(parser) -> None:
    parser.set_defaults(rows=5_000)
    parser.add_argument("--calls", type=int, default=2_000, help="timed predictions per path")


def _bundle(rows: int, directory: str) -> list[dict]:
    import numpy as np
    import pyarrow as pa

    from gristmill.engine.serving import save_bundle
    from gristmill.engine.tabular import raw_feature_spec, train_tabular
    from gristmill.engine.training import TrainConfig

    rng = np.random.default_rng(0)
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], rows)
    x = rng.normal(size=(rows, 4))
    species = np.array(["Adelie", "Chinstrap", "Gentoo"])[
        (x[:, 0] > 0).astype(int) + (island == "Dream")]
    table = pa.table({"bill_length_mm": x[:, 0], "bill_depth_mm": x[:, 1],
                      "flipper_length_mm": x[:, 2], "body_mass_g": x[:, 3], "island": island,
                      "sex": rng.choice(["male", "female"], rows), "species": species})
    result = train_tabular(table, None, "species",
                           config=TrainConfig(epochs=2, batch_size=256, progress=False),
                           device="cpu")
    save_bundle(directory, result.model, result.prepared.encoder, result.prepared.label,
                raw_feature_spec(table.schema, ["species"]), exports=("onnx",))
    return table.drop_columns(["species"]).slice(0, 200).to_pylist()


def _latencies(fn, records: list[dict], calls: int) -> list[float]:
    for record in records[:50]:
        fn(record)  # warm-up
    out = []
    for i in range(calls):
        record = records[i % len(records)]
        start = time.perf_counter_ns()
        fn(record)
        out.append((time.perf_counter_ns() - start) / 1000.0)
    return out


def _p(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100)[int(q) - 1], 1)


def run(args) -> dict:
    import pyarrow as pa

    from gristmill.engine.serving import load_bundle

    directory = tempfile.mkdtemp(prefix="gristmill-serve-")
    records = _bundle(args.rows, directory)
    onnx = load_bundle(directory, backend="onnx")
    eager = load_bundle(directory, backend="torch")
    onnx_us = _latencies(lambda r: onnx.predict_records([r]), records, args.calls)
    torch_us = _latencies(lambda r: eager.predict_records([r]), records, args.calls)
    table_us = _latencies(lambda r: onnx.predict(pa.Table.from_pylist([r])), records,
                          max(200, args.calls // 10))
    p50 = statistics.median(onnx_us)
    return {"rows": args.rows, "calls": args.calls, "backend": "onnx",
            "seconds": round(p50 / 1e6, 7), "p50_us": round(p50, 1), "p99_us": _p(onnx_us, 99),
            "torch_p50_us": round(statistics.median(torch_us), 1),
            "arrow_table_p50_us": round(statistics.median(table_us), 1),
            "goal_p50_us": 200}
