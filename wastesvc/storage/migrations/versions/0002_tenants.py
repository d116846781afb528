"""Tenants: every row belongs to one, keys and unique constraints are per tenant; emptyings and the
request of a planning operation are stored.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

The rows of the first release belong to one territory: they move to the tenant given as the
`legacy_tenant` attribute of the Alembic config (`grand-soissons` by default). Primary and foreign keys
change shape, which SQLite cannot alter in place, so each table is copied aside, made anew and filled back
(on both backends, the same way).
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence

import sqlalchemy as sa
from alembic import context, op
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, descriptor_pool, message, message_factory

from wastesvc.v1 import planning_pb2

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The columns of the first release, in the order tables are refilled (referenced tables first).
_OLD_COLUMNS: dict[str, tuple[str, ...]] = {
    "containers": (
        "id",
        "commune_code",
        "locality",
        "street_address",
        "lat",
        "lng",
        "stream",
        "volume_l",
        "model_id",
        "empty_distance_mm",
        "full_distance_mm",
        "access_windows",
        "service_s",
        "isle",
        "required_equipment",
        "sensor_id",
        "last_emptied_time",
        "create_time",
        "update_time",
    ),
    "depots": (
        "id",
        "display_name",
        "lat",
        "lng",
        "create_time",
        "update_time",
    ),
    "facilities": (
        "id",
        "display_name",
        "lat",
        "lng",
        "streams",
        "open_s",
        "close_s",
        "dump_s",
        "create_time",
        "update_time",
    ),
    "observations": (
        "id",
        "source",
        "entity_id",
        "entity_type",
        "property",
        "number_value",
        "string_value",
        "bool_value",
        "unit",
        "observe_time",
        "lat",
        "lng",
        "create_time",
    ),
    "operations": (
        "id",
        "request_id",
        "done",
        "body",
        "create_time",
        "update_time",
    ),
    "route_plans": (
        "id",
        "service_date",
        "body",
        "create_time",
    ),
    "readings": (
        "id",
        "container_id",
        "sensor_id",
        "measure_time",
        "fill",
        "distance_mm",
        "battery_percent",
        "temperature_c",
        "tilted",
        "create_time",
    ),
    "vehicles": (
        "id",
        "display_name",
        "capacity_l",
        "capacity_kg",
        "streams",
        "home_depot",
        "shift_start_s",
        "shift_end_s",
        "break_start_s",
        "break_end_s",
        "break_s",
        "cost_per_km",
        "cost_per_hour",
        "daily_volume_cap_l",
        "equipment",
        "create_time",
        "update_time",
    ),
}
_ORDER = (
    "containers",
    "depots",
    "facilities",
    "vehicles",
    "readings",
    "observations",
    "route_plans",
    "operations",
)
# A resource name of the first release inside a stored plan or operation: it gains the tenant parent.
_NAME = re.compile(r"(?<![\w/])(containers|vehicles|depots|facilities|routePlans|operations)/")
# Tables whose integer ids come from a sequence on PostgreSQL, to move past the copied ids.
_SERIAL = ("readings", "observations")


def upgrade() -> None:
    tenant = context.config.attributes.get("legacy_tenant", "grand-soissons")
    for table in _ORDER:
        op.execute(f"CREATE TABLE {table}_v1 AS SELECT * FROM {table}")
    for table in reversed(_ORDER):
        op.drop_table(table)
    _create_tables()
    for table in _ORDER:
        columns = ", ".join(_OLD_COLUMNS[table])
        op.execute(
            sa.text(
                f"INSERT INTO {table} (tenant, {columns}) SELECT :tenant, {columns} FROM {table}_v1"
            ).bindparams(tenant=tenant)
        )
        op.drop_table(f"{table}_v1")
    _retenant_bodies(tenant)
    if op.get_bind().dialect.name == "postgresql":
        for table in _SERIAL:
            op.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                f"FROM {table}"
            )


def _retenant_bodies(tenant: str) -> None:
    """Plans and operations are stored as messages: the names inside them gain the tenant too."""
    bind = op.get_bind()
    for table, kind in (("route_plans", planning_pb2.RoutePlan), ("operations", operations_pb2.Operation)):
        rows = bind.execute(sa.text(f"SELECT id, body FROM {table}")).all()
        for row_id, body in rows:
            parsed = kind.FromString(body)
            _retenant(parsed, tenant)
            bind.execute(
                sa.text(f"UPDATE {table} SET body = :body WHERE id = :id"),
                {"body": parsed.SerializeToString(), "id": row_id},
            )


def _retenant(msg: message.Message, tenant: str) -> None:
    """Gives every resource name inside `msg` (Any payloads included) the tenant parent, in place."""
    if isinstance(msg, any_pb2.Any):
        descriptor = descriptor_pool.Default().FindMessageTypeByName(msg.TypeName())
        inner = message_factory.GetMessageClass(descriptor)()
        msg.Unpack(inner)
        _retenant(inner, tenant)
        msg.Pack(inner)
        return
    for field, value in msg.ListFields():
        repeated = isinstance(value, Sequence) and not isinstance(value, str)
        if field.type == field.TYPE_STRING and repeated:
            renamed = [_NAME.sub(lambda m: f"tenants/{tenant}/{m.group(0)}", v) for v in value]
            del value[:]
            value.extend(renamed)
        elif field.type == field.TYPE_STRING:
            setattr(msg, field.name, _NAME.sub(lambda m: f"tenants/{tenant}/{m.group(0)}", value))
        elif field.type == field.TYPE_MESSAGE and isinstance(value, MutableMapping):
            for key in list(value):
                if isinstance(value[key], message.Message):
                    _retenant(value[key], tenant)
        elif field.type == field.TYPE_MESSAGE:
            for item in value if repeated else [value]:
                _retenant(item, tenant)


def downgrade() -> None:
    raise NotImplementedError("a database with tenants cannot go back to one territory without losing rows")


def _create_tables() -> None:
    op.create_table(
        "containers",
        sa.Column("tenant", sa.String(), nullable=False),
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
        sa.PrimaryKeyConstraint("tenant", "id", name=op.f("pk_containers")),
        sa.UniqueConstraint("tenant", "sensor_id", name="uq_containers_tenant_sensor"),
    )
    with op.batch_alter_table("containers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_containers_commune_code"), ["commune_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_containers_isle"), ["isle"], unique=False)
        batch_op.create_index(batch_op.f("ix_containers_stream"), ["stream"], unique=False)

    op.create_table(
        "depots",
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "id", name=op.f("pk_depots")),
    )
    op.create_table(
        "facilities",
        sa.Column("tenant", sa.String(), nullable=False),
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
        sa.PrimaryKeyConstraint("tenant", "id", name=op.f("pk_facilities")),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
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
            "tenant",
            "source",
            "entity_id",
            "property",
            "observe_time",
            name="uq_observations_source_entity_time",
        ),
    )
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_observations_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_observations_entity_type"), ["entity_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_observations_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_observations_tenant"), ["tenant"], unique=False)

    op.create_table(
        "operations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("request", sa.LargeBinary(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
        sa.UniqueConstraint("tenant", "request_id", name="uq_operations_tenant_request"),
    )
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_operations_tenant"), ["tenant"], unique=False)

    op.create_table(
        "route_plans",
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "id", name=op.f("pk_route_plans")),
    )
    with op.batch_alter_table("route_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_route_plans_service_date"), ["service_date"], unique=False)

    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("container_id", sa.String(), nullable=False),
        sa.Column("collect_time", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("route_plan", sa.String(), nullable=False),
        sa.Column("visit_id", sa.String(), nullable=False),
        sa.Column("weighed_kg", sa.Float(), nullable=True),
        sa.Column("observed_fill", sa.Float(), nullable=True),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "container_id"],
            ["containers.tenant", "containers.id"],
            name=op.f("fk_collections_tenant_containers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("tenant", "container_id", "source", "collect_time", name="uq_collections_key"),
    )
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collections_container_time", ["tenant", "container_id", "collect_time"], unique=False
        )

    op.create_table(
        "readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
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
            ["tenant", "container_id"],
            ["containers.tenant", "containers.id"],
            name=op.f("fk_readings_tenant_containers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readings")),
        sa.UniqueConstraint("tenant", "container_id", "measure_time", name="uq_readings_container_time"),
    )
    op.create_table(
        "vehicles",
        sa.Column("tenant", sa.String(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["tenant", "home_depot"], ["depots.tenant", "depots.id"], name=op.f("fk_vehicles_tenant_depots")
        ),
        sa.PrimaryKeyConstraint("tenant", "id", name=op.f("pk_vehicles")),
    )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.create_index("ix_vehicles_tenant_home_depot", ["tenant", "home_depot"], unique=False)
