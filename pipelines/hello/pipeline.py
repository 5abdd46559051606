"""A small diamond-shaped pipeline of custom components.

Run it with ``gristmill run pipelines/hello/pipeline.py`` or ``python pipelines/hello/pipeline.py``.
It shows the core: typed artifacts, ``@component``, caching (run it twice), lineage and the
MLflow mirror, with no Beam or torch involved.
"""

from __future__ import annotations

import json
import math
import os
import random

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.metadata.standard_artifacts import Examples, ExampleStatistics, Model
from gristmill.orchestrator import LocalDagRunner, Pipeline


@component
def MakeNumbers(examples: OutputArtifact[Examples], rows: Parameter[int] = 1000,
                seed: Parameter[int] = 7) -> dict:
    """Write ``rows`` noisy points of y = 3x + 1 as JSON lines."""
    rng = random.Random(seed)
    os.makedirs(examples.split_uri("train"))
    with open(os.path.join(examples.split_uri("train"), "data.jsonl"), "w") as f:
        for _ in range(rows):
            x = rng.uniform(-10, 10)
            f.write(json.dumps({"x": x, "y": 3 * x + 1 + rng.gauss(0, 0.5)}) + "\n")
    examples.splits = ["train"]
    return {"rows": rows}


def _points(examples: Examples) -> list[dict]:
    with open(os.path.join(examples.split_uri("train"), "data.jsonl")) as f:
        return [json.loads(line) for line in f]


@component
def Describe(examples: InputArtifact[Examples], statistics: OutputArtifact[ExampleStatistics]
             ) -> dict:
    """Mean and standard deviation of x and y."""
    points = _points(examples)
    stats = {}
    for key in ("x", "y"):
        values = [p[key] for p in points]
        mean = sum(values) / len(values)
        stats[key] = {"mean": mean, "std": math.sqrt(sum((v - mean) ** 2 for v in values)
                                                     / len(values))}
    with open(os.path.join(statistics.uri, "stats.json"), "w") as f:
        json.dump(stats, f)
    return {"x_mean": stats["x"]["mean"], "y_mean": stats["y"]["mean"]}


@component
def FitLine(examples: InputArtifact[Examples], model: OutputArtifact[Model]) -> dict:
    """Least-squares fit of y = a x + b."""
    points = _points(examples)
    n = len(points)
    mx = sum(p["x"] for p in points) / n
    my = sum(p["y"] for p in points) / n
    a = sum((p["x"] - mx) * (p["y"] - my) for p in points) / sum((p["x"] - mx) ** 2
                                                                   for p in points)
    b = my - a * mx
    with open(os.path.join(model.uri, "line.json"), "w") as f:
        json.dump({"a": a, "b": b}, f)
    return {"slope": a, "intercept": b}


@component
def Check(statistics: InputArtifact[ExampleStatistics], model: InputArtifact[Model],
          tolerance: Parameter[float] = 0.1) -> dict:
    """Fail when the fitted slope is far from 3."""
    with open(os.path.join(model.uri, "line.json")) as f:
        line = json.load(f)
    if abs(line["a"] - 3) > tolerance:
        raise ValueError(f"slope {line['a']:.3f} is not within {tolerance} of 3")
    return {"slope_error": abs(line["a"] - 3)}


def create_pipeline(rows: int = 1000, seed: int = 7, tolerance: float = 0.1,
                    root: str | None = None, metadata_url: str | None = None,
                    tracking_uri: str | None = None) -> Pipeline:
    """The diamond: MakeNumbers -> (Describe, FitLine) -> Check."""
    numbers = MakeNumbers(rows=int(rows), seed=int(seed))
    describe = Describe(examples=numbers.outputs["examples"])
    fit = FitLine(examples=numbers.outputs["examples"])
    check = Check(statistics=describe.outputs["statistics"], model=fit.outputs["model"],
                  tolerance=float(tolerance))
    return Pipeline("hello", [numbers, describe, fit, check], root=root,
                    metadata_url=metadata_url, tracking_uri=tracking_uri)


if __name__ == "__main__":
    result = LocalDagRunner().run(create_pipeline())
    print(json.dumps(result.to_dict(), indent=2))
