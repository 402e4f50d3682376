"""Pilots: the optional Ollama critic. `critic_model` is the Ollama model the director asked to
judge the pilot after the rules critic (NULL: rules only); `critic` records which critic's choice
stood: 'rules', or 'ollama:<model>' when the model picked the winner. `decided_by` keeps its
values ('critic' or 'user').

Revision ID: 0015
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE pilots
        ADD COLUMN critic_model text CHECK (length(critic_model) BETWEEN 1 AND 200),
        ADD COLUMN critic text NOT NULL DEFAULT 'rules'
            CHECK (critic = 'rules' OR (critic LIKE 'ollama:_%' AND length(critic) <= 207));
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE pilots DROP COLUMN IF EXISTS critic, DROP COLUMN IF EXISTS critic_model;")
