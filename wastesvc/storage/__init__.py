"""Storage behind a small interface, so the servicers never see which database is underneath."""

from wastesvc.storage._dispatch import (
    DispatchStore,
    FieldEventRow,
    PlanStateRow,
    RecordedEvent,
    VisitStatusRow,
)
from wastesvc.storage._interface import IngestTarget, InsertOutcome, Page, ReadingInsert, Storage
from wastesvc.storage._sql import FULL_BEFORE, SqlStorage, open_storage
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
    "FULL_BEFORE",
    "AlertRow",
    "CollectionRow",
    "ContainerRow",
    "DepotRow",
    "DispatchStore",
    "FacilityRow",
    "FieldEventRow",
    "ForecastRow",
    "IncidentRow",
    "IngestTarget",
    "InsertOutcome",
    "ObservationRow",
    "OperationRow",
    "Page",
    "PendingAssessmentRow",
    "PlanRow",
    "PlanStateRow",
    "PolicyRow",
    "ReadingInsert",
    "ReadingRow",
    "RecordedEvent",
    "SqlStorage",
    "Storage",
    "VehicleRow",
    "VisitStatusRow",
    "open_storage",
]
