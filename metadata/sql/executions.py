"""Registering, reading and recovering executions: part of :class:`SqlMetadataStore`."""

from __future__ import annotations

import datetime
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import exists, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gristmill.metadata.errors import StoreError
from gristmill.metadata.sql.artifacts import abandon_pending_outputs, put_artifact_type
from gristmill.metadata.sql.contexts import associate, attribute
from gristmill.metadata.sql.convert import to_execution
from gristmill.metadata.sql.models import ArtifactRow, ContextRow, EventRow, ExecutionRow
from gristmill.metadata.sql.session import Database
from gristmill.metadata.types import (
    Artifact,
    ArtifactState,
    EventType,
    ExecutionRecord,
    ExecutionState,
)

_UNFINISHED = (ExecutionState.NEW.value, ExecutionState.RUNNING.value)
_REUSABLE = (ExecutionState.COMPLETE.value, ExecutionState.CACHED.value)


def get_execution_row(session: Session, execution_id: int, db: Database, *,
                      for_update: bool = False) -> ExecutionRow:
    """The execution row, or StoreError naming the id and the database."""
    row = session.get(ExecutionRow, execution_id, with_for_update=for_update or None)
    if row is None:
        raise StoreError(f"no execution with id {execution_id} in metadata database "
                         f"{db.redacted_url}.", fix="use an id that list_executions() returns")
    return row


def _check_saved(inputs: Mapping[str, Sequence[Artifact]], component_id: str) -> None:
    unsaved = [f"{key}[{i}]" for key, arts in inputs.items()
               for i, a in enumerate(arts) if a.id is None]
    if unsaved:
        raise StoreError(f"execution of {component_id}: inputs {unsaved} have no store id.",
                         fix="pass artifacts read from the store (published outputs)")


def _check_references(session: Session, context_ids: Sequence[int],
                      inputs: Mapping[str, Sequence[Artifact]], component_id: str) -> None:
    """StoreError naming the unknown input artifact and context ids, if any.

    Registration does not run this query first (one round trip per node): the foreign keys
    of events and associations refuse unknown ids, and this names them after the fact.
    """
    wanted, contexts = {a.id for arts in inputs.values() for a in arts}, set(context_ids)
    # One round trip for both checks: ("a", id) for artifacts found, ("c", id) for contexts.
    queries = [select(literal("a").label("kind"), ArtifactRow.id)
               .where(ArtifactRow.id.in_(wanted))] if wanted else []
    if contexts:
        queries.append(select(literal("c").label("kind"), ContextRow.id)
                       .where(ContextRow.id.in_(contexts)))
    rows = session.execute(union_all(*queries)).all() if queries else []
    found = {row_id for kind, row_id in rows if kind == "a"}
    unknown_contexts = contexts - {row_id for kind, row_id in rows if kind == "c"}
    if wanted - found or unknown_contexts:
        raise StoreError(f"execution of {component_id}: unknown input artifact ids "
                         f"{sorted(wanted - found)}, unknown context ids "
                         f"{sorted(unknown_contexts)}.",
                         fix="create contexts with put_context() and use stored artifacts")


def _event_rows(execution_id: int, event_type: EventType,
                linked: Iterable[tuple[str, int, int]], now: float) -> list[dict[str, Any]]:
    """One event row per ``(key, index, artifact_id)``, for a bulk INSERT."""
    return [{"execution_id": execution_id, "artifact_id": artifact_id,
             "type": event_type.value, "key": key, "index": index, "create_time": now}
            for key, index, artifact_id in linked]


def _insert_outputs(session: Session, component_id: str,
                    outputs: Mapping[str, Sequence[Artifact]], now: float,
                    known_types: Mapping[tuple, int]
                    ) -> tuple[list[tuple[str, int, ArtifactRow]], dict[tuple, int]]:
    """Insert the PENDING output rows; also the artifact types this transaction stored.

    ``known_types`` (type key -> id, see :func:`type_key`) are types this store has stored
    and committed before, with the same declared properties: they need no query.
    """
    type_ids: dict[tuple, int] = {}
    created = []
    for key, artifacts in outputs.items():
        for index, artifact in enumerate(artifacts):
            stored_as = type_key(artifact)
            if stored_as not in type_ids:
                type_ids[stored_as] = known_types.get(stored_as) or put_artifact_type(session,
                                                                                  artifact)
            row = ArtifactRow(
                type_id=type_ids[stored_as], uri=artifact.uri,
                state=ArtifactState.PENDING.value, properties=dict(artifact.properties),
                custom_properties=dict(artifact.custom_properties),
                fingerprint=artifact.fingerprint, producer_component=component_id,
                output_key=key, create_time=now, update_time=now)
            session.add(row)
            created.append((key, index, row))
    session.flush()
    return created, type_ids


def type_key(artifact: Artifact) -> tuple:
    """An artifact type as stored: its name and declared property kinds."""
    return (artifact.type_name, tuple(sorted(dict(artifact.PROPERTIES).items())))


class ExecutionQueries:
    """Execution methods of :class:`SqlMetadataStore` (publishing is in ``publish.py``)."""

    _db: Database

    def register_execution(
        self, *, component_id: str, component_type: str, parameters: Mapping[str, Any],
        cache_key: str | None, cache_ingredients: Mapping[str, Any],
        context_ids: Sequence[int], inputs: Mapping[str, Sequence[Artifact]],
        outputs: Mapping[str, Sequence[Artifact]], pipeline_name: str, run_id: str,
        state: ExecutionState = ExecutionState.RUNNING,
    ) -> ExecutionRecord:
        """Record a new execution in ONE transaction; see MetadataStore.register_execution."""
        state = ExecutionState(state)
        if state.value not in _UNFINISHED:
            raise StoreError(f"register_execution({component_id}): state must be NEW or RUNNING,"
                             f" got {state.value}.", fix="register, then publish_execution()")

        _check_saved(inputs, component_id)

        def work(session: Session) -> tuple[ExecutionRecord, list]:
            now = time.time()
            row = ExecutionRow(
                component_id=component_id, component_type=component_type, state=state.value,
                parameters=dict(parameters), cache_key=cache_key,
                cache_ingredients=dict(cache_ingredients), pipeline_name=pipeline_name,
                run_id=run_id, start_time=now, pid=os.getpid(), host=socket.gethostname(),
                custom_properties={})
            session.add(row)
            session.flush()
            created, types = _insert_outputs(session, component_id, outputs, now,
                                             self._db.artifact_type_ids)
            # INPUT and OUTPUT events: one executemany (no ids needed back).
            events = [*_event_rows(row.id, EventType.INPUT,
                                   ((k, i, a.id) for k, arts in inputs.items()
                                    for i, a in enumerate(arts)), now),
                      *_event_rows(row.id, EventType.OUTPUT,
                                   ((k, i, r.id) for k, i, r in created), now)]
            if events:
                session.execute(insert(EventRow), events)
            associate(session, context_ids, [row.id], new=True)
            attribute(session, context_ids, [r.id for _, _, r in created], new=True)
            session.flush()
            return to_execution(row), [(r.id, r.create_time) for _, _, r in created], types

        try:
            record, created, types = self._db.write(work)
        except StoreError as e:
            if isinstance(e.__cause__, IntegrityError):  # a foreign key: name the bad ids
                self._db.read(lambda s: _check_references(s, context_ids, inputs, component_id))
            raise
        self._db.artifact_type_ids.update(types)  # committed: later registrations skip it
        registered = [(k, a) for k, arts in outputs.items() for a in arts]
        for (key, artifact), (artifact_id, create_time) in zip(registered, created, strict=True):
            artifact.id, artifact.state = artifact_id, ArtifactState.PENDING
            artifact.producer_component, artifact.output_key = component_id, key
            artifact.create_time = create_time
        return record

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        """Return one execution; raises StoreError when absent."""
        return self._db.read(lambda s: to_execution(get_execution_row(s, execution_id, self._db)))

    def list_executions(self, *, run_id: str | None = None, pipeline_name: str | None = None,
                        component_id: str | None = None,
                        states: Iterable[ExecutionState] | None = None) -> list[ExecutionRecord]:
        """Executions matching all given filters, oldest first."""
        query = select(ExecutionRow).order_by(ExecutionRow.id)
        for column, value in ((ExecutionRow.run_id, run_id),
                              (ExecutionRow.pipeline_name, pipeline_name),
                              (ExecutionRow.component_id, component_id)):
            if value is not None:
                query = query.where(column == value)
        if states is not None:
            query = query.where(ExecutionRow.state.in_([ExecutionState(s).value
                                                        for s in states]))
        return self._db.read(lambda s: [to_execution(r) for r in s.scalars(query)])

    def find_cached_execution(self, cache_key: str) -> ExecutionRecord | None:
        """The newest COMPLETE or CACHED execution with ``cache_key`` whose outputs are LIVE."""
        output_not_live = (
            select(EventRow.id)
            .join(ArtifactRow, ArtifactRow.id == EventRow.artifact_id)
            .where(EventRow.execution_id == ExecutionRow.id,
                   EventRow.type == EventType.OUTPUT.value,
                   ArtifactRow.state != ArtifactState.LIVE.value))
        query = (select(ExecutionRow)
                 .where(ExecutionRow.cache_key == cache_key, ExecutionRow.state.in_(_REUSABLE),
                        ~exists(output_not_live))
                 .order_by(ExecutionRow.id.desc()).limit(1))

        def work(session: Session) -> ExecutionRecord | None:
            row = session.scalars(query).first()
            return None if row is None else to_execution(row)

        return self._db.read(work, one_statement=True)

    def recover_stale_executions(self, is_alive: Callable[[ExecutionRecord], bool]
                                 ) -> list[ExecutionRecord]:
        """Mark RUNNING/NEW executions whose process is gone as FAILED, outputs ABANDONED.

        ``is_alive`` runs outside any transaction; each execution is re-checked under the
        write lock, so one that finished meanwhile is left alone.
        """
        dead = [r.id for r in self.list_executions(states=[ExecutionState(s)
                                                           for s in _UNFINISHED])
                if not is_alive(r)]

        def work(session: Session) -> list[ExecutionRecord]:
            now = time.time()
            stamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(
                timespec="seconds")
            recovered = []
            for execution_id in dead:
                row = get_execution_row(session, execution_id, self._db, for_update=True)
                if row.state not in _UNFINISHED:
                    continue
                row.state, row.end_time = ExecutionState.FAILED.value, now
                row.error = f"process {row.pid} on {row.host} died; recovered at {stamp}"
                abandon_pending_outputs(session, row.id, now)
                recovered.append(row)
            session.flush()
            return [to_execution(row) for row in recovered]

        return self._db.write(work) if dead else []
