"""The ExampleGen component specs (CsvExampleGen, ParquetExampleGen, JsonExampleGen,
ImportExampleGen, BeamSourceExampleGen): inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gristmill.components.example_gen.inputs import resolve_input
from gristmill.components.framework.base import BaseComponent, OutputSpec
from gristmill.metadata.standard_artifacts import Examples

if TYPE_CHECKING:  # the Beam module is imported by the executors only (pipeline files stay light)
    pass

from gristmill.components.example_gen.config import (
    BeamSourceExampleGenParameters,
    CsvExampleGenParameters,
    FileExampleGenParameters,
    ImportExampleGenParameters,
)
from gristmill.components.example_gen.executor import (
    CsvExampleGenExecutor,
    ImportExampleGenExecutor,
    JsonExampleGenExecutor,
    ParquetExampleGenExecutor,
)


class FileBasedExampleGen(BaseComponent):
    """Base of the file-based ExampleGens. Output ``examples``: an ``Examples`` artifact.

    Args:
        input_base: Directory holding the input files.
        input_config: :class:`~gristmill.components.example_gen.config.Input`.
        output_config: :class:`~gristmill.components.example_gen.config.Output`.
        range_config: :class:`~gristmill.components.example_gen.config.RangeConfig`.
        on_bad_records: ``"fail"`` or ``"quarantine"``.
    """

    OUTPUTS = {"examples": OutputSpec(Examples)}
    PARAMETERS = FileExampleGenParameters
    VERSION = "1"

    def fingerprint_external_inputs(self) -> dict[str, Any]:
        """Span, version and fingerprint of the files this run would read (cache key)."""
        p = self.parameters
        resolved = resolve_input(p.input_base, p.input_config, p.range_config)
        return {"span": resolved.span, "version": resolved.version, "spans": resolved.spans,
                "input_fingerprint": resolved.fingerprint}


class CsvExampleGen(FileBasedExampleGen):
    """Ingests CSV files with a header line (also ``delimiter``, ``column_types``)."""

    PARAMETERS = CsvExampleGenParameters
    EXECUTOR = CsvExampleGenExecutor


class JsonExampleGen(FileBasedExampleGen):
    """Ingests JSON-lines files (one object per line)."""

    EXECUTOR = JsonExampleGenExecutor


class ParquetExampleGen(FileBasedExampleGen):
    """Ingests Parquet files."""

    EXECUTOR = ParquetExampleGenExecutor


class ImportExampleGen(BaseComponent):
    """Turns a pandas DataFrame or Arrow table handed in by the user into Examples.

    Args:
        table: A ``pandas.DataFrame``, ``pyarrow.Table`` or ``pyarrow.RecordBatch``.
        output_config: :class:`~gristmill.components.example_gen.config.Output`.
    """

    OUTPUTS = {"examples": OutputSpec(Examples)}
    PARAMETERS = ImportExampleGenParameters
    EXECUTOR = ImportExampleGenExecutor
    VERSION = "1"


class BeamSourceExampleGen(BaseComponent):
    """Base of ExampleGens over a Beam source; subclasses set ``EXECUTOR``.

    Args:
        query, custom_config, output_config, span: See
            :class:`BeamSourceExampleGenParameters`.

    Outputs:
        examples: ``Examples`` with ``Split-<name>/part-*.parquet`` and ``row_counts``.
    """

    OUTPUTS = {"examples": OutputSpec(Examples)}
    PARAMETERS = BeamSourceExampleGenParameters
    VERSION = "1"
