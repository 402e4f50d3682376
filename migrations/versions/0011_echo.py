"""Echo Brain: conversations and their messages (with the sources each answer used), and the
memory index's bookkeeping (one row per embedded project row, so an unchanged row is not
re-embedded and a deleted row's point is removed).

Revision ID: 0011
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""
TABLES = ("echo_conversations", "echo_messages", "memory_points")


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE echo_conversations (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        title text NOT NULL DEFAULT '',
        user_name text,
        {TIMESTAMPS}
    );
    CREATE INDEX echo_conversations_project_idx ON echo_conversations (project_id, updated_at DESC, id);
    CREATE TABLE echo_messages (
        id bigserial PRIMARY KEY,
        conversation_id bigint NOT NULL REFERENCES echo_conversations(id) ON DELETE CASCADE,
        role text NOT NULL CHECK (role IN ('user', 'assistant')),
        content text NOT NULL,
        sources jsonb NOT NULL DEFAULT '[]',
        model text,
        {TIMESTAMPS}
    );
    CREATE INDEX echo_messages_conversation_idx ON echo_messages (conversation_id, id);
    -- one row per project row held in the vector store: kind + row_id name the row, hash is the
    -- sha256 of the embedded text and the embedder, so only changed rows are embedded again
    CREATE TABLE memory_points (
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('storyline', 'world', 'character', 'scene', 'shot', 'review', 'note')),
        row_id bigint NOT NULL,
        hash text NOT NULL,
        {TIMESTAMPS},
        PRIMARY KEY (project_id, kind, row_id)
    );
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS memory_points; DROP TABLE IF EXISTS echo_messages; "
               "DROP TABLE IF EXISTS echo_conversations;")
