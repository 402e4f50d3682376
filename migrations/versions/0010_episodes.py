"""Episodes: episodes and episode_scenes (one row per position).

Revision ID: 0010
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE episodes (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        number integer NOT NULL CHECK (number >= 1 AND number <= 9999),
        title text NOT NULL,
        description text NOT NULL DEFAULT '',
        story_arc text NOT NULL DEFAULT '',
        status text NOT NULL DEFAULT 'draft'
            CHECK (status IN ('draft', 'assembling', 'assembled', 'publishing', 'published', 'failed')),
        progress double precision NOT NULL DEFAULT 0,
        step text NOT NULL DEFAULT '',
        error text,
        fade_s double precision NOT NULL DEFAULT 0 CHECK (fade_s >= 0 AND fade_s <= 2),
        output_path text,
        thumbnail_path text,
        duration_s double precision,
        link_mode text CHECK (link_mode IN ('copy', 'hardlink', 'symlink')),
        published_path text,
        published_files jsonb NOT NULL DEFAULT '[]',
        published_at timestamptz,
        {TIMESTAMPS},
        CONSTRAINT episodes_number_unique UNIQUE (project_id, number)
    );
    CREATE TABLE episode_scenes (
        id bigserial PRIMARY KEY,
        episode_id bigint NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
        scene_id bigint NOT NULL REFERENCES scenes(id) ON DELETE CASCADE,
        position integer NOT NULL CHECK (position >= 1),
        {TIMESTAMPS},
        CONSTRAINT episode_scenes_position_unique UNIQUE (episode_id, position) DEFERRABLE INITIALLY DEFERRED,
        CONSTRAINT episode_scenes_scene_unique UNIQUE (episode_id, scene_id)
    );
    CREATE INDEX episode_scenes_scene_idx ON episode_scenes (scene_id);
    """)
    for table in ("episodes", "episode_scenes"):
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS episode_scenes; DROP TABLE IF EXISTS episodes;")
