"""Contexts (pipelines, runs, nodes): the grouping half of :class:`SqlMetadataStore`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gristmill.metadata.sql.convert import to_context
from gristmill.metadata.sql.models import AssociationRow, AttributionRow, ContextRow
from gristmill.metadata.sql.session import Database
from gristmill.metadata.types import ContextRecord


def _find(session: Session, type: str, name: str) -> ContextRow | None:
    return session.scalars(select(ContextRow).where(ContextRow.type == type,
                                                    ContextRow.name == name)).first()


def attribute(session: Session, context_ids: Iterable[int], artifact_ids: Iterable[int], *,
              new: bool = False) -> None:
    """Attribute artifacts to contexts, skipping existing pairs (none when ``new``)."""
    _link(session, AttributionRow, AttributionRow.artifact_id, "artifact_id",
          context_ids, artifact_ids, new)


def associate(session: Session, context_ids: Iterable[int], execution_ids: Iterable[int], *,
              new: bool = False) -> None:
    """Associate executions with contexts, skipping existing pairs (none when ``new``)."""
    _link(session, AssociationRow, AssociationRow.execution_id, "execution_id",
          context_ids, execution_ids, new)


def _link(session, row_class, member_column, member_name, context_ids, member_ids,
          new) -> None:
    context_ids, member_ids = set(context_ids), set(member_ids)
    if not context_ids or not member_ids:
        return
    existing = set() if new else set(session.execute(
        select(row_class.context_id, member_column)
        .where(row_class.context_id.in_(context_ids), member_column.in_(member_ids))).tuples())
    for context_id in sorted(context_ids):
        for member_id in sorted(member_ids):
            if (context_id, member_id) not in existing:
                session.add(row_class(context_id=context_id, **{member_name: member_id}))


def _create_one(session: Session, type: str, name: str) -> ContextRow:
    row = ContextRow(type=type, name=name, properties={}, create_time=time.time())
    session.add(row)
    session.flush()
    return row


class ContextQueries:
    """Context methods of :class:`SqlMetadataStore`."""

    _db: Database

    def put_context(self, type: str, name: str, properties: Mapping[str, Any] | None = None
                    ) -> ContextRecord:
        """Get or create the context ``(type, name)``; properties are merged in."""
        properties = dict(properties or {})

        def work(session: Session) -> ContextRecord:
            row = _find(session, type, name)
            if row is None:
                try:
                    with session.begin_nested():  # a concurrent writer may create it too
                        row = ContextRow(type=type, name=name, properties=properties,
                                         create_time=time.time())
                        session.add(row)
                    return to_context(row)
                except IntegrityError:
                    row = _find(session, type, name)
            if properties and any(row.properties.get(k) != v for k, v in properties.items()):
                row.properties = {**row.properties, **properties}
                session.flush()
            return to_context(row)

        return self._db.write(work)

    def put_contexts(self, type: str, names: Iterable[str]) -> dict[str, ContextRecord]:
        """Get or create the contexts ``(type, name)`` for every name in ONE transaction
        (one query for those that exist, one insert for the rest); by name."""
        wanted = sorted(set(names))
        if not wanted:
            return {}

        def work(session: Session) -> dict[str, ContextRecord]:
            query = select(ContextRow).where(ContextRow.type == type,
                                             ContextRow.name.in_(wanted))
            found = {row.name: row for row in session.scalars(query)}
            missing = [name for name in wanted if name not in found]
            if missing:
                try:
                    with session.begin_nested():  # a concurrent writer may create some too
                        now = time.time()
                        rows = [ContextRow(type=type, name=name, properties={},
                                           create_time=now) for name in missing]
                        session.add_all(rows)
                    found.update((row.name, row) for row in rows)
                except IntegrityError:
                    found = {row.name: row for row in session.scalars(query)}
                    for name in wanted:  # still missing ones were not the conflict: create
                        if name not in found:
                            found[name] = _create_one(session, type, name)
            return {name: to_context(row) for name, row in found.items()}

        return self._db.write(work)

    def get_context(self, type: str, name: str) -> ContextRecord | None:
        """Return the context ``(type, name)`` or ``None``."""

        def work(session: Session) -> ContextRecord | None:
            row = _find(session, type, name)
            return None if row is None else to_context(row)

        return self._db.read(work)

    def list_contexts(self, type: str) -> list[ContextRecord]:
        """All contexts of one type, newest first."""
        query = select(ContextRow).where(ContextRow.type == type).order_by(ContextRow.id.desc())
        return self._db.read(lambda s: [to_context(r) for r in s.scalars(query)])
