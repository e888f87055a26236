"""Agronomy: a field's soil, area, elevation and rice water regime; farmer records;
probe calibrations.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fields", schema=None) as batch_op:
        batch_op.add_column(sa.Column("elevation_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("area_m2", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("soil_texture", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("sand_pct", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("clay_pct", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("water_regime", sa.String(length=10), nullable=True))

    op.create_table(
        "field_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("field_id", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("product", sa.String(length=63), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("entered_by_id", sa.Integer(), nullable=True),
        sa.Column("entered_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["fields.id"],
            name=op.f("fk_field_records_field_id_fields"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entered_by_id"],
            ["users.id"],
            name=op.f("fk_field_records_entered_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_records")),
    )
    with op.batch_alter_table("field_records", schema=None) as batch_op:
        batch_op.create_index("ix_field_records_field_day", ["field_id", "day"], unique=False)

    op.create_table(
        "probe_calibrations",
        sa.Column("gateway_id", sa.String(length=63), nullable=False),
        sa.Column("device_id", sa.String(length=63), nullable=False),
        sa.Column("quantity", sa.String(length=63), nullable=False),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.Column("offset", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column("set_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_by_id"],
            ["users.id"],
            name=op.f("fk_probe_calibrations_set_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "gateway_id", "device_id", "quantity", name=op.f("pk_probe_calibrations")
        ),
    )


def downgrade() -> None:
    op.drop_table("probe_calibrations")
    with op.batch_alter_table("field_records", schema=None) as batch_op:
        batch_op.drop_index("ix_field_records_field_day")
    op.drop_table("field_records")
    with op.batch_alter_table("fields", schema=None) as batch_op:
        for column in ("water_regime", "clay_pct", "sand_pct", "soil_texture", "area_m2"):
            batch_op.drop_column(column)
        batch_op.drop_column("elevation_m")
