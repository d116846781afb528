"""Tenants in every table and name, and the collections table (the schema of the second release).

Every row of the first release belonged to the one territory it served; it moves to the tenant given as
``config.attributes["tenant"]`` (``wastesvc migrate --tenant``, default ``grand-soissons``). Names stored
inside plan and operation bodies (``containers/C1``, ``routePlans/…``) gain the ``tenants/{tenant}/``
parent, so a migrated plan reads like a new one. Primary keys change on every table, which neither SQLite
nor a portable ALTER can do in place: each table is read, dropped and created again with its rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, descriptor_pool, message, message_factory

from wastesvc.v1 import planning_pb2

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEFAULT_TENANT = "grand-soissons"
_CHUNK = 1000
_NAME = re.compile(r"(?<![\w/])(containers|vehicles|depots|facilities|routePlans|operations)/")
# Parents first on the way in; children first on the way out.
_ORDER = (
    "depots",
    "containers",
    "facilities",
    "vehicles",
    "readings",
    "observations",
    "route_plans",
    "operations",
)


def _times() -> list[sa.Column[Any]]:
    return [
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
    ]


def _tenant() -> sa.Column[Any]:
    return sa.Column("tenant", sa.String(), nullable=False)


def _create_containers() -> None:
    op.create_table(
        "containers",
        _tenant(),
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
        *_times(),
        sa.PrimaryKeyConstraint("tenant", "id", name="pk_containers"),
        sa.UniqueConstraint("tenant", "sensor_id", name="uq_containers_tenant_sensor"),
    )
    for column in ("commune_code", "isle", "stream"):
        op.create_index(f"ix_containers_{column}", "containers", [column])


def _create_depots() -> None:
    op.create_table(
        "depots",
        _tenant(),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("tenant", "id", name="pk_depots"),
    )


def _create_facilities() -> None:
    op.create_table(
        "facilities",
        _tenant(),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("streams", sa.String(), nullable=False),
        sa.Column("open_s", sa.Integer(), nullable=False),
        sa.Column("close_s", sa.Integer(), nullable=False),
        sa.Column("dump_s", sa.Integer(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("tenant", "id", name="pk_facilities"),
    )


def _create_vehicles() -> None:
    op.create_table(
        "vehicles",
        _tenant(),
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
        *_times(),
        sa.PrimaryKeyConstraint("tenant", "id", name="pk_vehicles"),
        sa.ForeignKeyConstraint(
            ["tenant", "home_depot"], ["depots.tenant", "depots.id"], name="fk_vehicles_tenant_depots"
        ),
    )
    op.create_index("ix_vehicles_tenant_home_depot", "vehicles", ["tenant", "home_depot"])


def _create_readings() -> None:
    op.create_table(
        "readings",
        sa.Column("id", sa.Integer(), nullable=False),
        _tenant(),
        sa.Column("container_id", sa.String(), nullable=False),
        sa.Column("sensor_id", sa.String(), nullable=False),
        sa.Column("measure_time", sa.DateTime(), nullable=False),
        sa.Column("fill", sa.Float(), nullable=False),
        sa.Column("distance_mm", sa.Integer(), nullable=True),
        sa.Column("battery_percent", sa.Float(), nullable=True),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("tilted", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_readings"),
        sa.UniqueConstraint("tenant", "container_id", "measure_time", name="uq_readings_container_time"),
        sa.ForeignKeyConstraint(
            ["tenant", "container_id"],
            ["containers.tenant", "containers.id"],
            name="fk_readings_tenant_containers",
            ondelete="CASCADE",
        ),
    )


def _create_observations() -> None:
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        _tenant(),
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
        sa.PrimaryKeyConstraint("id", name="pk_observations"),
        sa.UniqueConstraint(
            "tenant",
            "source",
            "entity_id",
            "property",
            "observe_time",
            name="uq_observations_source_entity_time",
        ),
    )
    for column in ("entity_id", "entity_type", "source", "tenant"):
        op.create_index(f"ix_observations_{column}", "observations", [column])


def _create_route_plans() -> None:
    op.create_table(
        "route_plans",
        _tenant(),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "id", name="pk_route_plans"),
    )
    op.create_index("ix_route_plans_service_date", "route_plans", ["service_date"])


def _create_operations() -> None:
    op.create_table(
        "operations",
        sa.Column("id", sa.String(), nullable=False),
        _tenant(),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_operations"),
        sa.UniqueConstraint("tenant", "request_id", name="uq_operations_tenant_request"),
    )
    op.create_index("ix_operations_tenant", "operations", ["tenant"])


def _create_collections() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        _tenant(),
        sa.Column("container_id", sa.String(), nullable=False),
        sa.Column("collect_time", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("route_plan", sa.String(), nullable=False),
        sa.Column("visit_id", sa.String(), nullable=False),
        sa.Column("weighed_kg", sa.Float(), nullable=True),
        sa.Column("observed_fill", sa.Float(), nullable=True),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
        sa.UniqueConstraint("tenant", "container_id", "source", "collect_time", name="uq_collections_key"),
        sa.ForeignKeyConstraint(
            ["tenant", "container_id"],
            ["containers.tenant", "containers.id"],
            name="fk_collections_tenant_containers",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_collections_container_time", "collections", ["tenant", "container_id", "collect_time"]
    )


_CREATE = {
    "depots": _create_depots,
    "containers": _create_containers,
    "facilities": _create_facilities,
    "vehicles": _create_vehicles,
    "readings": _create_readings,
    "observations": _create_observations,
    "route_plans": _create_route_plans,
    "operations": _create_operations,
}


def _retenant_text(text: str, tenant: str) -> str:
    return _NAME.sub(lambda m: f"tenants/{tenant}/{m.group(0)}", text)


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
            renamed = [_retenant_text(v, tenant) for v in value]
            del value[:]
            value.extend(renamed)
        elif field.type == field.TYPE_STRING:
            setattr(msg, field.name, _retenant_text(value, tenant))
        elif field.type == field.TYPE_MESSAGE and isinstance(value, MutableMapping):
            for key in list(value):
                if isinstance(value[key], message.Message):
                    _retenant(value[key], tenant)
                elif isinstance(value[key], str):
                    value[key] = _retenant_text(value[key], tenant)
        elif field.type == field.TYPE_MESSAGE:
            for item in value if repeated else [value]:
                _retenant(item, tenant)


def _body(table: str, body: bytes, tenant: str) -> bytes:
    kind: type[message.Message]
    kind = planning_pb2.RoutePlan if table == "route_plans" else operations_pb2.Operation
    parsed = kind.FromString(body)
    _retenant(parsed, tenant)
    return parsed.SerializeToString()


def upgrade() -> None:
    tenant = str(context.config.attributes.get("tenant", DEFAULT_TENANT))
    bind = op.get_bind()
    saved: dict[str, list[dict[str, Any]]] = {}
    for table in _ORDER:
        reflected = sa.Table(table, sa.MetaData(), autoload_with=bind)
        saved[table] = [dict(row._mapping) for row in bind.execute(sa.select(reflected))]
    for table in reversed(_ORDER):
        op.drop_table(table)
    for table in _ORDER:
        _CREATE[table]()
        rows = saved.pop(table)
        for row in rows:
            row["tenant"] = tenant
            if "body" in row:
                row["body"] = _body(table, row["body"], tenant)
        target = sa.Table(table, sa.MetaData(), autoload_with=bind)
        for start in range(0, len(rows), _CHUNK):
            bind.execute(target.insert(), rows[start : start + _CHUNK])
    _create_collections()
    if bind.dialect.name == "postgresql":
        # Rows were inserted with their ids: the sequences must continue after them.
        for table in ("readings", "observations"):
            op.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                f"FROM {table}"
            )


def downgrade() -> None:
    raise NotImplementedError("the first release had one tenant; restore its backup instead")
