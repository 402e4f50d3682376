"""Generation engine: ComfyUI backends, generations, their output files, and dataset images.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""
TABLES = ["backends", "generations", "outputs", "images"]


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE backends (
        id bigserial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        url text NOT NULL UNIQUE,
        roles text[] NOT NULL DEFAULT '{{worker}}' CHECK (roles <@ ARRAY['keyframe', 'worker', 'hero']::text[]),
        enabled boolean NOT NULL DEFAULT true,
        max_in_flight integer NOT NULL DEFAULT 1 CHECK (max_in_flight BETWEEN 1 AND 64),
        health text NOT NULL DEFAULT 'unknown' CHECK (health IN ('unknown', 'ok', 'unreachable')),
        last_seen timestamptz,
        last_error text,
        capabilities jsonb NOT NULL DEFAULT '{{}}',
        vram_total bigint,
        vram_free bigint,
        queue_remaining integer NOT NULL DEFAULT 0,
        {TIMESTAMPS}
    );
    CREATE TABLE generations (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        character_id bigint REFERENCES characters(id) ON DELETE SET NULL,
        kind text NOT NULL CHECK (kind IN ('image', 'video')),
        engine text NOT NULL,
        params jsonb NOT NULL,
        workflow jsonb,
        backend_id bigint REFERENCES backends(id) ON DELETE SET NULL,
        comfy_prompt_id uuid,
        comfy_client_id text,
        holds_slot boolean NOT NULL DEFAULT false,  -- its prompt is on the backend now (counts to max_in_flight)
        status text NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        progress real NOT NULL DEFAULT 0,
        step text NOT NULL DEFAULT '',
        attempts integer NOT NULL DEFAULT 0,
        error text,
        error_code text,
        outputs jsonb NOT NULL DEFAULT '[]',
        gpu_seconds real,
        started_at timestamptz,
        finished_at timestamptz,
        {TIMESTAMPS}
    );
    CREATE INDEX generations_project_idx ON generations (project_id, id DESC);
    CREATE INDEX generations_slot_idx ON generations (backend_id) WHERE holds_slot;
    CREATE INDEX generations_active_idx ON generations (status) WHERE status IN ('queued', 'running');
    CREATE TABLE outputs (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        character_id bigint REFERENCES characters(id) ON DELETE SET NULL,
        generation_id bigint REFERENCES generations(id) ON DELETE SET NULL,
        kind text NOT NULL CHECK (kind IN ('image', 'video')),
        path text NOT NULL UNIQUE,
        thumbnail text,
        width integer NOT NULL,
        height integer NOT NULL,
        duration_s real,
        bytes bigint NOT NULL,
        sha256 text NOT NULL,
        {TIMESTAMPS}
    );
    CREATE INDEX outputs_gallery_idx ON outputs (project_id, created_at DESC, id DESC);
    CREATE INDEX outputs_character_idx ON outputs (character_id, created_at DESC, id DESC);
    CREATE TABLE images (
        id bigserial PRIMARY KEY,
        character_id bigint NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
        output_id bigint REFERENCES outputs(id) ON DELETE SET NULL,
        generation_id bigint REFERENCES generations(id) ON DELETE SET NULL,
        path text NOT NULL UNIQUE,
        thumbnail text,
        sha256 text NOT NULL,
        phash text,
        width integer NOT NULL,
        height integer NOT NULL,
        source text NOT NULL CHECK (source IN ('upload', 'video', 'url', 'generated')),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
        caption text,
        scores jsonb,
        reasons text[] NOT NULL DEFAULT '{{}}',
        {TIMESTAMPS},
        UNIQUE (character_id, sha256)
    );
    CREATE INDEX images_character_status_idx ON images (character_id, status, id);
    CREATE INDEX images_output_idx ON images (output_id);
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table} CASCADE")
