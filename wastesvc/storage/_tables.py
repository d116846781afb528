"""SQLModel tables. Times are stored as naive UTC and handed back aware (REFERENCE §4: SQLite drops zones)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKeyConstraint, Index, LargeBinary, MetaData, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

__all__ = [
    "AlertRow",
    "CollectionRow",
    "ContainerRow",
    "DepotRow",
    "FacilityRow",
    "ForecastRow",
    "IncidentRow",
    "ObservationRow",
    "OperationRow",
    "PendingAssessmentRow",
    "PlanRow",
    "PolicyRow",
    "ReadingRow",
    "UtcDateTime",
    "VehicleRow",
    "metadata",
]

# A naming convention keeps constraint names identical on SQLite and PostgreSQL (and in migrations).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
SQLModel.metadata = metadata


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached storage; the service works in aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kwargs))


class ContainerRow(SQLModel, table=True):
    __tablename__ = "containers"
    # A sensor is fitted to one container of its tenant.
    __table_args__ = (UniqueConstraint("tenant", "sensor_id", name="uq_containers_tenant_sensor"),)

    tenant: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    commune_code: str = Field(index=True)
    locality: str = ""
    street_address: str = ""
    lat: float
    lng: float
    stream: str = Field(index=True)
    volume_l: int
    model_id: str = ""
    empty_distance_mm: int = 0
    full_distance_mm: int = 0
    # "HH:MM-HH:MM" windows in seconds of the local day, as JSON [[start, end], …].
    access_windows: str = "[]"
    service_s: int = 0
    isle: str = Field(default="", index=True)
    required_equipment: str = ""  # comma-separated words
    sensor_id: str | None = None
    last_emptied_time: datetime | None = _utc(nullable=True)
    create_time: datetime = _utc(nullable=False)
    update_time: datetime = _utc(nullable=False)


class DepotRow(SQLModel, table=True):
    __tablename__ = "depots"

    tenant: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    display_name: str = ""
    lat: float
    lng: float
    create_time: datetime = _utc(nullable=False)
    update_time: datetime = _utc(nullable=False)


class FacilityRow(SQLModel, table=True):
    __tablename__ = "facilities"

    tenant: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    display_name: str = ""
    lat: float
    lng: float
    streams: str  # comma-separated stream keys
    open_s: int
    close_s: int
    dump_s: int = 0
    create_time: datetime = _utc(nullable=False)
    update_time: datetime = _utc(nullable=False)


class VehicleRow(SQLModel, table=True):
    __tablename__ = "vehicles"
    __table_args__ = (
        ForeignKeyConstraint(["tenant", "home_depot"], ["depots.tenant", "depots.id"]),
        Index("ix_vehicles_tenant_home_depot", "tenant", "home_depot"),
    )

    tenant: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    display_name: str = ""
    capacity_l: int
    capacity_kg: int
    streams: str  # comma-separated stream keys
    home_depot: str
    shift_start_s: int
    shift_end_s: int
    break_start_s: int = 0
    break_end_s: int = 0
    break_s: int = 0
    cost_per_km: float = 0.0
    cost_per_hour: float = 0.0
    daily_volume_cap_l: int = 0
    equipment: str = ""  # comma-separated words
    create_time: datetime = _utc(nullable=False)
    update_time: datetime = _utc(nullable=False)
    # JSON list of [comma-separated streams, litres, kilograms], one per compartment; [] = undivided body.
    compartments: str = "[]"


class ReadingRow(SQLModel, table=True):
    __tablename__ = "readings"
    # The idempotency key: a re-delivered reading hits this and is skipped (ON CONFLICT DO NOTHING).
    # No foreign key to the container (migration 0007): its check per row was half of PostgreSQL's insert
    # time. The storage checks the containers of a batch once instead, in the readings' transaction
    # (`SqlStorage._claim_containers`), and deletes a container before its readings.
    __table_args__ = (
        UniqueConstraint("tenant", "container_id", "measure_time", name="uq_readings_container_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    container_id: str
    sensor_id: str = ""
    measure_time: datetime = _utc(nullable=False)
    fill: float
    distance_mm: int | None = None
    battery_percent: float | None = None
    temperature_c: float | None = None
    tilted: bool = False
    create_time: datetime = _utc(nullable=False)
    # Why the reading cannot be true ("" when it can): kept for the record, never used by a forecast.
    outlier: str = ""


class CollectionRow(SQLModel, table=True):
    """One emptying of a container, as a crew reported it or as its sensor's series showed it.

    A crew report and a sensor detection of the same emptying are two rows (the `source` differs); the
    merge into one event is the fill library's (`wastesvc.fill.merge_collections`), which keeps both.
    """

    __tablename__ = "collections"
    __table_args__ = (
        # Idempotency: a re-sent report or a re-run detection of the same emptying stores nothing new.
        UniqueConstraint("tenant", "container_id", "source", "collect_time", name="uq_collections_key"),
        ForeignKeyConstraint(
            ["tenant", "container_id"], ["containers.tenant", "containers.id"], ondelete="CASCADE"
        ),
        Index("ix_collections_container_time", "tenant", "container_id", "collect_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    container_id: str
    collect_time: datetime = _utc(nullable=False)
    source: str  # "crew" or "sensor"
    # Crew reports: the plan and visit the emptying belongs to, what the truck weighed, the fill seen.
    route_plan: str = ""
    visit_id: str = ""
    weighed_kg: float | None = None
    observed_fill: float | None = None
    create_time: datetime = _utc(nullable=False)


class ObservationRow(SQLModel, table=True):
    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint(
            "tenant",
            "source",
            "entity_id",
            "property",
            "observe_time",
            name="uq_observations_source_entity_time",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(index=True)
    source: str = Field(index=True)
    entity_id: str = Field(index=True)
    entity_type: str = Field(index=True)
    property: str
    number_value: float | None = None
    string_value: str | None = None
    bool_value: bool | None = None
    unit: str = ""
    observe_time: datetime = _utc(nullable=False)
    lat: float | None = None
    lng: float | None = None
    create_time: datetime = _utc(nullable=False)


class PlanRow(SQLModel, table=True):
    __tablename__ = "route_plans"

    tenant: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    service_date: date = Field(index=True)
    # The RoutePlan message: a plan is a document read and printed whole, never queried by part.
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    create_time: datetime = _utc(nullable=False)


class OperationRow(SQLModel, table=True):
    __tablename__ = "operations"
    # An idempotency key is the caller's: two tenants may pick the same one.
    __table_args__ = (UniqueConstraint("tenant", "request_id", name="uq_operations_tenant_request"),)

    id: str = Field(primary_key=True)  # a UUID, unique across tenants
    tenant: str = Field(index=True)
    request_id: str | None = None
    # The OptimizeRoutesRequest, so that any solver worker can run the operation (wastesvc/jobs.py).
    request: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    done: bool = False
    # The google.longrunning.Operation message as last published.
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    create_time: datetime = _utc(nullable=False)
    update_time: datetime = _utc(nullable=False)


class AlertRow(SQLModel, table=True):
    """An alert about a container; `open_key` is set while unresolved, so one stays open per kind."""

    __tablename__ = "alerts"
    __table_args__ = (
        # NULLs are distinct on both backends: resolved alerts never collide, unresolved ones do.
        UniqueConstraint("tenant", "open_key", name="uq_alerts_open_key"),
        Index("ix_alerts_tenant_container", "tenant", "container_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(index=True)
    container_id: str
    kind: str  # "low_battery", "sensor_silent", "tilted", "fire", "stuck_value", "impossible_reading", …
    state: str = "open"  # "open", "acknowledged", "resolved"
    severity: str = "warning"
    detail: str = ""
    open_key: str | None = None  # "{container_id}/{kind}" until resolved
    actor: str = ""
    start_time: datetime = _utc(nullable=False)
    create_time: datetime = _utc(nullable=False)
    update_time: datetime = _utc(nullable=False)
    acknowledge_time: datetime | None = _utc(nullable=True)
    resolve_time: datetime | None = _utc(nullable=True)


class IncidentRow(SQLModel, table=True):
    """A citizen's or agent's report about a container."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("tenant", "request_id", name="uq_incidents_tenant_request"),
        ForeignKeyConstraint(
            ["tenant", "container_id"], ["containers.tenant", "containers.id"], ondelete="CASCADE"
        ),
        Index("ix_incidents_tenant_container", "tenant", "container_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(index=True)
    container_id: str
    kind: str  # "overflowing", "damaged", "blocked", "fire"
    state: str = "open"  # "open", "resolved"
    description: str = ""
    reporter: str = ""
    request_id: str
    create_time: datetime = _utc(nullable=False)
    resolve_time: datetime | None = _utc(nullable=True)


class ForecastRow(SQLModel, table=True):
    """The latest fill forecast of a container, refitted when its readings arrive (or fall silent)."""

    __tablename__ = "forecasts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant", "container_id"], ["containers.tenant", "containers.id"], ondelete="CASCADE"
        ),
        Index("ix_forecasts_tenant_full_time", "tenant", "full_time"),
    )

    tenant: str = Field(primary_key=True)
    container_id: str = Field(primary_key=True)
    # When the expected fill reaches 1; NULL when beyond the forecast's horizon. Kept as a column so a
    # listing can filter on it.
    full_time: datetime | None = _utc(nullable=True)
    # The fill library's Forecast as JSON: the model read at any time (P(overflow by T), fill at T).
    body: str
    compute_time: datetime = _utc(nullable=False)


class PendingAssessmentRow(SQLModel, table=True):
    """A container with readings stored but not yet assessed (alerts, emptyings, forecast).

    Written in the transaction that stores the readings, deleted once a round assessed them: what a crash
    interrupts is found here after a restart, and any replica may take it.
    """

    __tablename__ = "pending_assessments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant", "container_id"], ["containers.tenant", "containers.id"], ondelete="CASCADE"
        ),
        Index("ix_pending_assessments_since", "since"),
    )

    tenant: str = Field(primary_key=True)
    container_id: str = Field(primary_key=True)
    # The create_time of the oldest reading not yet assessed (the assessment lag), and the earliest
    # measure_time among those readings (what is new to the assessment: an impossible reading, a
    # condition that came and went between two rounds).
    since: datetime = _utc(nullable=False)
    first_measure_time: datetime = _utc(nullable=False)
    # Bumped by every transaction storing readings of the container: a round that assessed an older
    # generation leaves the row for the next round.
    generation: int = 0
    # A round holds the row until then; past it (the replica died) another round takes it.
    lease_until: datetime | None = _utc(nullable=True)


class PolicyRow(SQLModel, table=True):
    """A tenant's selection policy (one per tenant)."""

    __tablename__ = "selection_policies"

    tenant: str = Field(primary_key=True)
    # The SelectionPolicy message: read and replaced whole, never queried by part.
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    update_time: datetime = _utc(nullable=False)
