"""pending assessments: containers whose stored readings are not yet assessed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_assessments",
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("container_id", sa.String(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("first_measure_time", sa.DateTime(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant", "container_id"],
            ["containers.tenant", "containers.id"],
            name=op.f("fk_pending_assessments_tenant_containers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant", "container_id", name=op.f("pk_pending_assessments")),
    )
    with op.batch_alter_table("pending_assessments", schema=None) as batch_op:
        batch_op.create_index("ix_pending_assessments_since", ["since"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pending_assessments", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_assessments_since")
    op.drop_table("pending_assessments")
