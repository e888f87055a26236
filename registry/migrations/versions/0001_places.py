"""Places: villages, fields, gateways, devices (the schema of the walking skeleton).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "villages",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_villages"),
    )
    op.create_table(
        "gateways",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateways"),
    )
    op.create_table(
        "fields",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("village_id", sa.String(63), nullable=False),
        sa.Column("crop", sa.String(63), nullable=True),
        sa.ForeignKeyConstraint(
            ["village_id"], ["villages.id"], name="fk_fields_village_id_villages"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_fields"),
    )
    op.create_table(
        "devices",
        sa.Column("gateway_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("field_id", sa.String(63), nullable=True),
        sa.ForeignKeyConstraint(["field_id"], ["fields.id"], name="fk_devices_field_id_fields"),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name="fk_devices_gateway_id_gateways"
        ),
        sa.PrimaryKeyConstraint("gateway_id", "id", name="pk_devices"),
    )


def downgrade() -> None:
    op.drop_table("devices")
    op.drop_table("fields")
    op.drop_table("gateways")
    op.drop_table("villages")
