"""ExampleGen over any Beam source: the counterpart of TFX's custom executors
(``GetInputSourceToExamplePTransform``) and ``QueryBasedExampleGen``.

Subclass :class:`BeamSourceExampleGenExecutor`, implement :meth:`~BeamSourceExampleGenExecutor.
output_schema` and :meth:`~BeamSourceExampleGenExecutor.input_source` (a ``PTransform`` from
the pipeline root to a ``PCollection`` of ``pyarrow.RecordBatch``), and name it as the
``EXECUTOR`` of a :class:`BeamSourceExampleGen` subclass. Everything after the source is
shared with the file-based ExampleGens: stable hash splits, Parquet output per split, row
counts checked against rows read. Batches are cast to the declared schema; a batch that
does not fit fails the run with the column and the types found::

    class SqliteExecutor(BeamSourceExampleGenExecutor):
        def output_schema(self, params):
            return pa.schema([("id", pa.int64()), ("name", pa.string())])

        def input_source(self, params):
            return ReadQuery(params.custom_config["db"], params.query)

    class SqliteExampleGen(BeamSourceExampleGen):
        EXECUTOR = SqliteExecutor

The cache key includes ``query`` and ``custom_config``; a source whose data can change under
the same query should override :meth:`BeamSourceExampleGen.fingerprint_external_inputs`
(e.g. with a table's modification time), as the file-based ExampleGens do with file contents.
"""

from __future__ import annotations

import pyarrow as pa

from gristmill.components.example_gen.config import BeamSourceExampleGenParameters
from gristmill.components.example_gen.executor import BaseExampleGenExecutor, make_routing
from gristmill.metadata.errors import DataError


def conform_batch(batch: pa.RecordBatch, schema: pa.Schema, component_id: str
                  ) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns and types (cast where they differ).

    Raises:
        DataError: A column is missing or a value does not convert.
    """
    if batch.schema.equals(schema):
        return batch
    missing = [n for n in schema.names if n not in batch.schema.names]
    if missing:
        raise DataError(f"{component_id}: the source produced a batch without columns "
                        f"{missing}; it has {batch.schema.names}, output_schema() declares "
                        f"{schema.names}.", component_id=component_id,
                        fix="make input_source() and output_schema() agree")
    try:
        return pa.RecordBatch.from_arrays(
            [batch.column(f.name).cast(f.type) for f in schema], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        found = {f.name: str(batch.schema.field(f.name).type) for f in schema}
        raise DataError(f"{component_id}: a source batch does not convert to the declared "
                        f"schema ({e}); batch types: {found}.", component_id=component_id,
                        fix="cast in input_source() or correct output_schema()") from e


class BeamSourceExampleGenExecutor(BaseExampleGenExecutor):
    """Base executor: read ``input_source()`` and split it like every ExampleGen."""

    def output_schema(self, exec_properties: BeamSourceExampleGenParameters) -> pa.Schema:
        """The Arrow schema of every output row."""
        raise NotImplementedError(f"{type(self).__name__} must implement output_schema()")

    def input_source(self, exec_properties: BeamSourceExampleGenParameters):
        """A ``PTransform``: pipeline root -> ``PCollection`` of ``pa.RecordBatch``."""
        raise NotImplementedError(f"{type(self).__name__} must implement input_source()")

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        output = output_dict["examples"][0]
        schema = self.output_schema(exec_properties)
        routing = make_routing(["single_split"], exec_properties.output_config, schema)
        self._generate(output, self._source(exec_properties, schema), schema, routing, "fail")
        output.set_property("span", exec_properties.span)

    def _source(self, exec_properties, schema: pa.Schema):
        import apache_beam as beam

        from gristmill.components.example_gen.beam_pipeline import CountRows

        component_id = self.context.component_id
        transform = self.input_source(exec_properties)

        def source(pipeline, bad_dir: str):
            return (pipeline | "Source" >> transform
                    | "Conform" >> beam.Map(lambda batch: ("single_split",
                                                           conform_batch(batch, schema,
                                                                         component_id)))
                    | "Count" >> beam.ParDo(CountRows())
                    .with_output_types(tuple[str, pa.RecordBatch]))
        return source
