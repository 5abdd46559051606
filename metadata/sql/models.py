"""SQLAlchemy ORM tables of the metadata store (MLMD's data model, our own schema).

These classes describe the schema that migration ``0001_initial`` creates; they are used
for queries only. Schema changes go through a new alembic migration, never through
``metadata.create_all``. Times are UNIX seconds as floats.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the metadata tables."""


class ArtifactTypeRow(Base):
    """An artifact type and its property schema (name -> "int" | "float" | ...)."""

    __tablename__ = "artifact_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_time: Mapped[float] = mapped_column(Float)


class ArtifactRow(Base):
    """One artifact: a typed pointer to files plus properties."""

    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_state", "state"),
                      Index("ix_artifacts_type_id", "type_id"),
                      Index("ix_artifacts_producer_component", "producer_component"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("artifact_types.id"))
    uri: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    custom_properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str | None] = mapped_column(String(255))
    producer_component: Mapped[str | None] = mapped_column(String(255))
    output_key: Mapped[str | None] = mapped_column(String(255))
    create_time: Mapped[float] = mapped_column(Float)
    update_time: Mapped[float] = mapped_column(Float)


class ExecutionRow(Base):
    """One run of one component."""

    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_cache_key", "cache_key"),
                      Index("ix_executions_run_id", "run_id"),
                      Index("ix_executions_state", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component_id: Mapped[str] = mapped_column(String(255))
    component_type: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cache_key: Mapped[str | None] = mapped_column(String(255))
    cache_ingredients: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pipeline_name: Mapped[str | None] = mapped_column(String(255))
    run_id: Mapped[str | None] = mapped_column(String(255))
    start_time: Mapped[float | None] = mapped_column(Float)
    end_time: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))
    custom_properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ContextRow(Base):
    """A pipeline, a pipeline run or a node: groups executions and artifacts."""

    __tablename__ = "contexts"
    __table_args__ = (UniqueConstraint("type", "name", name="uq_contexts_type_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_time: Mapped[float] = mapped_column(Float)


class AttributionRow(Base):
    """Artifact belongs to context."""

    __tablename__ = "attributions"

    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id"), primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"), primary_key=True,
                                             index=True)


class AssociationRow(Base):
    """Execution belongs to context."""

    __tablename__ = "associations"

    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id"), primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id"), primary_key=True,
                                              index=True)


class EventRow(Base):
    """Artifact was an INPUT or OUTPUT of an execution, under ``key`` at position ``index``."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_execution_id", "execution_id"),
                      Index("ix_events_artifact_id", "artifact_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id"))
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"))
    type: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(255))
    index: Mapped[int] = mapped_column("position", Integer, default=0)
    create_time: Mapped[float] = mapped_column(Float)
