"""SchemaGen and ImportSchemaGen: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

from gristmill.components.framework.base import Parameters


class ImportSchemaGenParameters(Parameters):
    """Parameters of :class:`ImportSchemaGen`: the curated ``schema_file`` (YAML or JSON)."""

    schema_file: str
