"""The data half of the taxi pipeline on ``bench/datagen.py`` rows, for ``s3_taxi_bench``.

CsvExampleGen -> StatisticsGen -> SchemaGen -> Transform (z-scores of three numeric
columns, vocabularies of the two string columns). This file is also Transform's
``module_file``: it defines ``preprocessing_fn``.

    gristmill run bench/s3_taxi_pipeline.py --param input_base=DIR [--root s3://bucket/p]
"""

from __future__ import annotations

ZSCORE = ["fare", "trip_miles", "trip_seconds"]
VOCAB = ["payment_type", "company"]


def preprocessing_fn(inputs):
    """z-score the numbers (missing ones filled with the mean), vocabulary on the strings."""
    import gristmill.components.transform_ops as gt

    out = {f"{c}_z": gt.scale_to_z_score(gt.fill_missing(inputs[c], gt.mean(inputs[c])))
           for c in ZSCORE}
    out.update({f"{c}_id": gt.compute_and_apply_vocabulary(inputs[c]) for c in VOCAB})
    return out


def create_pipeline(input_base: str):
    """The four data nodes over the CSV files in ``input_base``."""
    from gristmill.components import CsvExampleGen, SchemaGen, StatisticsGen, Transform
    from gristmill.orchestrator import Pipeline

    example_gen = CsvExampleGen(input_base=input_base)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    transform = Transform(examples=example_gen.outputs["examples"],
                          schema=schema_gen.outputs["schema"], module_file=__file__)
    return Pipeline("s3_taxi_bench", [example_gen, statistics_gen, schema_gen, transform])
