"""The SQLAlchemy 2 metadata store for SQLite and PostgreSQL.

:class:`SqlMetadataStore` is assembled from one class per concern (contexts, executions,
publishing, artifacts, lineage); all of them share one :class:`~.session.Database`, whose
managed session commits or rolls back and turns driver errors into ``StoreError``.
"""

from __future__ import annotations

from gristmill.metadata.settings import redact_url, resolve_metadata_url
from gristmill.metadata.sql.artifacts import ArtifactQueries
from gristmill.metadata.sql.contexts import ContextQueries
from gristmill.metadata.sql.executions import ExecutionQueries
from gristmill.metadata.sql.lineage import LineageQueries
from gristmill.metadata.sql.migrate import ensure_schema
from gristmill.metadata.sql.publish import PublishQueries
from gristmill.metadata.sql.session import Database, create_store_engine
from gristmill.metadata.store import MetadataStore


class SqlMetadataStore(ContextQueries, ExecutionQueries, PublishQueries, ArtifactQueries,
                       LineageQueries, MetadataStore):
    """The metadata store on a SQLAlchemy database.

    Args:
        url: ``None`` (SQLite at ``$GRISTMILL_HOME/metadata.db``), a filesystem path, an
            ``sqlite:///`` URL or a ``postgresql://`` URL (psycopg 3).

    Raises:
        SchemaVersionError: The database is at another schema revision; the message names
            the ``gristmill db upgrade`` command. An empty database gets the schema.
    """

    def __init__(self, url: str | None = None):
        resolved = resolve_metadata_url(url)
        engine = create_store_engine(resolved)
        try:
            ensure_schema(engine, resolved)
        except BaseException:
            engine.dispose()
            raise
        self._db = Database(engine, resolved)

    @property
    def url(self) -> str:
        """The database URL with its password hidden."""
        return self._db.redacted_url

    def close(self) -> None:
        """Release connections."""
        self._db.close()

    def __repr__(self) -> str:
        return f"SqlMetadataStore({redact_url(self._db.url)!r})"
