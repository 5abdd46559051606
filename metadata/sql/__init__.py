"""The SQLAlchemy 2 metadata store (SQLite and PostgreSQL) and its schema migrations."""

from gristmill.metadata.sql.store import SqlMetadataStore

__all__ = ["SqlMetadataStore"]
