"""Finishing executions: the publish transaction of :class:`SqlMetadataStore`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from gristmill.metadata.errors import StoreError
from gristmill.metadata.sql.artifacts import abandon_pending_outputs
from gristmill.metadata.sql.contexts import attribute
from gristmill.metadata.sql.convert import to_execution
from gristmill.metadata.sql.executions import get_execution_row
from gristmill.metadata.sql.models import ArtifactRow, AssociationRow, EventRow, ExecutionRow
from gristmill.metadata.sql.session import Database
from gristmill.metadata.types import (
    Artifact,
    ArtifactState,
    EventType,
    ExecutionRecord,
    ExecutionState,
)

Outputs = Mapping[str, Sequence[Artifact]]
_FINAL = (ExecutionState.COMPLETE, ExecutionState.FAILED, ExecutionState.CANCELED,
          ExecutionState.CACHED)


Registered = dict[int, tuple[str, ArtifactRow]]


def _lock_with_outputs(session: Session, execution_id: int,
                       db: Database) -> tuple[ExecutionRow, Registered]:
    """The execution row, locked (``FOR UPDATE OF executions``), and its registered outputs
    (artifact id -> (key, row)), in ONE statement (was two round trips)."""
    query = (select(ExecutionRow, EventRow.key, ArtifactRow)
             .outerjoin(EventRow, and_(EventRow.execution_id == ExecutionRow.id,
                                       EventRow.type == EventType.OUTPUT.value))
             .outerjoin(ArtifactRow, ArtifactRow.id == EventRow.artifact_id)
             .where(ExecutionRow.id == execution_id)
             .with_for_update(of=ExecutionRow))
    rows = session.execute(query).tuples().all()
    if not rows:
        get_execution_row(session, execution_id, db)  # raises the StoreError naming the id
    registered = {artifact.id: (key, artifact) for _, key, artifact in rows
                  if artifact is not None}
    return rows[0][0], registered


def _make_live(execution: ExecutionRow, registered: Registered, outputs: Outputs | None,
               now: float) -> None:
    """COMPLETE: the registered outputs become LIVE with their final uri and properties;
    those left out become ABANDONED (from the rows already read: no second query)."""
    if outputs is None:  # promote everything as registered
        outputs = {}
        for _, row in registered.values():
            if row.state == ArtifactState.PENDING.value:
                row.state, row.update_time = ArtifactState.LIVE.value, now
    for key, artifacts in outputs.items():
        for index, artifact in enumerate(artifacts):
            stored_key, row = registered.get(artifact.id, (None, None))
            if row is None or stored_key != key or row.state != ArtifactState.PENDING.value:
                raise StoreError(
                    f"publish of execution {execution.id} ({execution.component_id}): output "
                    f"{key}[{index}] (artifact id {artifact.id}) is not a PENDING output "
                    f"registered under {key!r} by this execution"
                    + (f" (it is {row.state} under {stored_key!r})." if row else "."),
                    fix="publish the artifacts that register_execution() returned ids for")
            row.uri, row.fingerprint = artifact.uri, artifact.fingerprint
            row.properties = dict(artifact.properties)
            row.custom_properties = dict(artifact.custom_properties)
            row.state, row.update_time = ArtifactState.LIVE.value, now
    for _, row in registered.values():
        if row.state == ArtifactState.PENDING.value:
            row.state, row.update_time = ArtifactState.ABANDONED.value, now


def _link_reused(session: Session, execution: ExecutionRow, outputs: Outputs,
                 now: float) -> None:
    """CACHED: replace the placeholder outputs by OUTPUT events to the reused LIVE artifacts."""
    wanted = {a.id for arts in outputs.values() for a in arts}
    rows = {r.id: r for r in session.scalars(select(ArtifactRow)
                                             .where(ArtifactRow.id.in_(wanted)))}
    not_live = {i: (rows[i].state if i in rows else "unknown") for i in wanted
                if i not in rows or rows[i].state != ArtifactState.LIVE.value}
    if not_live:
        raise StoreError(f"publish of execution {execution.id} ({execution.component_id}) as "
                         f"CACHED: reused artifacts must be LIVE, got {not_live}.",
                         fix="look the cache up again with find_cached_execution()")
    placeholders = abandon_pending_outputs(session, execution.id, now)
    if placeholders:
        session.execute(delete(EventRow).where(EventRow.execution_id == execution.id,
                                               EventRow.artifact_id.in_(placeholders)))
    for key, artifacts in outputs.items():
        for index, artifact in enumerate(artifacts):
            session.add(EventRow(execution_id=execution.id, artifact_id=artifact.id,
                                 type=EventType.OUTPUT.value, key=key, index=index,
                                 create_time=now))
    context_ids = session.scalars(select(AssociationRow.context_id)
                                  .where(AssociationRow.execution_id == execution.id)).all()
    attribute(session, context_ids, wanted)


class PublishQueries:
    """The publish method of :class:`SqlMetadataStore`."""

    _db: Database

    def publish_execution(
        self, execution_id: int, *, state: ExecutionState,
        outputs: Outputs | None = None, error: str | None = None,
        custom_properties: Mapping[str, Any] | None = None,
    ) -> ExecutionRecord:
        """Finish an execution in ONE transaction; see MetadataStore.publish_execution."""
        state = ExecutionState(state)
        if state not in _FINAL:
            raise StoreError(f"publish_execution({execution_id}): state must be one of "
                             f"{[s.value for s in _FINAL]}, got {state.value}.")

        def work(session: Session) -> ExecutionRecord:
            if state is ExecutionState.COMPLETE:
                row, registered = _lock_with_outputs(session, execution_id, self._db)
            else:
                row = get_execution_row(session, execution_id, self._db, for_update=True)
            if row.state not in (ExecutionState.NEW.value, ExecutionState.RUNNING.value):
                raise StoreError(
                    f"execution {execution_id} ({row.component_id}) is already {row.state}; "
                    f"it cannot be published as {state.value}.",
                    fix="register a new execution for a new attempt")
            now = time.time()
            if state is ExecutionState.COMPLETE:
                _make_live(row, registered, outputs, now)  # abandons what it leaves PENDING
            elif state is ExecutionState.CACHED:
                _link_reused(session, row, outputs or {}, now)  # abandons the placeholders
            else:
                abandon_pending_outputs(session, row.id, now)
            row.state, row.end_time = state.value, now
            if error is not None:
                row.error = error
            if custom_properties:
                row.custom_properties = {**(row.custom_properties or {}), **custom_properties}
            session.flush()
            return to_execution(row)

        record = self._db.write(work)
        if state is ExecutionState.COMPLETE:
            for artifact in (a for arts in (outputs or {}).values() for a in arts):
                artifact.state = ArtifactState.LIVE
        return record
