"""Approval: one review row per decision, the model's verdict on an image, and quality gates.

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""
TABLES = ["reviews", "quality_gates"]


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE reviews (
        id bigserial PRIMARY KEY,
        image_id bigint NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        reviewer text NOT NULL CHECK (reviewer IN ('human', 'model', 'metrics')),
        user_name text,
        decision text NOT NULL CHECK (decision IN ('approved', 'rejected', 'undone')),
        reason text,
        note text,
        scores jsonb,
        previous_status text NOT NULL CHECK (previous_status IN ('pending', 'approved', 'rejected')),
        undoes_id bigint REFERENCES reviews(id) ON DELETE CASCADE,  -- the decision an 'undone' row reverted
        {TIMESTAMPS}
    );
    CREATE INDEX reviews_image_idx ON reviews (image_id, id);
    CREATE UNIQUE INDEX reviews_undoes_idx ON reviews (undoes_id) WHERE undoes_id IS NOT NULL;
    CREATE TABLE quality_gates (
        name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{{0,62}}$'),
        threshold double precision NOT NULL CHECK (threshold >= 0 AND threshold <= 1),
        description text NOT NULL DEFAULT '',
        {TIMESTAMPS}
    );
    INSERT INTO quality_gates (name, threshold, description) VALUES
        ('auto_approve', 0.8, 'Images scoring at least this may be approved without a person'),
        ('auto_reject', 0.4, 'Images scoring below this may be rejected without a person'),
        ('scene_shot_minimum', 0.4, 'The lowest score a scene shot may have to be kept');
    ALTER TABLE images ADD COLUMN model_verdict text CHECK (model_verdict IN ('approve', 'reject'));
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("ALTER TABLE images DROP COLUMN model_verdict")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table} CASCADE")
