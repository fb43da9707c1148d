"""Alembic environment: runs against the engine handed over by toolkit.service.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from toolkit.service.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run the migrations in one transaction on the engine from ``db.migrate`` (else ``sqlalchemy.url``)."""
    engine = config.attributes.get("engine")
    if engine is None:  # run from the alembic CLI with sqlalchemy.url set in alembic.ini
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
