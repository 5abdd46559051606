"""Artifact types and artifacts: the artifact half of :class:`SqlMetadataStore`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gristmill.metadata.errors import StoreError
from gristmill.metadata.sql.convert import to_artifact
from gristmill.metadata.sql.models import ArtifactRow, ArtifactTypeRow, AttributionRow, EventRow
from gristmill.metadata.sql.session import Database
from gristmill.metadata.types import Artifact, ArtifactState, EventType


def put_artifact_type(session: Session, artifact: Artifact) -> int:
    """Get or create the type of ``artifact`` from its class's ``PROPERTIES``; its id.

    A type first stored with fewer properties gains the new ones.

    Raises:
        StoreError: A property is declared with a different kind than the stored schema.
    """
    name, declared = artifact.type_name, dict(artifact.PROPERTIES)
    row = session.scalars(select(ArtifactTypeRow).where(ArtifactTypeRow.name == name)).first()
    if row is None:
        try:
            with session.begin_nested():  # a concurrent writer may create the same type
                row = ArtifactTypeRow(name=name, properties=declared, create_time=time.time())
                session.add(row)
            return row.id
        except IntegrityError:
            row = session.scalars(select(ArtifactTypeRow)
                                  .where(ArtifactTypeRow.name == name)).one()
    stored = dict(row.properties or {})
    clashes = {k: (stored[k], v) for k, v in declared.items() if k in stored and stored[k] != v}
    if clashes:
        raise StoreError(
            f"artifact type {name}: property kinds {clashes} (stored, declared) disagree with "
            f"the metadata database.", fix=f"rename the changed properties of {name} or add a "
            "migration that converts the stored values")
    if set(declared) - set(stored):
        row.properties = {**stored, **declared}
    return row.id


def type_names(session: Session, type_ids: Iterable[int]) -> dict[int, str]:
    """Artifact type name by id."""
    ids = set(type_ids)
    if not ids:
        return {}
    rows = session.execute(select(ArtifactTypeRow.id, ArtifactTypeRow.name)
                           .where(ArtifactTypeRow.id.in_(ids)))
    return dict(rows.tuples().all())


def load_artifacts(session: Session, rows: Sequence[ArtifactRow]) -> list[Artifact]:
    """Artifacts for ``rows``, in their order."""
    names = type_names(session, (row.type_id for row in rows))
    return [to_artifact(row, names[row.type_id]) for row in rows]


def artifacts_by_id(session: Session, ids: Sequence[int], db: Database) -> list[Artifact]:
    """Artifacts in the order of ``ids``; StoreError names any unknown id."""
    wanted = set(ids)
    rows = {row.id: row for row in session.scalars(select(ArtifactRow)
                                                   .where(ArtifactRow.id.in_(wanted)))}
    missing = sorted(wanted - set(rows))
    if missing:
        raise StoreError(f"no artifact with id {missing} in metadata database {db.redacted_url}.",
                         fix="use an id that list_artifacts() returns")
    loaded = {a.id: a for a in load_artifacts(session, list(rows.values()))}
    return [loaded[i] for i in ids]


def artifacts_of_execution(session: Session, execution_id: int,
                           event_type: EventType) -> dict[str, list[Artifact]]:
    """One execution's INPUT or OUTPUT artifacts by key, ordered by event index.

    ONE statement (the type names joined in), so that a read of it needs no transaction.
    """
    rows = session.execute(
        select(EventRow.key, ArtifactRow, ArtifactTypeRow.name)
        .join(ArtifactRow, ArtifactRow.id == EventRow.artifact_id)
        .join(ArtifactTypeRow, ArtifactTypeRow.id == ArtifactRow.type_id)
        .where(EventRow.execution_id == execution_id, EventRow.type == event_type.value)
        .order_by(EventRow.key, EventRow.index, EventRow.id)).tuples().all()
    by_key: dict[str, list[Artifact]] = {}
    for key, row, type_name in rows:
        by_key.setdefault(key, []).append(to_artifact(row, type_name))
    return by_key


class ArtifactQueries:
    """Artifact reads and state changes of :class:`SqlMetadataStore`."""

    _db: Database

    def get_artifacts(self, ids: Sequence[int]) -> list[Artifact]:
        """Artifacts by id, in the order given; raises StoreError for unknown ids."""
        ids = list(ids)
        return self._db.read(lambda s: artifacts_by_id(s, ids, self._db))

    def list_artifacts(self, *, type_name: str | None = None,
                       states: Iterable[ArtifactState] | None = None,
                       context_id: int | None = None,
                       producer_component: str | None = None) -> list[Artifact]:
        """Artifacts matching all given filters, newest first."""
        query = select(ArtifactRow).order_by(ArtifactRow.id.desc())
        if type_name is not None:
            query = query.join(ArtifactTypeRow, ArtifactTypeRow.id == ArtifactRow.type_id) \
                .where(ArtifactTypeRow.name == type_name)
        if states is not None:
            query = query.where(ArtifactRow.state.in_([ArtifactState(s).value for s in states]))
        if context_id is not None:
            query = query.join(AttributionRow, AttributionRow.artifact_id == ArtifactRow.id) \
                .where(AttributionRow.context_id == context_id)
        if producer_component is not None:
            query = query.where(ArtifactRow.producer_component == producer_component)
        return self._db.read(lambda s: load_artifacts(s, s.scalars(query).all()))

    def set_artifact_state(self, artifact_id: int, state: ArtifactState) -> None:
        """Change one artifact's state (e.g. DELETED after garbage collection)."""
        state = ArtifactState(state)

        def work(session: Session) -> None:
            row = session.get(ArtifactRow, artifact_id)
            if row is None:
                raise StoreError(f"no artifact with id {artifact_id} in metadata database "
                                 f"{self._db.redacted_url}; cannot set it {state.value}.")
            row.state, row.update_time = state.value, time.time()

        self._db.write(work)

    def get_outputs(self, execution_id: int) -> dict[str, list[Artifact]]:
        """An execution's output artifacts by key, ordered by event index."""
        return self._db.read(lambda s: artifacts_of_execution(s, execution_id, EventType.OUTPUT),
                             one_statement=True)

    def get_inputs(self, execution_id: int) -> dict[str, list[Artifact]]:
        """An execution's input artifacts by key, ordered by event index."""
        return self._db.read(lambda s: artifacts_of_execution(s, execution_id, EventType.INPUT),
                             one_statement=True)


def output_artifact_ids(session: Session, execution_id: int) -> list[int]:
    """Ids of the artifacts linked to ``execution_id`` by OUTPUT events."""
    return list(session.scalars(select(EventRow.artifact_id).where(
        EventRow.execution_id == execution_id, EventRow.type == EventType.OUTPUT.value)))


def abandon_pending_outputs(session: Session, execution_id: int, now: float) -> list[int]:
    """Mark the execution's still-PENDING outputs ABANDONED; their ids."""
    ids = output_artifact_ids(session, execution_id)
    if not ids:
        return []
    rows = session.scalars(select(ArtifactRow).where(
        ArtifactRow.id.in_(ids), ArtifactRow.state == ArtifactState.PENDING.value)).all()
    for row in rows:
        row.state, row.update_time = ArtifactState.ABANDONED.value, now
    return [row.id for row in rows]
