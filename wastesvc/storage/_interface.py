"""The storage interface the servicers and the domain depend on."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from wastesvc.storage._tables import (
    AlertRow,
    CollectionRow,
    ContainerRow,
    DepotRow,
    FacilityRow,
    ForecastRow,
    IncidentRow,
    ObservationRow,
    OperationRow,
    PendingAssessmentRow,
    PlanRow,
    PolicyRow,
    ReadingRow,
    VehicleRow,
)

__all__ = [
    "CollectionFilter",
    "IngestTarget",
    "InsertOutcome",
    "Page",
    "ReadingInsert",
    "ResourceRow",
    "Storage",
]

ResourceRow = TypeVar("ResourceRow", ContainerRow, DepotRow, FacilityRow, VehicleRow)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; `last_key` is where the next page starts (None on the last page)."""

    items: list[T]
    last_key: str | None


class InsertOutcome(enum.Enum):
    """What became of one reading handed to `insert_readings`."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # the same key and values were stored before
    CONFLICT = "conflict"  # the same key was stored before with other values


class ReadingInsert(NamedTuple):
    """A validated reading ready to store; (tenant, container_id, measure_time) is its key.

    A tuple in the readings table's column order: the storage hands it to the driver as a row as it is
    (`executemany`, `COPY`), without building a dict or an ORM object per reading.
    """

    tenant: str
    container_id: str
    sensor_id: str
    measure_time: datetime
    fill: float
    distance_mm: int | None
    battery_percent: float | None
    temperature_c: float | None
    tilted: bool
    outlier: str = ""  # why the reading cannot be true; "" when it can

    def same_values(self, other: ReadingInsert) -> bool:
        """True when `other` says the same as this reading (a re-delivery, not a correction)."""
        return (self.fill, self.distance_mm, self.battery_percent, self.temperature_c, self.tilted) == (
            other.fill,
            other.distance_mm,
            other.battery_percent,
            other.temperature_c,
            other.tilted,
        )


@dataclass(frozen=True, slots=True)
class CollectionFilter:
    """What a listing of collections keeps: one source ("crew", "sensor") or all, and a time range
    (`collected_after` included, `collected_before` excluded)."""

    source: str | None = None
    collected_after: datetime | None = None
    collected_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class IngestTarget:
    """What ingest needs of a container: its key, its sensor and the sensor's geometry."""

    tenant: str
    id: str
    sensor_id: str | None
    empty_distance_mm: int
    full_distance_mm: int


class Storage(Protocol):
    """Everything the service persists, kept apart by tenant. Safe to call from worker threads."""

    def create(self, row: ResourceRow) -> ResourceRow:
        """Inserts a resource row; raises AlreadyExists when its name is taken."""
        ...

    def get(self, kind: type[ResourceRow], tenant: str, row_id: str) -> ResourceRow | None:
        """Returns a resource row of the tenant or None."""
        ...

    def get_many(
        self, kind: type[ResourceRow], tenant: str, row_ids: Sequence[str]
    ) -> dict[str, ResourceRow]:
        """Returns the rows of the tenant that exist among `row_ids`."""
        ...

    def list_page(
        self,
        kind: type[ResourceRow],
        tenant: str,
        *,
        after: str | None,
        limit: int,
        where: Mapping[str, Any] | None = None,
    ) -> Page[ResourceRow]:
        """The tenant's rows ordered by id, starting after `after`, filtered by column equalities (a
        tuple value: the column is one of them; for containers, `predicted_full_before` with an ISO time
        keeps those forecast to be full before it)."""
        ...

    def count(self, kind: type[ResourceRow], tenant: str, where: Mapping[str, Any] | None = None) -> int:
        """Number of the tenant's rows matching the equalities."""
        ...

    def update(self, row: ResourceRow) -> ResourceRow:
        """Replaces a resource row; raises NotFound when it is gone."""
        ...

    def delete(self, kind: type[ResourceRow], tenant: str, row_id: str) -> bool:
        """Deletes a resource row (and, for a container, its readings); False when absent."""
        ...

    def container_ids_by_sensor(self, tenant: str, sensor_ids: Sequence[str]) -> dict[str, str]:
        """Maps sensor ids to the tenant's containers they are fitted to."""
        ...

    def ingest_targets(
        self, tenant: str, container_ids: Sequence[str], sensor_ids: Sequence[str]
    ) -> tuple[dict[str, IngestTarget], dict[str, IngestTarget]]:
        """The tenant's containers named by id or fitted with one of the sensors, in one query: (by
        container id, by sensor id)."""
        ...

    def insert_readings(self, readings: Sequence[ReadingInsert]) -> tuple[list[InsertOutcome], datetime]:
        """Stores readings in one transaction; returns each one's outcome and the create_time given to
        the readings stored."""
        ...

    def get_reading(self, tenant: str, container_id: str, measure_time: datetime) -> ReadingRow | None:
        """The reading stored under this key, or None."""
        ...

    def list_readings(
        self, tenant: str, container_id: str, *, before: datetime | None, limit: int
    ) -> list[ReadingRow]:
        """Readings of a container, newest first, strictly before `before`."""
        ...

    def recent_readings(
        self, tenant: str, container_ids: Sequence[str], limit: int
    ) -> dict[str, list[ReadingInsert]]:
        """The newest `limit` readings of each of these containers (outliers included), oldest first;
        a container without readings is absent."""
        ...

    def latest_readings(self, tenant: str, container_ids: Sequence[str]) -> dict[str, ReadingRow]:
        """The newest reading of each container that has one."""
        ...

    def readings_since(self, tenant: str, since: datetime) -> list[ReadingRow]:
        """The tenant's readings measured at or after `since`, ordered by container then time."""
        ...

    def claim_assessments(
        self, limit: int, now: datetime, lease_until: datetime
    ) -> list[PendingAssessmentRow]:
        """Takes up to `limit` containers waiting for an assessment (oldest first) that no live round
        holds, holding them until `lease_until`; ordered by (tenant, container)."""
        ...

    def finish_assessments(self, assessed: Sequence[PendingAssessmentRow]) -> None:
        """Drops the claimed rows whose container got no reading since the claim; frees the others."""
        ...

    def pending_containers(self, tenant: str, container_ids: Sequence[str] | None = None) -> set[str]:
        """The tenant's containers (among `container_ids`, or all) waiting for an assessment."""
        ...

    def assessment_backlog(self) -> tuple[int, datetime | None]:
        """Containers waiting for an assessment, all tenants, and the oldest unassessed create_time."""
        ...

    def insert_collections(self, collections: Sequence[CollectionRow]) -> list[bool]:
        """Stores emptyings (and moves each container's `last_emptied_time` forward); per row, True when
        new, False when the same (container, source, time) was stored before."""
        ...

    def list_collections(
        self, tenant: str, container_ids: Sequence[str], *, since: datetime | None = None
    ) -> list[CollectionRow]:
        """The emptyings of these containers (all when empty), oldest first, at or after `since`."""
        ...

    def list_collections_page(
        self,
        tenant: str,
        container_id: str | None,
        *,
        where: CollectionFilter,
        before: tuple[datetime, int] | None,
        limit: int,
    ) -> list[CollectionRow]:
        """The emptyings of a container (or of the tenant's containers for None) that pass `where`, newest
        first by (collect_time, id), strictly before the `before` key."""
        ...

    def containers_with_sensors(self) -> list[tuple[str, str]]:
        """(tenant, container id) of every container fitted with a sensor, for the periodic checks."""
        ...

    def raise_alerts(self, alerts: Sequence[AlertRow]) -> list[AlertRow]:
        """Stores new alerts; one whose `open_key` is held by an unresolved alert is skipped (a resolved
        one, without `open_key`, is always stored). Returns the stored ones, with their ids."""
        ...

    def resolve_open_alerts(
        self, tenant: str, open_keys: Sequence[str], when: datetime, actor: str
    ) -> list[AlertRow]:
        """Resolves the tenant's unresolved alerts holding these `open_key`s (`{container}/{kind}`);
        returns them as changed."""
        ...

    def get_alert(self, tenant: str, alert_id: int) -> AlertRow | None:
        """The tenant's alert, or None."""
        ...

    def save_alert(self, alert: AlertRow) -> AlertRow:
        """Replaces an alert."""
        ...

    def list_alerts(
        self, tenant: str, *, before_id: int | None, limit: int, where: Mapping[str, str] | None = None
    ) -> list[AlertRow]:
        """The tenant's alerts newest first (by id), filtered by column equalities."""
        ...

    def create_incident(self, incident: IncidentRow) -> tuple[IncidentRow, bool]:
        """Stores an incident unless its (tenant, request_id) was stored before; returns the stored row and
        whether it is new."""
        ...

    def get_incident(self, tenant: str, incident_id: int) -> IncidentRow | None:
        """The tenant's incident, or None."""
        ...

    def save_incident(self, incident: IncidentRow) -> IncidentRow:
        """Replaces an incident."""
        ...

    def list_incidents(
        self, tenant: str, *, before_id: int | None, limit: int, where: Mapping[str, str] | None = None
    ) -> list[IncidentRow]:
        """The tenant's incidents newest first (by id), filtered by column equalities."""
        ...

    def save_forecasts(self, forecasts: Sequence[ForecastRow]) -> None:
        """Inserts or replaces the forecasts of these containers."""
        ...

    def get_forecasts(self, tenant: str, container_ids: Sequence[str]) -> dict[str, ForecastRow]:
        """The stored forecast of each of these containers that has one."""
        ...

    def get_policy(self, tenant: str) -> PolicyRow | None:
        """The tenant's stored selection policy, or None while it holds the defaults."""
        ...

    def save_policy(self, policy: PolicyRow) -> None:
        """Inserts or replaces the tenant's selection policy."""
        ...

    def insert_observations(
        self, observations: Sequence[ObservationRow], readings: Sequence[ReadingInsert]
    ) -> list[ObservationRow | None]:
        """Stores observations and the readings derived from them in one transaction; per observation,
        the stored row, or None when it was stored before."""
        ...

    def list_observations(
        self, tenant: str, *, before_id: int | None, limit: int, where: Mapping[str, str] | None = None
    ) -> list[ObservationRow]:
        """The tenant's observations newest first (by id), filtered by column equalities."""
        ...

    def save_plan(self, plan: PlanRow) -> None:
        """Stores a route plan."""
        ...

    def get_plan(self, tenant: str, plan_id: str) -> PlanRow | None:
        """Returns a route plan or None."""
        ...

    def list_plans(self, tenant: str, *, before: tuple[datetime, str] | None, limit: int) -> list[PlanRow]:
        """The tenant's plans newest first, strictly before the (create_time, id) key."""
        ...

    def save_operation(self, operation: OperationRow) -> None:
        """Inserts or replaces an operation."""
        ...

    def get_operation(self, operation_id: str) -> OperationRow | None:
        """Returns an operation (of any tenant: the caller checks its tenant) or None."""
        ...

    def find_operation_by_request(self, tenant: str, request_id: str) -> OperationRow | None:
        """The tenant's operation created with this idempotency key, if any."""
        ...

    def list_operations(
        self, tenant: str, *, before: tuple[datetime, str] | None, limit: int
    ) -> list[OperationRow]:
        """The tenant's operations newest first."""
        ...

    def unresolved_alert_counts(self) -> dict[tuple[str, str, str], int]:
        """Alerts not resolved, counted by (tenant, kind, state), over every tenant (for metrics)."""
        ...

    def unfinished_operations(self) -> list[OperationRow]:
        """Operations not done, to close them after a restart."""
        ...

    def close(self) -> None:
        """Releases connections."""
        ...
