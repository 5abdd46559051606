"""Alembic environment of the Gristmill metadata store.

Configured programmatically by :mod:`gristmill.metadata.sql.migrate` (no alembic.ini): the
caller passes an open connection in ``config.attributes["connection"]``, or a URL as the
``sqlalchemy.url`` option. Migrations describe tables with ``op`` calls and never import the
live ORM models, so ``target_metadata`` is None.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

# Any fixed 64-bit number: serialises concurrent upgrades of one PostgreSQL database.
_PG_UPGRADE_LOCK = 0x67726973746D696C  # "gristmil"


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_UPGRADE_LOCK})
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit the migration SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=None, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a new one to the configured URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
            new_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
