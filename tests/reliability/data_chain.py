"""Run the data components on one table: ExampleGen -> StatisticsGen -> SchemaGen ->
ExampleValidator, executors called directly (no orchestrator, no store).

Shared by the "every Arrow type" and "degenerate data" harnesses and their pytest subsets.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class ChainResult:
    """What the chain produced: per-stage seconds, the artifacts, and the anomalies."""

    seconds: dict[str, float] = field(default_factory=dict)
    examples: Any = None
    statistics: Any = None
    schema: Any = None
    anomalies: dict[str, list] = field(default_factory=dict)
    halted: str | None = None


def _context(component_id: str, tmp: str):
    from gristmill.components.framework.executor import ExecutionContext

    return ExecutionContext(component_id=component_id, tmp_dir=tmp)


def _output(cls, path: str):
    os.makedirs(path, exist_ok=True)
    return cls(path)


def _generator(table: pa.Table | str, tmp: str, gen_params: dict):
    from gristmill.components.example_gen.component import (
        CsvExampleGen,
        ImportExampleGen,
        ParquetExampleGen,
    )

    if not isinstance(table, pa.Table):
        return CsvExampleGen(input_base=table, **gen_params)
    os.makedirs(os.path.join(tmp, "input"), exist_ok=True)
    try:
        pq.write_table(table, os.path.join(tmp, "input", "data.parquet"))
        return ParquetExampleGen(input_base=os.path.join(tmp, "input"), **gen_params)
    except pa.ArrowNotImplementedError:  # no Parquet file can hold it: in memory
        return ImportExampleGen(table=table, **gen_params)


def _stages(gen) -> list[tuple]:
    from gristmill.components.example_validator.component import ExampleValidator
    from gristmill.components.schema_gen.component import SchemaGen
    from gristmill.components.statistics_gen.component import StatisticsGen
    from gristmill.metadata.standard_artifacts import (
        ExampleAnomalies,
        Examples,
        ExampleStatistics,
        Schema,
    )

    return [
        ("ExampleGen", gen.EXECUTOR, {}, "examples", Examples, gen.parameters),
        ("StatisticsGen", StatisticsGen.EXECUTOR, {"examples": "examples"}, "statistics",
         ExampleStatistics, StatisticsGen.PARAMETERS()),
        ("SchemaGen", SchemaGen.EXECUTOR, {"statistics": "statistics"}, "schema", Schema,
         SchemaGen.PARAMETERS()),
        ("ExampleValidator", ExampleValidator.EXECUTOR,
         {"statistics": "statistics", "schema": "schema"}, "anomalies", ExampleAnomalies,
         ExampleValidator.PARAMETERS()),
    ]


def run_chain(table: pa.Table | str, tmp: str, validate: bool = True, **gen_params
              ) -> ChainResult:
    """Run the four data components on ``table`` (written as one Parquet input file, or
    held in memory when Parquet cannot store it), or on the CSV files under the folder
    ``table`` names; return what they wrote.

    Raises whatever a component raises (a Gristmill error is the expected refusal).
    """
    from gristmill.components.framework.anomalies import load_anomalies

    result, halts = ChainResult(), []  # halt reasons, in order
    artifacts: dict[str, Any] = {}
    stages = _stages(_generator(table, tmp, gen_params))
    for name, executor, inputs, key, cls, params in stages[:4 if validate else 3]:
        started = time.perf_counter()
        out = _output(cls, os.path.join(tmp, key))
        context = _context(name, tmp)
        executor(context).Do({k: [artifacts[v]] for k, v in inputs.items()}, {key: [out]},
                             params)
        if context.halt_reason:
            halts.append(context.halt_reason)
        artifacts[key] = out
        result.seconds[name] = round(time.perf_counter() - started, 3)
    result.examples, result.statistics = artifacts["examples"], artifacts["statistics"]
    result.schema = artifacts["schema"]
    if validate:
        out = artifacts["anomalies"]
        result.anomalies = {s: load_anomalies(out.split_uri(s)).anomalies
                            for s in out.splits}
    result.halted = halts[0] if halts else None
    return result
