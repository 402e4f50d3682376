"""Replenishment: the loop that tops up a character's approved dataset. One settings row for the
whole studio (off by default; every guard configurable) and one state row per character (target,
today's count, consecutive rejects, last run), so every guard is enforced in the database.

How replenishment's work is told apart:
- `replenishment_batches`: one row per batch decided, written in the same transaction as its
  generations, with what the decision saw (pending + in flight, batches in flight, today's count
  before it) so a guard can be audited afterwards. `created_at` is the clock time after the
  deciding transaction took the settings row lock, so batches are ordered as they were decided.
- `generations.replenishment_batch_id`: the batch a generation belongs to (NULL for any other
  generation); batches in flight are those with a generation still queued or running.
- `reference_images.automatic`: reference images replenishment copied from the character's best
  approved images (replaced before each batch); user uploads are false and never touched.
- `replenishment_state.rejects_after_review_id`: consecutive rejects are counted from `reviews`
  after this review id (resuming or changing the target moves it to the latest review).

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
TABLES = ["replenishment_settings", "replenishment_state", "replenishment_batches"]


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
        day date NOT NULL DEFAULT (now() AT TIME ZONE 'utc')::date,  -- the (UTC) day daily_count counts
        daily_count integer NOT NULL DEFAULT 0,
        consecutive_rejects integer NOT NULL DEFAULT 0,  -- as last counted by a check
        rejects_after_review_id bigint NOT NULL DEFAULT 0,
        last_run_at timestamptz,
        stopped_reason text CHECK (stopped_reason IN ('consecutive_rejects')),
        {TIMESTAMPS}
    );
    CREATE TABLE replenishment_batches (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        character_id bigint NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
        size integer NOT NULL CHECK (size >= 1),
        reason text NOT NULL,
        pending_before integer NOT NULL,  -- the character's pending images + generations in flight
        in_flight_before integer NOT NULL,  -- batches in flight studio-wide
        daily_before integer NOT NULL,  -- the character's replenishment images today, before this batch
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX replenishment_batches_character_idx ON replenishment_batches (character_id, id DESC);
    ALTER TABLE generations ADD COLUMN replenishment_batch_id bigint
        REFERENCES replenishment_batches(id) ON DELETE SET NULL;
    CREATE INDEX generations_replenishment_idx ON generations (replenishment_batch_id)
        WHERE replenishment_batch_id IS NOT NULL;
    ALTER TABLE reference_images ADD COLUMN automatic boolean NOT NULL DEFAULT false;
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("ALTER TABLE reference_images DROP COLUMN automatic")
    op.execute("ALTER TABLE generations DROP COLUMN replenishment_batch_id")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table} CASCADE")
