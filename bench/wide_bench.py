"""``wide``: StatisticsGen, SchemaGen and ExampleValidator on 5,000 columns x 100 rows.

Per-column overhead is all there is at this shape (issue 14 item 19: 47 + 16 + 28 s; goal:
<= 10 s for the three). Half the columns are float, half three-valued strings; ExampleGen
(ImportExampleGen) runs first, untimed in the total. Reports wall and process CPU
seconds per component (CPU time is the steadier figure on a shared machine).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time


def add_arguments(parser) -> None:
    parser.add_argument("--columns", type=int, default=5000, help="number of columns")


def _stage(name, executor_cls, inputs, key, artifact_cls, params, tmp, figures):
    from gristmill.components.framework.executor import ExecutionContext

    out = artifact_cls(os.path.join(tmp, key))
    os.makedirs(out.uri)
    wall, cpu = time.perf_counter(), time.process_time()
    executor_cls(ExecutionContext(component_id=name, tmp_dir=tmp)).Do(
        inputs, {key: [out]}, params)
    figures[f"{name}_seconds"] = round(time.perf_counter() - wall, 2)
    figures[f"{name}_cpu_seconds"] = round(time.process_time() - cpu, 2)
    return out


def run(args) -> dict:
    import numpy as np
    import pyarrow as pa

    from gristmill.components.example_gen.component import ImportExampleGen
    from gristmill.components.example_validator.component import ExampleValidator
    from gristmill.components.schema_gen.component import SchemaGen
    from gristmill.components.statistics_gen.component import StatisticsGen
    from gristmill.metadata.standard_artifacts import (
        ExampleAnomalies,
        Examples,
        ExampleStatistics,
        Schema,
    )

    rows = args.rows if args.rows != 1_000_000 else 100  # the runner's default is for tall data
    rng = np.random.default_rng(0)
    table = pa.table({f"c{i}": rng.normal(size=rows) if i % 2 else
                      rng.choice(["a", "b", "c"], rows) for i in range(args.columns)})
    tmp = tempfile.mkdtemp(prefix="wide_bench_")
    figures: dict = {}
    try:
        gen = ImportExampleGen(table=table)
        examples = _stage("ExampleGen", gen.EXECUTOR, {}, "examples", Examples,
                          gen.parameters, tmp, figures)
        stats = _stage("StatisticsGen", StatisticsGen.EXECUTOR, {"examples": [examples]},
                       "statistics", ExampleStatistics, StatisticsGen.PARAMETERS(), tmp,
                       figures)
        schema = _stage("SchemaGen", SchemaGen.EXECUTOR, {"statistics": [stats]}, "schema",
                        Schema, SchemaGen.PARAMETERS(), tmp, figures)
        _stage("ExampleValidator", ExampleValidator.EXECUTOR,
               {"statistics": [stats], "schema": [schema]}, "anomalies", ExampleAnomalies,
               ExampleValidator.PARAMETERS(), tmp, figures)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    three = ("StatisticsGen", "SchemaGen", "ExampleValidator")
    return {"rows": rows, "columns": args.columns,
            "seconds": round(sum(figures[f"{c}_seconds"] for c in three), 2),
            "cpu_seconds": round(sum(figures[f"{c}_cpu_seconds"] for c in three), 2),
            "goal_seconds": 10.0, **figures}
