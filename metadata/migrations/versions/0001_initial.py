"""Initial metadata schema: types, artifacts, executions, contexts, events.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written with ``op.create_table`` on purpose: migrations never import the live ORM models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_types",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
    )
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("type_id", sa.Integer, sa.ForeignKey("artifact_types.id"), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("custom_properties", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(255), nullable=True),
        sa.Column("producer_component", sa.String(255), nullable=True),
        sa.Column("output_key", sa.String(255), nullable=True),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.Column("update_time", sa.Float, nullable=False),
    )
    op.create_index("ix_artifacts_state", "artifacts", ["state"])
    op.create_index("ix_artifacts_type_id", "artifacts", ["type_id"])
    op.create_index("ix_artifacts_producer_component", "artifacts", ["producer_component"])
    op.create_table(
        "executions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("component_id", sa.String(255), nullable=False),
        sa.Column("component_type", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("cache_key", sa.String(255), nullable=True),
        sa.Column("cache_ingredients", sa.JSON, nullable=False),
        sa.Column("pipeline_name", sa.String(255), nullable=True),
        sa.Column("run_id", sa.String(255), nullable=True),
        sa.Column("start_time", sa.Float, nullable=True),
        sa.Column("end_time", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("custom_properties", sa.JSON, nullable=False),
    )
    op.create_index("ix_executions_cache_key", "executions", ["cache_key"])
    op.create_index("ix_executions_run_id", "executions", ["run_id"])
    op.create_index("ix_executions_state", "executions", ["state"])
    op.create_table(
        "contexts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.UniqueConstraint("type", "name", name="uq_contexts_type_name"),
    )
    op.create_table(
        "attributions",
        sa.Column("context_id", sa.Integer, sa.ForeignKey("contexts.id"), primary_key=True),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), primary_key=True),
    )
    op.create_index("ix_attributions_artifact_id", "attributions", ["artifact_id"])
    op.create_table(
        "associations",
        sa.Column("context_id", sa.Integer, sa.ForeignKey("contexts.id"), primary_key=True),
        sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), primary_key=True),
    )
    op.create_index("ix_associations_execution_id", "associations", ["execution_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
    )
    op.create_index("ix_events_execution_id", "events", ["execution_id"])
    op.create_index("ix_events_artifact_id", "events", ["artifact_id"])


def downgrade() -> None:
    for table in ("events", "associations", "attributions", "contexts", "executions",
                  "artifacts", "artifact_types"):
        op.drop_table(table)
