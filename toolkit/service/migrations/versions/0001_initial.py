"""Initial schema: audits (with a nullable model risk score), decisions, CDS cards and feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from toolkit.service.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the audits, decisions, cds_cards and cds_feedback tables and their indexes."""
    op.create_table(
        "audits",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("max_severity", sa.String(8), nullable=True),
        sa.Column("severity_rank", sa.Integer, nullable=False),
        sa.Column("awaiting_review", sa.Boolean, nullable=False),
        sa.Column("risk", sa.Float, nullable=True),
        sa.Column("kb_version", sa.String(64), nullable=False),
        sa.Column("engine_version", sa.String(32), nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_audits_queue", "audits", ["awaiting_review", "severity_rank", "created_at"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("audit_id", sa.String(32), sa.ForeignKey("audits.id"), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("pharmacist", sa.String(64), nullable=False),
        sa.Column("prescriber", sa.String(64), nullable=True),
        sa.Column("rule_ids", sa.JSON, nullable=False),
        sa.Column("kb_version", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_decisions_audit_id", "decisions", ["audit_id"])
    op.create_table(
        "cds_cards",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("audit_id", sa.String(32), sa.ForeignKey("audits.id"), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_cds_cards_audit_id", "cds_cards", ["audit_id"])
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(36), sa.ForeignKey("cds_cards.uuid"), nullable=False),
        sa.Column("audit_id", sa.String(32), sa.ForeignKey("audits.id"), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("kb_version", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("override_system", sa.String(255), nullable=True),
        sa.Column("override_code", sa.String(64), nullable=True),
        sa.Column("override_display", sa.String(255), nullable=True),
        sa.Column("user_comment", sa.Text, nullable=True),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("outcome_timestamp", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_cds_feedback_card_uuid", "cds_feedback", ["card_uuid"])
    op.create_index("ix_cds_feedback_audit_id", "cds_feedback", ["audit_id"])


def downgrade() -> None:
    """Drop the four tables of the initial schema (all stored audits and decisions are lost)."""
    op.drop_table("cds_feedback")
    op.drop_table("cds_cards")
    op.drop_table("decisions")
    op.drop_table("audits")
