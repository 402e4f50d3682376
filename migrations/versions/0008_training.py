"""LoRA training: training runs (one per launch: the character, the base model, the parameters, the
status, progress, the loss series, samples and the child's last log lines) and loras (one per
exported file, with its trigger word). characters.lora_id (0001) becomes a foreign key to the
character's active LoRA.

Revision ID: 0008
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""
TABLES = ["training_runs", "loras"]


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE training_runs (
        id bigserial PRIMARY KEY,
        character_id bigint NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
        base_model text NOT NULL,  -- relative to the models folder it was found in (see service.base_models)
        params jsonb NOT NULL,
        status text NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        cancel_requested boolean NOT NULL DEFAULT false,
        step integer NOT NULL DEFAULT 0,
        total_steps integer NOT NULL DEFAULT 0,
        epoch integer NOT NULL DEFAULT 0,
        total_epochs integer NOT NULL DEFAULT 0,
        loss jsonb NOT NULL DEFAULT '[]',  -- [{{step, loss}}], one point per step
        samples jsonb NOT NULL DEFAULT '[]',  -- [{{step, file}}], files under output/training/<id>/samples
        eta_s double precision,
        peak_memory_mb double precision,
        output_path text,  -- the exported LoRA, relative to the home
        error text,
        log_tail jsonb NOT NULL DEFAULT '[]',  -- the child's last lines
        attempts integer NOT NULL DEFAULT 0,
        started_at timestamptz,
        finished_at timestamptz,
        {TIMESTAMPS}
    );
    CREATE INDEX training_runs_character_idx ON training_runs (character_id, id DESC);
    -- one queued or running run per character
    CREATE UNIQUE INDEX training_runs_one_active_idx ON training_runs (character_id)
        WHERE status IN ('queued', 'running');
    CREATE TABLE loras (
        id bigserial PRIMARY KEY,
        character_id bigint NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
        run_id bigint UNIQUE REFERENCES training_runs(id) ON DELETE SET NULL,
        name text NOT NULL,  -- the file name as ComfyUI's loras folder lists it
        path text NOT NULL,  -- relative to the home (output/loras/...)
        trigger text,
        architecture text NOT NULL CHECK (architecture IN ('sd15', 'sdxl')),
        rank integer NOT NULL,
        alpha double precision NOT NULL,
        {TIMESTAMPS}
    );
    CREATE INDEX loras_character_idx ON loras (character_id, id DESC);
    UPDATE characters SET lora_id = NULL WHERE lora_id IS NOT NULL;
    ALTER TABLE characters ADD CONSTRAINT characters_lora_fk FOREIGN KEY (lora_id) REFERENCES loras(id)
        ON DELETE SET NULL;
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("ALTER TABLE characters DROP CONSTRAINT characters_lora_fk")
    op.execute("DROP TABLE loras")
    op.execute("DROP TABLE training_runs")
