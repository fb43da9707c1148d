"""Retention: an index on the audits' age (created_at, id), walked by ``Store.purge``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``ix_audits_created`` on audits (created_at, id) for the retention purge."""
    op.create_index("ix_audits_created", "audits", ["created_at", "id"])


def downgrade() -> None:
    """Drop ``ix_audits_created``."""
    op.drop_index("ix_audits_created", table_name="audits")
