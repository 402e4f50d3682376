"""Replenishment: the loop that tops up a character's approved dataset. One settings row for the
whole studio (off by default; every guard configurable) and one state row per character (target,
today's count, consecutive rejects, last run), so every guard is enforced in the database.

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""
TABLES = ["replenishment_settings", "replenishment_state"]


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE replenishment_settings (
        id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),  -- one row
        enabled boolean NOT NULL DEFAULT false,
        default_target integer NOT NULL DEFAULT 40 CHECK (default_target BETWEEN 0 AND 100000),
        cooldown_s integer NOT NULL DEFAULT 60 CHECK (cooldown_s >= 0),
        daily_limit integer NOT NULL DEFAULT 10 CHECK (daily_limit >= 0),
        max_consecutive_rejects integer NOT NULL DEFAULT 5 CHECK (max_consecutive_rejects >= 1),
        pending_buffer integer NOT NULL DEFAULT 3 CHECK (pending_buffer >= 1),
        max_concurrent integer NOT NULL DEFAULT 2 CHECK (max_concurrent >= 1),
        batch_size integer NOT NULL DEFAULT 3 CHECK (batch_size BETWEEN 1 AND 16),
        {TIMESTAMPS}
    );
    INSERT INTO replenishment_settings DEFAULT VALUES;
    CREATE TABLE replenishment_state (
        character_id bigint PRIMARY KEY REFERENCES characters(id) ON DELETE CASCADE,
        target integer CHECK (target BETWEEN 0 AND 100000),  -- NULL: the settings' default_target
        day date NOT NULL DEFAULT current_date,  -- the day daily_count counts
        daily_count integer NOT NULL DEFAULT 0,
        consecutive_rejects integer NOT NULL DEFAULT 0,
        last_run_at timestamptz,
        stopped_reason text,
        {TIMESTAMPS}
    );
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table} CASCADE")
