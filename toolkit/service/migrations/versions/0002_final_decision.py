"""One final decision per audit: idempotency keys on decisions; decided audits leave the queue flag;
the queue index in the queue's order.

From this revision a decision is a transition of ``audits.awaiting_review`` from true to false, done
in the database (so concurrent decisions cannot both win); audits decided under 0001 are set so.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``decisions.idempotency_key`` (unique), take decided audits out of the queue, reorder its index."""
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(128), nullable=True))
        batch.create_unique_constraint("uq_decisions_idempotency_key", ["idempotency_key"])
    op.execute(
        "UPDATE audits SET awaiting_review = false WHERE awaiting_review = true AND EXISTS "
        "(SELECT 1 FROM decisions WHERE decisions.audit_id = audits.id)"
    )
    # the queue page in index order (rank descending): no sort of the waiting audits
    op.drop_index("ix_audits_queue", table_name="audits")
    op.create_index(
        "ix_audits_queue_order",
        "audits",
        ["awaiting_review", sa.text("severity_rank DESC"), "created_at", "id"],
    )


def downgrade() -> None:
    """Restore the 0001 queue index and drop ``decisions.idempotency_key`` (queue flags stay as they are)."""
    op.drop_index("ix_audits_queue_order", table_name="audits")
    op.create_index("ix_audits_queue", "audits", ["awaiting_review", "severity_rank", "created_at"])
    with op.batch_alter_table("decisions") as batch:
        batch.drop_constraint("uq_decisions_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")
