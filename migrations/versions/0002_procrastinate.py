"""Job queue: procrastinate's schema, from the pinned procrastinate version.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from procrastinate.schema import SchemaManager

    # The raw DB-API cursor with no parameters: the schema's plpgsql bodies hold '%' and ':'
    # that must reach the server untouched. Same connection, so same migration transaction.
    with op.get_bind().connection.dbapi_connection.cursor() as cursor:
        cursor.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, "
               "procrastinate_jobs, procrastinate_workers CASCADE")
    op.execute("DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type CASCADE")
