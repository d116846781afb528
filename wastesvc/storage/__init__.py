"""Storage behind a small interface, so the servicers never see which database is underneath."""

from wastesvc.storage._dispatch import (
    DispatchStore,
    FieldEventRow,
    PlanStateRow,
    RecordedEvent,
    VisitStatusRow,
)
from wastesvc.storage._interface import InsertOutcome, Page, ReadingInsert, Storage
from wastesvc.storage._sql import SqlStorage, open_storage
from wastesvc.storage._tables import (
    CollectionRow,
    ContainerRow,
    DepotRow,
    FacilityRow,
    ObservationRow,
    OperationRow,
    PlanRow,
    ReadingRow,
    VehicleRow,
)

__all__ = [
    "CollectionRow",
    "ContainerRow",
    "DepotRow",
    "DispatchStore",
    "FacilityRow",
    "FieldEventRow",
    "InsertOutcome",
    "ObservationRow",
    "OperationRow",
    "Page",
    "PlanRow",
    "PlanStateRow",
    "ReadingInsert",
    "ReadingRow",
    "RecordedEvent",
    "SqlStorage",
    "Storage",
    "VehicleRow",
    "VisitStatusRow",
    "open_storage",
]
