"""Foundation: users, tokens, events, styles, projects, storylines, world settings, characters.

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""
SLUG_CHECK = "CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$')"
TABLES = ["users", "api_tokens", "generation_styles", "projects", "storylines",
          "world_settings", "characters", "reference_images"]


def upgrade() -> None:
    op.execute("""
    CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
    """)
    op.execute(f"""
    CREATE TABLE users (
        id bigserial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        role text NOT NULL CHECK (role IN ('admin', 'director', 'reviewer', 'viewer')),
        {TIMESTAMPS}
    );
    CREATE TABLE api_tokens (
        id bigserial PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        prefix text NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz,
        {TIMESTAMPS}
    );
    CREATE TABLE events (
        id bigserial PRIMARY KEY,
        type text NOT NULL,
        project_id bigint,
        payload jsonb NOT NULL DEFAULT '{{}}',
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX events_project_id_idx ON events (project_id, id);
    CREATE TABLE generation_styles (
        id bigserial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        checkpoint text NOT NULL,
        cfg double precision NOT NULL,
        steps integer NOT NULL,
        sampler text NOT NULL,
        scheduler text NOT NULL,
        width integer NOT NULL,
        height integer NOT NULL,
        positive_template text NOT NULL DEFAULT '{{prompt}}',
        negative_template text NOT NULL DEFAULT '',
        architecture text NOT NULL,
        {TIMESTAMPS}
    );
    CREATE TABLE projects (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        slug text NOT NULL UNIQUE {SLUG_CHECK},
        description text NOT NULL DEFAULT '',
        genre text NOT NULL DEFAULT '',
        premise text NOT NULL DEFAULT '',
        content_rating text NOT NULL DEFAULT 'teen',
        status text NOT NULL DEFAULT 'development',
        status_before_archive text,
        default_style_id bigint REFERENCES generation_styles(id) ON DELETE RESTRICT,
        {TIMESTAMPS}
    );
    CREATE INDEX projects_name_idx ON projects (lower(name), id);
    CREATE TABLE storylines (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        title text NOT NULL,
        summary text NOT NULL DEFAULT '',
        theme text NOT NULL DEFAULT '',
        tone text NOT NULL DEFAULT '',
        target_audience text NOT NULL DEFAULT '',
        arcs jsonb NOT NULL DEFAULT '[]',
        {TIMESTAMPS}
    );
    CREATE INDEX storylines_project_idx ON storylines (project_id, id);
    CREATE TABLE world_settings (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
        setting text NOT NULL DEFAULT '',
        art_direction text NOT NULL DEFAULT '',
        cinematography text NOT NULL DEFAULT '',
        palettes jsonb NOT NULL DEFAULT '[]',
        negative_guidance text NOT NULL DEFAULT '',
        {TIMESTAMPS}
    );
    CREATE TABLE characters (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name text NOT NULL,
        slug text NOT NULL {SLUG_CHECK},
        design_prompt text NOT NULL DEFAULT '',
        appearance_data jsonb NOT NULL DEFAULT '{{}}',
        lora_id bigint,
        voice text,
        archived boolean NOT NULL DEFAULT false,
        {TIMESTAMPS},
        UNIQUE (project_id, slug)
    );
    CREATE INDEX characters_project_name_idx ON characters (project_id, archived, lower(name), id);
    CREATE TABLE reference_images (
        id bigserial PRIMARY KEY,
        character_id bigint NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
        filename text NOT NULL UNIQUE,
        original_name text NOT NULL DEFAULT '',
        content_type text NOT NULL,
        sha256 text NOT NULL,
        width integer NOT NULL,
        height integer NOT NULL,
        bytes integer NOT NULL,
        {TIMESTAMPS},
        UNIQUE (character_id, sha256)
    );
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table} CASCADE")
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION set_updated_at()")
