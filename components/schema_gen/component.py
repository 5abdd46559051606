"""The SchemaGen and ImportSchemaGen component specs: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.framework.schema_inference import SchemaGenParameters
from gristmill.components.schema_gen.config import ImportSchemaGenParameters
from gristmill.components.schema_gen.executor import ImportSchemaGenExecutor, SchemaGenExecutor
from gristmill.metadata.standard_artifacts import ExampleStatistics, Schema


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


class ImportSchemaGen(BaseComponent):
    """Brings a curated schema file into the pipeline.

    Args:
        schema_file: Path of a ``schema.yaml`` (or JSON) in the
            :class:`~gristmill.components.framework.data_schema.DataSchema` format.

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
