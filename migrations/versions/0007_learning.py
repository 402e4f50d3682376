"""Learning and auto-correction: corrections (one per rejected generated image, with the strategy
chosen, the parameters before and after and the outcome), the studio's auto-correction switch, and
per character the quality-drift alert's last state (so `quality.drift` is emitted once per crossing).

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""
TABLES = ["corrections", "learning_state"]


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE corrections (
        id bigserial PRIMARY KEY,
        image_id bigint NOT NULL UNIQUE REFERENCES images(id) ON DELETE CASCADE,  -- the rejected image
        character_id bigint NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
        strategy text NOT NULL CHECK (strategy IN ('fix_quality', 'fix_resolution', 'fix_blur', 'fix_brightness',
                                                   'fix_contrast', 'fix_appearance', 'fix_solo')),
        reason text,
        params_before jsonb NOT NULL,
        params_after jsonb NOT NULL,
        generation_id bigint REFERENCES generations(id) ON DELETE SET NULL,  -- the corrected regeneration
        outcome text NOT NULL DEFAULT 'queued' CHECK (outcome IN ('queued', 'approved', 'rejected', 'failed')),
        {TIMESTAMPS}
    );
    CREATE INDEX corrections_character_idx ON corrections (character_id, id DESC);
    CREATE INDEX corrections_generation_idx ON corrections (generation_id) WHERE generation_id IS NOT NULL;
    -- a correction's regeneration carries params.correction_of (the rejected image): a retried
    -- correction job finds the generation it already created instead of queuing a second one
    CREATE INDEX generations_correction_idx ON generations (((params ->> 'correction_of')::bigint))
        WHERE params ? 'correction_of';
    ALTER TABLE replenishment_settings ADD COLUMN auto_correction boolean NOT NULL DEFAULT false,
        ADD COLUMN auto_correction_since timestamptz;  -- when it was last switched on: older rejections are not corrected
    CREATE TABLE learning_state (
        character_id bigint PRIMARY KEY REFERENCES characters(id) ON DELETE CASCADE,
        drift_alert boolean NOT NULL DEFAULT false,  -- the alert as last checked
        rolling_rate double precision,
        baseline_rate double precision,
        alerted_at timestamptz,  -- when the alert last turned on
        {TIMESTAMPS}
    );
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("ALTER TABLE replenishment_settings DROP COLUMN auto_correction, DROP COLUMN auto_correction_since")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table} CASCADE")
