"""``serve``: latency of one raw record -> prediction on the CPU.

A small MLP bundle (numeric + string features, 3 classes) is trained and saved with its
ONNX export; then ``ServingBundle.predict_records([record])`` is timed record by record
(string vocabulary lookup in Python in front of onnxruntime). ``seconds`` is the ONNX p50;
the torch-eager and Arrow-table paths are reported for comparison. Goal: p50 <= 200 us.

The raw-record graphs are timed next to it: ``model.onnx`` (float) and ``model_int8.onnx``
(int8 weights), each called with one record's raw values (a dict -> one ``[1]`` array per
column -> ``session.run``; the fitted encoder is inside the graph): ``raw_onnx_*`` and
``raw_onnx_int8_*``, with the files' sizes and how often int8 predicts the float class.
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
                raw_feature_spec(table.schema, ["species"]), exports=("onnx_int8",))
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


def _raw_record_runner(model):
    """``record dict -> prediction`` through a raw-record graph, with no Arrow in between."""
    import math

    import numpy as np

    from gristmill.engine.onnx_transform import MISSING_STRING

    columns = [(i.name, i.type == "tensor(string)") for i in model.session.get_inputs()]
    names = model.output_names

    def run(record: dict):
        feeds = {}
        for name, is_text in columns:
            value = record.get(name)
            if is_text:
                feeds[name] = np.array([MISSING_STRING if value is None else str(value)], object)
            else:
                feeds[name] = np.array([math.nan if value is None else value], np.float64)
        return model.session.run(names, feeds)

    return run


def _raw_onnx(directory: str, records: list[dict], calls: int) -> dict:
    import os

    from gristmill.engine.onnx_runtime import load_raw_onnx

    out = {}
    predictions = {}
    for key, which in (("raw_onnx", "onnx"), ("raw_onnx_int8", "onnx_int8")):
        model = load_raw_onnx(directory, which)
        run = _raw_record_runner(model)
        us = _latencies(run, records, calls)
        out.update({f"{key}_p50_us": round(statistics.median(us), 1),
                    f"{key}_p99_us": _p(us, 99), f"{key}_bytes": os.path.getsize(model.path)})
        predictions[key] = [run(r)[1][0] for r in records]
    same = sum(a == b for a, b in zip(predictions["raw_onnx"], predictions["raw_onnx_int8"],
                                      strict=True))
    out["int8_agreement"] = round(same / len(records), 4)
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
            "torch_p99_us": _p(torch_us, 99),
            "arrow_table_p50_us": round(statistics.median(table_us), 1),
            **_raw_onnx(directory, records, args.calls), "goal_p50_us": 200}
