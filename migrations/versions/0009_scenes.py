"""Scene Builder: scenes and their shots (ordered by position), with the state of each shot's
progressive, quality-gated generation kept on its row so a restarted job resumes where it was.

Revision ID: 0009
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE scenes (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        storyline_id bigint REFERENCES storylines(id) ON DELETE SET NULL,
        position integer NOT NULL,
        title text NOT NULL,
        description text NOT NULL DEFAULT '',
        location text NOT NULL DEFAULT '',
        time_of_day text NOT NULL DEFAULT '',
        weather text NOT NULL DEFAULT '',
        mood text NOT NULL DEFAULT '',
        target_duration_s double precision CHECK (target_duration_s > 0),
        music_mode text NOT NULL DEFAULT 'mood' CHECK (music_mode IN ('mood', 'none')),
        music_path text,
        dialogue_path text,
        accept_animatics boolean NOT NULL DEFAULT false,
        status text NOT NULL DEFAULT 'draft'
            CHECK (status IN ('draft', 'queued', 'generating', 'assembling', 'done', 'failed', 'cancelled')),
        progress double precision NOT NULL DEFAULT 0,
        step text NOT NULL DEFAULT '',
        error text,
        output_path text,
        duration_s double precision,
        {TIMESTAMPS}
    );
    CREATE INDEX scenes_project_idx ON scenes (project_id, position, id);
    CREATE TABLE shots (
        id bigserial PRIMARY KEY,
        scene_id bigint NOT NULL REFERENCES scenes(id) ON DELETE CASCADE,
        position integer NOT NULL CHECK (position >= 1),
        shot_type text NOT NULL DEFAULT 'medium'
            CHECK (shot_type IN ('establishing', 'wide', 'medium', 'close-up', 'extreme-close-up', 'action')),
        camera_angle text NOT NULL DEFAULT '',
        duration_s double precision NOT NULL DEFAULT 3 CHECK (duration_s > 0 AND duration_s <= 20),
        prompt text NOT NULL DEFAULT '',
        negative_prompt text NOT NULL DEFAULT '',
        motion_prompt text NOT NULL DEFAULT '',
        character_ids bigint[] NOT NULL DEFAULT '{{}}',
        source_output_id bigint REFERENCES outputs(id) ON DELETE SET NULL,
        dialogue_character_id bigint REFERENCES characters(id) ON DELETE SET NULL,
        dialogue_text text NOT NULL DEFAULT '',
        transition text NOT NULL DEFAULT 'dissolve' CHECK (transition IN ('dissolve', 'fade', 'wipe', 'cut')),
        transition_s double precision NOT NULL DEFAULT 0.3 CHECK (transition_s >= 0 AND transition_s <= 2),
        -- progressive generation state
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'generating', 'reviewing', 'done', 'failed')),
        image_generation_id bigint REFERENCES generations(id) ON DELETE SET NULL,
        start_output_id bigint REFERENCES outputs(id) ON DELETE SET NULL,
        generation_id bigint REFERENCES generations(id) ON DELETE SET NULL,
        attempt integer NOT NULL DEFAULT 0,
        attempts jsonb NOT NULL DEFAULT '[]',
        video_output_id bigint REFERENCES outputs(id) ON DELETE SET NULL,
        last_frame_output_id bigint REFERENCES outputs(id) ON DELETE SET NULL,
        engine text,
        seed bigint,
        steps integer,
        quality_score double precision,
        threshold double precision,
        gate_passed boolean,
        is_animatic boolean NOT NULL DEFAULT false,
        error text,
        {TIMESTAMPS},
        CONSTRAINT shots_position_unique UNIQUE (scene_id, position) DEFERRABLE INITIALLY DEFERRED
    );
    """)
    for table in ("scenes", "shots"):
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS shots; DROP TABLE IF EXISTS scenes;")
