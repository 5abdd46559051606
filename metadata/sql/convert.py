"""Turn ORM rows into the records and artifacts the store returns (never rows)."""

from __future__ import annotations

from gristmill.metadata.sql.models import ArtifactRow, ContextRow, EventRow, ExecutionRow
from gristmill.metadata.types import (
    Artifact,
    ArtifactState,
    ContextRecord,
    EventRecord,
    EventType,
    ExecutionRecord,
    ExecutionState,
    artifact_class,
)


def to_artifact(row: ArtifactRow, type_name: str) -> Artifact:
    """An artifact of the registered class for ``type_name``.

    Stored properties are copied as they are, without re-validation, so that artifacts written
    before a type's ``PROPERTIES`` changed can still be read.
    """
    artifact = artifact_class(type_name)(
        row.uri, id=row.id, state=ArtifactState(row.state),
        custom_properties=dict(row.custom_properties or {}), fingerprint=row.fingerprint,
        producer_component=row.producer_component, output_key=row.output_key,
        create_time=row.create_time)
    artifact.properties = dict(row.properties or {})
    return artifact


def to_execution(row: ExecutionRow) -> ExecutionRecord:
    """The frozen record of one execution row."""
    return ExecutionRecord(
        id=row.id, component_id=row.component_id, component_type=row.component_type,
        state=ExecutionState(row.state), parameters=dict(row.parameters or {}),
        cache_key=row.cache_key, cache_ingredients=dict(row.cache_ingredients or {}),
        pipeline_name=row.pipeline_name, run_id=row.run_id, start_time=row.start_time,
        end_time=row.end_time, error=row.error, pid=row.pid, host=row.host,
        custom_properties=dict(row.custom_properties or {}))


def to_context(row: ContextRow) -> ContextRecord:
    """The frozen record of one context row."""
    return ContextRecord(id=row.id, type=row.type, name=row.name,
                         properties=dict(row.properties or {}), create_time=row.create_time)


def to_event(row: EventRow) -> EventRecord:
    """The frozen record of one event row."""
    return EventRecord(execution_id=row.execution_id, artifact_id=row.artifact_id,
                       type=EventType(row.type), key=row.key, index=row.index)
