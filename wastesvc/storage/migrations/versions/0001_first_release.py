"""The schema of the first release (one territory, no tenants), as `metadata.create_all` made it.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

A database made by that release has no `alembic_version` table; `wastesvc.storage` stamps it at this
revision before upgrading (`_migrate.py`).
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
        "containers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("commune_code", sa.String(), nullable=False),
        sa.Column("locality", sa.String(), nullable=False),
        sa.Column("street_address", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("volume_l", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(), nullable=False),
        sa.Column("empty_distance_mm", sa.Integer(), nullable=False),
        sa.Column("full_distance_mm", sa.Integer(), nullable=False),
        sa.Column("access_windows", sa.String(), nullable=False),
        sa.Column("service_s", sa.Integer(), nullable=False),
        sa.Column("isle", sa.String(), nullable=False),
        sa.Column("required_equipment", sa.String(), nullable=False),
        sa.Column("sensor_id", sa.String(), nullable=True),
        sa.Column("last_emptied_time", sa.DateTime(), nullable=True),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_containers")),
        sa.UniqueConstraint("sensor_id", name=op.f("uq_containers_sensor_id")),
    )
    with op.batch_alter_table("containers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_containers_commune_code"), ["commune_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_containers_isle"), ["isle"], unique=False)
        batch_op.create_index(batch_op.f("ix_containers_stream"), ["stream"], unique=False)

    op.create_table(
        "depots",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depots")),
    )
    op.create_table(
        "facilities",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("streams", sa.String(), nullable=False),
        sa.Column("open_s", sa.Integer(), nullable=False),
        sa.Column("close_s", sa.Integer(), nullable=False),
        sa.Column("dump_s", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("entity_id", sa.String(), nullable=False),
        sa.Column("entity_type", sa.String(), nullable=False),
        sa.Column("property", sa.String(), nullable=False),
        sa.Column("number_value", sa.Float(), nullable=True),
        sa.Column("string_value", sa.String(), nullable=True),
        sa.Column("bool_value", sa.Boolean(), nullable=True),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("observe_time", sa.DateTime(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.UniqueConstraint(
            "source", "entity_id", "property", "observe_time", name="uq_observations_source_entity_time"
        ),
    )
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_observations_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_observations_entity_type"), ["entity_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_observations_source"), ["source"], unique=False)

    op.create_table(
        "operations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
        sa.UniqueConstraint("request_id", name=op.f("uq_operations_request_id")),
    )
    op.create_table(
        "route_plans",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_plans")),
    )
    with op.batch_alter_table("route_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_route_plans_service_date"), ["service_date"], unique=False)

    op.create_table(
        "readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("container_id", sa.String(), nullable=False),
        sa.Column("sensor_id", sa.String(), nullable=False),
        sa.Column("measure_time", sa.DateTime(), nullable=False),
        sa.Column("fill", sa.Float(), nullable=False),
        sa.Column("distance_mm", sa.Integer(), nullable=True),
        sa.Column("battery_percent", sa.Float(), nullable=True),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("tilted", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["container_id"],
            ["containers.id"],
            name=op.f("fk_readings_container_id_containers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readings")),
        sa.UniqueConstraint("container_id", "measure_time", name="uq_readings_container_time"),
    )
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.create_index("ix_readings_container_time", ["container_id", "measure_time"], unique=False)

    op.create_table(
        "vehicles",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("capacity_l", sa.Integer(), nullable=False),
        sa.Column("capacity_kg", sa.Integer(), nullable=False),
        sa.Column("streams", sa.String(), nullable=False),
        sa.Column("home_depot", sa.String(), nullable=False),
        sa.Column("shift_start_s", sa.Integer(), nullable=False),
        sa.Column("shift_end_s", sa.Integer(), nullable=False),
        sa.Column("break_start_s", sa.Integer(), nullable=False),
        sa.Column("break_end_s", sa.Integer(), nullable=False),
        sa.Column("break_s", sa.Integer(), nullable=False),
        sa.Column("cost_per_km", sa.Float(), nullable=False),
        sa.Column("cost_per_hour", sa.Float(), nullable=False),
        sa.Column("daily_volume_cap_l", sa.Integer(), nullable=False),
        sa.Column("equipment", sa.String(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["home_depot"], ["depots.id"], name=op.f("fk_vehicles_home_depot_depots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
    )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vehicles_home_depot"), ["home_depot"], unique=False)


def downgrade() -> None:
    for table in (
        "vehicles",
        "readings",
        "route_plans",
        "operations",
        "observations",
        "facilities",
        "depots",
        "containers",
    ):
        op.drop_table(table)
