"""SchemaGen (infer a schema from statistics) and ImportSchemaGen (bring a curated one).

Inference, per feature: the type; presence (required when never missing, else a minimum
fraction a little under the observed one); a fixed shape when ``infer_feature_shape`` and
every row has the same number of values; a categorical domain for strings with at most
``max_domain_size`` distinct values (counted exactly); NaN/Inf disallowed unless seen;
optional numeric ranges; optional drift/skew thresholds. Several splits are merged by
widening (union of domains and ranges, lowest presence).
"""

from __future__ import annotations

import os
import shutil

from gristmill.components.framework.data_schema import (
    SCHEMA_FILE,
    load_schema,
    save_schema,
)
from gristmill.components.framework.executor import BaseExecutor
from gristmill.components.framework.schema_inference import SchemaGenParameters, infer_schema
from gristmill.components.schema_gen.config import ImportSchemaGenParameters


class SchemaGenExecutor(BaseExecutor):
    """Reads every non-excluded split's statistics and writes ``schema.yaml``."""

    def Do(self, input_dict, output_dict, exec_properties: SchemaGenParameters) -> None:
        from gristmill.components.framework.statistics_model import gc_paused, load_statistics

        statistics = input_dict["statistics"][0]
        splits = [s for s in statistics.splits if s not in exec_properties.exclude_splits]
        stats = [load_statistics(statistics.split_uri(s)) for s in splits]
        with gc_paused():  # ~20 objects per column, acyclic: collections were half the time
            schema = infer_schema(stats, exec_properties)
            save_schema(schema, output_dict["schema"][0].uri)
        self.context.log_metrics({"num_features": float(len(schema.features))})


class ImportSchemaGenExecutor(BaseExecutor):
    """Validates the curated schema and copies it into the artifact as ``schema.yaml``."""

    def Do(self, input_dict, output_dict, exec_properties: ImportSchemaGenParameters) -> None:
        path = exec_properties.schema_file
        schema = load_schema(path)  # validates; raises DataError naming the bad field
        target = output_dict["schema"][0].uri
        if path.endswith((".yaml", ".yml")):
            shutil.copyfile(path, os.path.join(target, SCHEMA_FILE))  # keep the user's comments
        else:
            save_schema(schema, target)
