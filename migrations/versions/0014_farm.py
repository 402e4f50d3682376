"""GPU farm: pilots (a scene's first K shots rendered by 2-3 strategies, scored, one continued)
and their strategies; the strategy a scene continues with; a shot's hero pass (its final
re-render on a `hero` backend). The backend role a generation asks for is in its params (`role`).

Revision ID: 0014
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""


def upgrade() -> None:
    op.execute(f"""
    ALTER TABLE scenes
        ADD COLUMN engine text CHECK (engine IN ('framepack', 'ltx', 'animatic')),  -- NULL: the settings' chain
        ADD COLUMN steps integer CHECK (steps BETWEEN 1 AND 150);                  -- NULL: the style's
    ALTER TABLE shots
        ADD COLUMN hero_status text NOT NULL DEFAULT 'none'
            CHECK (hero_status IN ('none', 'queued', 'rendering', 'done', 'failed')),
        ADD COLUMN hero_generation_id bigint REFERENCES generations(id) ON DELETE SET NULL,
        ADD COLUMN hero_output_id bigint REFERENCES outputs(id) ON DELETE SET NULL,
        ADD COLUMN hero_error text;
    CREATE TABLE pilots (
        id bigserial PRIMARY KEY,
        scene_id bigint NOT NULL REFERENCES scenes(id) ON DELETE CASCADE,
        status text NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'running', 'decided', 'failed', 'cancelled')),
        k_shots integer NOT NULL CHECK (k_shots BETWEEN 1 AND 10),
        budget_s double precision CHECK (budget_s > 0),  -- GPU-seconds for the whole pilot; NULL: no limit
        winner_id bigint,
        decided_by text CHECK (decided_by IN ('critic', 'user')),
        critic_notes text NOT NULL DEFAULT '',
        continue_scene boolean NOT NULL DEFAULT true,  -- start the scene with the winner once decided
        step text NOT NULL DEFAULT '',
        error text,
        {TIMESTAMPS}
    );
    CREATE INDEX pilots_scene_idx ON pilots (scene_id, id DESC);
    CREATE UNIQUE INDEX pilots_one_active ON pilots (scene_id) WHERE status IN ('queued', 'running');
    CREATE TABLE pilot_strategies (
        id bigserial PRIMARY KEY,
        pilot_id bigint NOT NULL REFERENCES pilots(id) ON DELETE CASCADE,
        position integer NOT NULL CHECK (position >= 1),
        label text NOT NULL,
        engine text NOT NULL CHECK (engine IN ('framepack', 'ltx', 'animatic')),
        steps integer CHECK (steps BETWEEN 1 AND 150),
        budget_s double precision CHECK (budget_s >= 0),  -- its slice; the winner gets what the others left
        spent_s double precision NOT NULL DEFAULT 0,
        status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'continued', 'cancelled')),
        shots jsonb NOT NULL DEFAULT '[]',  -- one record per pilot shot rendered (see pilots_run.py)
        qa_average double precision,
        pass_rate double precision,
        cost_per_passed_s double precision,
        note text NOT NULL DEFAULT '',
        {TIMESTAMPS},
        UNIQUE (pilot_id, position)
    );
    ALTER TABLE pilots ADD CONSTRAINT pilots_winner_fk
        FOREIGN KEY (winner_id) REFERENCES pilot_strategies(id) ON DELETE SET NULL;
    """)
    for table in ("pilots", "pilot_strategies"):
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("""
    ALTER TABLE pilots DROP CONSTRAINT IF EXISTS pilots_winner_fk;
    DROP TABLE IF EXISTS pilot_strategies; DROP TABLE IF EXISTS pilots;
    ALTER TABLE shots DROP COLUMN IF EXISTS hero_error, DROP COLUMN IF EXISTS hero_output_id,
        DROP COLUMN IF EXISTS hero_generation_id, DROP COLUMN IF EXISTS hero_status;
    ALTER TABLE scenes DROP COLUMN IF EXISTS steps, DROP COLUMN IF EXISTS engine;
    """)
