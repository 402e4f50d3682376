"""Production control: costs (per-backend rate, cost of each generation and training run), budgets
per project and episode, outbound webhooks and their delivery log.

A generation's cost is set by a trigger when its GPU-seconds are recorded (gpu_seconds x the rate of
the backend that ran it, 0 on own hardware), so every path that records GPU-seconds prices them the
same way; a training run's GPU-seconds are its trainer's wall time (started -> finished).

Revision ID: 0013
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TIMESTAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
"""


def upgrade() -> None:
    op.execute(f"""
    ALTER TABLE backends ADD COLUMN rate_per_s numeric(12, 6) NOT NULL DEFAULT 0 CHECK (rate_per_s >= 0);
    ALTER TABLE generations
        ADD COLUMN cost numeric(14, 6),
        -- what the budget check admitted it at (reserved until the real figures are recorded)
        ADD COLUMN estimated_gpu_seconds real,
        ADD COLUMN estimated_cost numeric(14, 6);
    CREATE INDEX generations_scene_idx ON generations (((params->>'scene_id')::bigint))
        WHERE params ? 'scene_id';
    ALTER TABLE training_runs ADD COLUMN gpu_seconds real, ADD COLUMN cost numeric(14, 6);

    CREATE FUNCTION generation_cost() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.gpu_seconds IS NULL THEN
            NEW.cost := NULL;
        ELSIF TG_OP = 'INSERT' OR NEW.gpu_seconds IS DISTINCT FROM OLD.gpu_seconds OR NEW.cost IS NULL THEN
            NEW.cost := round(NEW.gpu_seconds::numeric
                              * coalesce((SELECT rate_per_s FROM backends WHERE id = NEW.backend_id), 0), 6);
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER generations_cost BEFORE INSERT OR UPDATE OF gpu_seconds, backend_id, cost ON generations
        FOR EACH ROW EXECUTE FUNCTION generation_cost();

    CREATE FUNCTION training_run_seconds() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.gpu_seconds IS NULL AND NEW.started_at IS NOT NULL AND NEW.finished_at IS NOT NULL THEN
            NEW.gpu_seconds := greatest(extract(epoch FROM NEW.finished_at - NEW.started_at), 0);
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER training_runs_seconds BEFORE INSERT OR UPDATE ON training_runs
        FOR EACH ROW EXECUTE FUNCTION training_run_seconds();

    CREATE TABLE budgets (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        episode_id bigint,  -- episodes(id): the foreign key is added below
        unit text NOT NULL CHECK (unit IN ('gpu_seconds', 'money')),
        "limit" numeric(16, 6) NOT NULL CHECK ("limit" > 0),
        warn_at real NOT NULL DEFAULT 0.8 CHECK (warn_at > 0 AND warn_at <= 1),
        warned boolean NOT NULL DEFAULT false,  -- budget.warning sent (reset when the limit changes)
        {TIMESTAMPS},
        CONSTRAINT budgets_scope_unique UNIQUE NULLS NOT DISTINCT (project_id, episode_id)
    );

    CREATE TABLE webhooks (
        id bigserial PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        url text NOT NULL CHECK (url ~ '^https?://'),
        secret text NOT NULL,  -- kept to sign deliveries; returned once at creation, masked after
        event_types text[] NOT NULL CHECK (cardinality(event_types) > 0),
        enabled boolean NOT NULL DEFAULT true,
        description text NOT NULL DEFAULT '',
        {TIMESTAMPS}
    );
    CREATE INDEX webhooks_project_idx ON webhooks (project_id) WHERE enabled;

    CREATE TABLE webhook_deliveries (
        id bigserial PRIMARY KEY,
        webhook_id bigint NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event_id bigint NOT NULL,  -- events.id (events are pruned; the log keeps its type)
        event_type text NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        response_code integer,
        error text,
        next_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        {TIMESTAMPS},
        CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, event_id)
    );
    CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, id DESC);
    CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_at) WHERE status = 'pending';
    """)
    op.execute("""
    ALTER TABLE budgets ADD CONSTRAINT budgets_episode_fk FOREIGN KEY (episode_id) REFERENCES episodes(id)
        ON DELETE CASCADE;
    -- a scene stopped by its budget at the last finished shot
    ALTER TABLE scenes DROP CONSTRAINT scenes_status_check;
    ALTER TABLE scenes ADD CONSTRAINT scenes_status_check CHECK (status IN
        ('draft', 'queued', 'generating', 'assembling', 'done', 'failed', 'cancelled', 'partial'));
    """)
    for table in ("budgets", "webhooks", "webhook_deliveries"):
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("""
    UPDATE scenes SET status = 'failed' WHERE status = 'partial';
    ALTER TABLE scenes DROP CONSTRAINT scenes_status_check;
    ALTER TABLE scenes ADD CONSTRAINT scenes_status_check CHECK (status IN
        ('draft', 'queued', 'generating', 'assembling', 'done', 'failed', 'cancelled'));
    DROP TABLE IF EXISTS webhook_deliveries; DROP TABLE IF EXISTS webhooks; DROP TABLE IF EXISTS budgets;
    DROP TRIGGER IF EXISTS training_runs_seconds ON training_runs; DROP FUNCTION IF EXISTS training_run_seconds();
    DROP TRIGGER IF EXISTS generations_cost ON generations; DROP FUNCTION IF EXISTS generation_cost();
    DROP INDEX IF EXISTS generations_scene_idx;
    ALTER TABLE training_runs DROP COLUMN IF EXISTS gpu_seconds, DROP COLUMN IF EXISTS cost;
    ALTER TABLE generations DROP COLUMN IF EXISTS cost, DROP COLUMN IF EXISTS estimated_gpu_seconds,
        DROP COLUMN IF EXISTS estimated_cost;
    ALTER TABLE backends DROP COLUMN IF EXISTS rate_per_s;
    """)
