"""Alembic environment. DDL lives only in versions/; SQLAlchemy is used here as the engine only."""

from alembic import context
from sqlalchemy import create_engine, pool


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
