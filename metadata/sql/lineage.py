"""Events and lineage walks: part of :class:`SqlMetadataStore`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gristmill.metadata.errors import StoreError
from gristmill.metadata.sql.artifacts import artifacts_by_id
from gristmill.metadata.sql.convert import to_event, to_execution
from gristmill.metadata.sql.models import EventRow, ExecutionRow
from gristmill.metadata.sql.session import Database
from gristmill.metadata.types import EventRecord, EventType, LineageGraph

_DIRECTIONS = ("upstream", "downstream", "both")


def _walk(session: Session, start: int, hops: int, *, upstream: bool
          ) -> tuple[set[int], set[int]]:
    """Artifact and execution ids reachable from artifact ``start`` in ``hops`` steps.

    Upstream, a step goes from an artifact to the executions that OUTPUT it and on to
    their INPUTs; downstream, from an artifact to the executions that take it as INPUT and
    on to their OUTPUTs.
    """
    toward_execution, away = ((EventType.OUTPUT, EventType.INPUT) if upstream
                              else (EventType.INPUT, EventType.OUTPUT))
    artifacts, executions, frontier = {start}, set(), {start}
    for _ in range(hops):
        step = set(session.scalars(select(EventRow.execution_id).where(
            EventRow.artifact_id.in_(frontier),
            EventRow.type == toward_execution.value))) - executions
        if not step:
            break
        executions |= step
        frontier = set(session.scalars(select(EventRow.artifact_id).where(
            EventRow.execution_id.in_(step), EventRow.type == away.value))) - artifacts
        artifacts |= frontier
        if not frontier:
            break
    return artifacts, executions


class LineageQueries:
    """Event and lineage methods of :class:`SqlMetadataStore`."""

    _db: Database

    def get_events(self, *, execution_id: int | None = None,
                   artifact_id: int | None = None) -> list[EventRecord]:
        """Events of one execution and/or one artifact, in the order they were written."""
        query = select(EventRow).order_by(EventRow.id)
        if execution_id is not None:
            query = query.where(EventRow.execution_id == execution_id)
        if artifact_id is not None:
            query = query.where(EventRow.artifact_id == artifact_id)
        return self._db.read(lambda s: [to_event(r) for r in s.scalars(query)])

    def get_lineage(self, artifact_id: int, *, direction: str = "upstream",
                    hops: int = 3) -> LineageGraph:
        """Artifacts and executions within ``hops`` executions of ``artifact_id``.

        The graph holds the start artifact, every execution and artifact reached, and the
        events between them; ``"both"`` is the union of the upstream and downstream walks.
        Artifacts come in id order, executions oldest first.
        """
        if direction not in _DIRECTIONS:
            raise StoreError(f"get_lineage: direction must be one of {_DIRECTIONS}, "
                             f"got {direction!r}.")

        def work(session: Session) -> LineageGraph:
            artifacts_by_id(session, [artifact_id], self._db)  # StoreError when unknown
            artifact_ids, execution_ids = {artifact_id}, set()
            for upstream in (True, False):
                if direction == ("downstream" if upstream else "upstream"):
                    continue
                found_artifacts, found_executions = _walk(session, artifact_id, hops,
                                                          upstream=upstream)
                artifact_ids |= found_artifacts
                execution_ids |= found_executions
            executions = session.scalars(select(ExecutionRow).where(
                ExecutionRow.id.in_(execution_ids)).order_by(ExecutionRow.id)).all()
            events = session.scalars(select(EventRow).where(
                EventRow.execution_id.in_(execution_ids),
                EventRow.artifact_id.in_(artifact_ids)).order_by(EventRow.id)).all()
            return LineageGraph(artifacts=artifacts_by_id(session, sorted(artifact_ids), self._db),
                                executions=[to_execution(r) for r in executions],
                                events=[to_event(r) for r in events])

        return self._db.read(work)
