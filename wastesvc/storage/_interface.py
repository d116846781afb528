"""The storage interface the servicers and the domain depend on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from wastesvc.storage._tables import (
    ContainerRow,
    DepotRow,
    FacilityRow,
    ObservationRow,
    OperationRow,
    PlanRow,
    ReadingRow,
    VehicleRow,
)

__all__ = ["Page", "ReadingInsert", "ResourceRow", "Storage"]

ResourceRow = TypeVar("ResourceRow", ContainerRow, DepotRow, FacilityRow, VehicleRow)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; `last_key` is where the next page starts (None on the last page)."""

    items: list[T]
    last_key: str | None


@dataclass(frozen=True, slots=True)
class ReadingInsert:
    """A validated reading ready to store."""

    container_id: str
    sensor_id: str
    measure_time: datetime
    fill: float
    distance_mm: int | None
    battery_percent: float | None
    temperature_c: float | None
    tilted: bool


class Storage(Protocol):
    """Everything the service persists. Implementations must be safe to call from worker threads."""

    def create(self, row: ResourceRow) -> ResourceRow:
        """Inserts a resource row; raises AlreadyExists when the id is taken."""
        ...

    def get(self, kind: type[ResourceRow], row_id: str) -> ResourceRow | None:
        """Returns a resource row or None."""
        ...

    def get_many(self, kind: type[ResourceRow], row_ids: Sequence[str]) -> dict[str, ResourceRow]:
        """Returns the rows that exist among `row_ids`."""
        ...

    def list_page(
        self,
        kind: type[ResourceRow],
        *,
        after: str | None,
        limit: int,
        where: Mapping[str, str] | None = None,
    ) -> Page[ResourceRow]:
        """Rows ordered by id, starting after `after`, filtered by column equalities."""
        ...

    def count(self, kind: type[ResourceRow], where: Mapping[str, str] | None = None) -> int:
        """Number of rows matching the equalities."""
        ...

    def update(self, row: ResourceRow) -> ResourceRow:
        """Replaces a resource row; raises NotFound when it is gone."""
        ...

    def delete(self, kind: type[ResourceRow], row_id: str) -> bool:
        """Deletes a resource row (and, for a container, its readings); False when absent."""
        ...

    def container_ids_by_sensor(self, sensor_ids: Sequence[str]) -> dict[str, str]:
        """Maps sensor ids to the containers they are fitted to."""
        ...

    def insert_readings(self, readings: Sequence[ReadingInsert]) -> tuple[list[ReadingRow], int]:
        """Stores readings in one transaction; returns the rows newly stored and the duplicate count."""
        ...

    def list_readings(self, container_id: str, *, before: datetime | None, limit: int) -> list[ReadingRow]:
        """Readings of a container, newest first, strictly before `before`."""
        ...

    def latest_readings(self, container_ids: Sequence[str]) -> dict[str, ReadingRow]:
        """The newest reading of each container that has one."""
        ...

    def readings_since(self, since: datetime) -> list[ReadingRow]:
        """All readings measured at or after `since`, ordered by container then time."""
        ...

    def insert_observations(
        self, observations: Sequence[ObservationRow], readings: Sequence[ReadingInsert]
    ) -> tuple[list[ObservationRow], int]:
        """Stores observations and the readings derived from them in one transaction."""
        ...

    def list_observations(
        self, *, before_id: int | None, limit: int, where: Mapping[str, str] | None = None
    ) -> list[ObservationRow]:
        """Observations newest first (by id), filtered by column equalities."""
        ...

    def save_plan(self, plan: PlanRow) -> None:
        """Stores a route plan."""
        ...

    def get_plan(self, plan_id: str) -> PlanRow | None:
        """Returns a route plan or None."""
        ...

    def list_plans(self, *, before: tuple[datetime, str] | None, limit: int) -> list[PlanRow]:
        """Plans newest first, strictly before the (create_time, id) key."""
        ...

    def save_operation(self, operation: OperationRow) -> None:
        """Inserts or replaces an operation."""
        ...

    def get_operation(self, operation_id: str) -> OperationRow | None:
        """Returns an operation or None."""
        ...

    def find_operation_by_request(self, request_id: str) -> OperationRow | None:
        """The operation created with this idempotency key, if any."""
        ...

    def list_operations(self, *, before: tuple[datetime, str] | None, limit: int) -> list[OperationRow]:
        """Operations newest first."""
        ...

    def unfinished_operations(self) -> list[OperationRow]:
        """Operations not done, to close them after a restart."""
        ...

    def close(self) -> None:
        """Releases connections."""
        ...
