"""SchemaGen (infer a schema from statistics) and ImportSchemaGen (bring a curated one).

Inference, per feature: the type; presence (required when never missing, else a minimum
fraction a little under the observed one); a fixed shape when ``infer_feature_shape`` and
every row has the same number of values; a categorical domain for strings with at most
``max_domain_size`` distinct values (counted exactly); NaN/Inf disallowed unless seen;
optional numeric ranges; optional drift/skew thresholds. Several splits are merged by
widening (union of domains and ranges, lowest presence).
"""

from __future__ import annotations

import math
import os
import shutil

import pydantic

from gristmill.components.base import BaseComponent, InputSpec, OutputSpec, Parameters
from gristmill.components.data_schema import (
    SCHEMA_FILE,
    DataSchema,
    FeatureComparator,
    FeatureSchema,
    NumericRange,
    Presence,
    load_schema,
    save_schema,
)
from gristmill.components.executor import BaseExecutor
from gristmill.components.statistics_model import DatasetStatistics, FeatureStatistics
from gristmill.metadata.errors import DataError
from gristmill.metadata.standard_artifacts import ExampleStatistics, Schema


class SchemaGenParameters(Parameters):
    """Parameters of :class:`SchemaGen`.

    Attributes:
        infer_feature_shape: Give features with a constant number of values a fixed shape.
        exclude_splits: Splits whose statistics are ignored.
        max_domain_size: Largest number of distinct strings inferred as a categorical domain.
        presence_slack: Optional features get ``min_fraction = observed * (1 - slack)``.
        infer_numeric_ranges: Record observed min/max as allowed ranges.
        drift_threshold: When set, every feature gets a drift comparator with it (L-infinity
            for categorical, Jensen-Shannon for numeric features).
        skew_threshold: The same for training/serving skew comparators.
    """

    infer_feature_shape: bool = True
    exclude_splits: list[str] = []
    max_domain_size: int = pydantic.Field(100, ge=1)
    presence_slack: float = pydantic.Field(0.1, ge=0.0, le=1.0)
    infer_numeric_ranges: bool = False
    drift_threshold: float | None = pydantic.Field(None, ge=0.0, le=1.0)
    skew_threshold: float | None = pydantic.Field(None, ge=0.0, le=1.0)


def _presence(stats: FeatureStatistics, slack: float) -> Presence:
    if stats.num_missing == 0:
        return Presence(min_fraction=1.0, min_count=1)
    floor = math.floor(stats.present_fraction * (1 - slack) * 100) / 100
    return Presence(min_fraction=max(0.0, floor), min_count=1 if stats.num_present else 0)


def _comparator(threshold: float | None, categorical: bool) -> FeatureComparator | None:
    if threshold is None:
        return None
    return (FeatureComparator(infinity_norm=threshold) if categorical
            else FeatureComparator(jensen_shannon_divergence=threshold))


def infer_feature(stats: FeatureStatistics, params: SchemaGenParameters) -> FeatureSchema:
    """The schema of one feature from its statistics."""
    string = stats.string
    categorical = string is not None
    domain = None
    if string is not None and string.unique_is_exact and string.value_counts is not None \
            and 0 < string.unique <= params.max_domain_size:
        domain = sorted(v.value for v in string.value_counts)
    shape = None
    if params.infer_feature_shape and stats.num_missing == 0 and stats.num_present \
            and stats.min_num_values == stats.max_num_values:
        shape = [stats.max_num_values] if stats.is_list else []
    numeric = stats.numeric
    value_range = None
    if params.infer_numeric_ranges and numeric is not None and numeric.min is not None:
        value_range = NumericRange(min=numeric.min, max=numeric.max)
    floating = stats.type == "FLOAT"
    return FeatureSchema(
        name=stats.name, type=stats.type, arrow_type=stats.arrow_type,
        presence=_presence(stats, params.presence_slack), shape=shape, categorical=categorical,
        domain=domain, range=value_range,
        disallow_nan=floating and numeric is not None and numeric.num_nan == 0,
        disallow_inf=floating and numeric is not None
        and numeric.num_pos_inf + numeric.num_neg_inf == 0,
        drift_comparator=_comparator(params.drift_threshold, categorical),
        skew_comparator=_comparator(params.skew_threshold, categorical))


def _widen(a: FeatureSchema, b: FeatureSchema) -> FeatureSchema:
    """One schema accepting what either split's schema accepts."""
    domain = sorted(set(a.domain) | set(b.domain)) if a.domain and b.domain else None
    value_range = None
    if a.range and b.range:
        value_range = NumericRange(min=min(a.range.min, b.range.min),
                                   max=max(a.range.max, b.range.max))
    presence = Presence(min_fraction=min(a.presence.min_fraction, b.presence.min_fraction),
                        min_count=min(a.presence.min_count, b.presence.min_count))
    if a.type != b.type:
        kind = "FLOAT" if {a.type, b.type} <= {"INT", "FLOAT", "BOOL"} else "STRING"
    else:
        kind = a.type
    return a.model_copy(update={
        "type": kind, "domain": domain, "range": value_range, "presence": presence,
        "shape": a.shape if a.shape == b.shape else None,
        "disallow_nan": a.disallow_nan and b.disallow_nan,
        "disallow_inf": a.disallow_inf and b.disallow_inf})


def infer_schema(statistics: list[DatasetStatistics], params: SchemaGenParameters
                 ) -> DataSchema:
    """A schema accepting every split in ``statistics``.

    Raises:
        DataError: No statistics were given.
    """
    if not statistics:
        raise DataError("SchemaGen: no statistics to infer a schema from (every split was "
                        "excluded).", fix="exclude fewer splits")
    features: dict[str, FeatureSchema] = {}
    for split in statistics:
        for stats in split.features:
            inferred = infer_feature(stats, params)
            features[stats.name] = (_widen(features[stats.name], inferred)
                                    if stats.name in features else inferred)
    for name, feature in features.items():
        if not all(s.feature(name) for s in statistics):  # absent from some split
            features[name] = feature.model_copy(update={
                "presence": Presence(min_fraction=0.0, min_count=0), "shape": None})
    return DataSchema(features=list(features.values()))


class SchemaGenExecutor(BaseExecutor):
    """Reads every non-excluded split's statistics and writes ``schema.yaml``."""

    def Do(self, input_dict, output_dict, exec_properties: SchemaGenParameters) -> None:
        from gristmill.components.statistics_model import load_statistics

        statistics = input_dict["statistics"][0]
        splits = [s for s in statistics.splits if s not in exec_properties.exclude_splits]
        stats = [load_statistics(statistics.split_uri(s)) for s in splits]
        schema = infer_schema(stats, exec_properties)
        save_schema(schema, output_dict["schema"][0].uri)
        self.context.log_metrics({"num_features": float(len(schema.features))})


class SchemaGen(BaseComponent):
    """Infers a data schema from statistics.

    Args:
        statistics: An ``ExampleStatistics`` channel (``StatisticsGen.outputs["statistics"]``).
        infer_feature_shape: See :class:`SchemaGenParameters`.
        exclude_splits: Splits to ignore.

    Outputs:
        schema: ``Schema`` artifact holding ``schema.yaml``.
    """

    INPUTS = {"statistics": InputSpec(ExampleStatistics)}
    OUTPUTS = {"schema": OutputSpec(Schema)}
    PARAMETERS = SchemaGenParameters
    EXECUTOR = SchemaGenExecutor
    VERSION = "1"


class ImportSchemaGenParameters(Parameters):
    """Parameters of :class:`ImportSchemaGen`: the curated ``schema_file`` (YAML or JSON)."""

    schema_file: str


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


class ImportSchemaGen(BaseComponent):
    """Brings a curated schema file into the pipeline.

    Args:
        schema_file: Path of a ``schema.yaml`` (or JSON) in the
            :class:`~gristmill.components.data_schema.DataSchema` format.

    Outputs:
        schema: ``Schema`` artifact holding ``schema.yaml``.
    """

    OUTPUTS = {"schema": OutputSpec(Schema)}
    PARAMETERS = ImportSchemaGenParameters
    EXECUTOR = ImportSchemaGenExecutor
    VERSION = "1"

    def fingerprint_external_inputs(self) -> dict[str, str]:
        """The schema file's content hash, so an edited file busts the cache."""
        import hashlib

        try:
            with open(self.parameters.schema_file, "rb") as f:
                return {"schema_file_sha256": hashlib.sha256(f.read()).hexdigest()}
        except OSError:
            return {"schema_file_sha256": "missing"}  # the executor reports it properly
