"""Ingestion: one row per batch of images brought into a character's dataset (an upload, a zip,
a video file or a video URL), with its progress and counts; images remember the ingestion that
added them (so a rerun after a crash knows what it already did).

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE ingestions (
        id bigserial PRIMARY KEY,
        character_id bigint NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('upload', 'zip', 'video', 'url')),
        source text NOT NULL DEFAULT '',  -- the original file name or the URL, for display only
        work_dir text,  -- staging folder under ANIME_STUDIO_HOME (relative), removed when finished
        status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        progress real NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
        step text NOT NULL DEFAULT '',
        frames_found integer NOT NULL DEFAULT 0,
        images_added integer NOT NULL DEFAULT 0,
        duplicates_dropped integer NOT NULL DEFAULT 0,
        too_small_dropped integer NOT NULL DEFAULT 0,
        files_skipped integer NOT NULL DEFAULT 0,  -- zip members that are not images
        error text,
        error_code text,
        voice_sample text,  -- datasets/<project>/<character>/voice/<name>.wav (relative to the home)
        started_at timestamptz,
        finished_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ingestions_character_idx ON ingestions (character_id, id DESC);
    CREATE INDEX ingestions_active_idx ON ingestions (status) WHERE status IN ('queued', 'running');
    CREATE TRIGGER ingestions_updated_at BEFORE UPDATE ON ingestions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
    ALTER TABLE images ADD COLUMN ingestion_id bigint REFERENCES ingestions(id) ON DELETE SET NULL;
    CREATE INDEX images_ingestion_idx ON images (ingestion_id) WHERE ingestion_id IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE images DROP COLUMN ingestion_id")
    op.execute("DROP TABLE ingestions CASCADE")
