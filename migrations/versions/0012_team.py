"""Creative team: team sessions (target, phase, round, plan, pending question, role models), their
messages, and each project's role models.

Revision ID: 0012
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE team_sessions (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        target jsonb NOT NULL,
        brief text NOT NULL DEFAULT '',
        max_rounds integer NOT NULL DEFAULT 3 CHECK (max_rounds BETWEEN 1 AND 10),
        status text NOT NULL DEFAULT 'running'
            CHECK (status IN ('running', 'waiting_user', 'planned', 'approved', 'cancelled', 'failed')),
        phase text NOT NULL DEFAULT 'ideation' CHECK (phase IN ('ideation', 'refinement', 'synthesis', 'review')),
        round integer NOT NULL DEFAULT 1 CHECK (round >= 1),
        plan_params jsonb,
        question jsonb,
        models jsonb NOT NULL,
        error text,
        result jsonb,
        {TIMESTAMPS}
    );
    CREATE INDEX team_sessions_project_idx ON team_sessions (project_id, id DESC);
    CREATE TABLE team_messages (
        id bigserial PRIMARY KEY,
        session_id bigint NOT NULL REFERENCES team_sessions(id) ON DELETE CASCADE,
        speaker text NOT NULL CHECK (speaker IN ('luna', 'frame', 'saga', 'pixel', 'lens', 'user', 'system')),
        phase text NOT NULL,
        round integer NOT NULL,
        content text NOT NULL,
        structured jsonb,
        {TIMESTAMPS}
    );
    CREATE INDEX team_messages_session_idx ON team_messages (session_id, id);
    CREATE TABLE team_models (
        project_id bigint PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
        models jsonb NOT NULL,
        {TIMESTAMPS}
    );
    """)
    for table in ("team_sessions", "team_messages", "team_models"):
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS team_models; DROP TABLE IF EXISTS team_messages; "
               "DROP TABLE IF EXISTS team_sessions;")
