"""What changes during a plan's day, kept beside the plan body: its state, visit statuses, field events.

A plan's body is written once by the planner; the dispatch day only adds rows here, so a plan is still read
whole and the life cycle never rewrites it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Column, Engine, Index, LargeBinary, UniqueConstraint, and_, func, or_, select
from sqlmodel import Field, Session, SQLModel, col

from wastesvc.storage._tables import PlanRow, UtcDateTime

__all__ = ["DispatchStore", "FieldEventRow", "PlanStateRow", "RecordedEvent", "VisitStatusRow"]


def _utc(nullable: bool) -> datetime:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable))  # type: ignore[no-any-return]


class PlanStateRow(SQLModel, table=True):
    """A plan's place in its life cycle; a plan without a row is a DRAFT of version 1."""

    __tablename__ = "route_plan_states"

    tenant: str = Field(primary_key=True)
    plan_id: str = Field(primary_key=True)
    state: str = "DRAFT"  # DRAFT, PUBLISHED, IN_PROGRESS, CLOSED
    version: int = 1
    previous_plan: str = ""  # the plan id this one re-plans
    # Why a plan was closed ("replaced by …", "closed by a dispatcher").
    detail: str = ""
    update_time: datetime = _utc(nullable=False)


class VisitStatusRow(SQLModel, table=True):
    """What the crew reported of a visit, with what a completion said (to spot a contradiction)."""

    __tablename__ = "visit_statuses"

    tenant: str = Field(primary_key=True)
    plan_id: str = Field(primary_key=True)
    visit_id: str = Field(primary_key=True)
    vehicle_id: str
    status: str  # ARRIVED, DONE, SKIPPED
    skip_cause: str = ""
    event_time: datetime = _utc(nullable=False)
    weighed_kg: float = 0.0
    observed_fill: float | None = None


class FieldEventRow(SQLModel, table=True):
    """One field event as received; (tenant, plan, event id) is its idempotency key."""

    __tablename__ = "field_events"
    __table_args__ = (
        UniqueConstraint("tenant", "plan_id", "event_id", name="uq_field_events_key"),
        Index("ix_field_events_vehicle_time", "tenant", "plan_id", "vehicle_id", "event_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    plan_id: str
    event_id: str
    vehicle_id: str
    kind: str
    visit_id: str = ""
    event_time: datetime = _utc(nullable=False)
    # The FieldEvent message as received, to tell a re-send from a conflicting event.
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    create_time: datetime = _utc(nullable=False)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """What `DispatchStore.record` wrote for one event."""

    event: FieldEventRow
    status: VisitStatusRow | None
    state: PlanStateRow


class DispatchStore:
    """Plan states, visit statuses and field events on the service's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Plan states ----------------------------------------------------------------------------------

    def state(self, tenant: str, plan_id: str) -> PlanStateRow:
        """The plan's state row, or the DRAFT a plan starts as."""
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(PlanStateRow, (tenant, plan_id))
        return row or PlanStateRow(tenant=tenant, plan_id=plan_id, update_time=datetime.now(UTC))

    def states(self, tenant: str, plan_ids: Sequence[str]) -> dict[str, PlanStateRow]:
        """State rows of these plans (those without one are DRAFTs)."""
        query = select(PlanStateRow).where(
            col(PlanStateRow.tenant) == tenant, col(PlanStateRow.plan_id).in_(list(plan_ids))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return {r.plan_id: r for r in session.execute(query).scalars().all()}

    def save_state(self, *rows: PlanStateRow) -> None:
        """Inserts or replaces state rows in one transaction."""
        with Session(self.engine) as session:
            for row in rows:
                row.update_time = datetime.now(UTC)
                session.merge(row)
            session.commit()

    def list_plans(
        self,
        tenant: str,
        *,
        before: tuple[datetime, str] | None,
        limit: int,
        service_date: date | None = None,
        state: str | None = None,
    ) -> list[PlanRow]:
        """The tenant's plans newest first, strictly before the (create_time, id) key, filtered."""
        query = (
            select(PlanRow)
            .outerjoin(
                PlanStateRow,
                and_(
                    col(PlanStateRow.tenant) == col(PlanRow.tenant),
                    col(PlanStateRow.plan_id) == col(PlanRow.id),
                ),
            )
            .where(col(PlanRow.tenant) == tenant)
        )
        if service_date is not None:
            query = query.where(col(PlanRow.service_date) == service_date)
        if state is not None:
            query = query.where(func.coalesce(col(PlanStateRow.state), "DRAFT") == state)
        if before is not None:
            when, key = before
            query = query.where(
                or_(
                    col(PlanRow.create_time) < when,
                    and_(col(PlanRow.create_time) == when, col(PlanRow.id) < key),
                )
            )
        query = query.order_by(col(PlanRow.create_time).desc(), col(PlanRow.id).desc()).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    # Visits and events ----------------------------------------------------------------------------

    def statuses(self, tenant: str, plan_id: str) -> dict[str, VisitStatusRow]:
        """The reported visits of a plan by visit id."""
        query = select(VisitStatusRow).where(
            col(VisitStatusRow.tenant) == tenant, col(VisitStatusRow.plan_id) == plan_id
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return {r.visit_id: r for r in session.execute(query).scalars().all()}

    def save_statuses(self, rows: Sequence[VisitStatusRow]) -> None:
        """Inserts or replaces visit statuses (a re-plan carries the done visits over)."""
        with Session(self.engine) as session:
            for row in rows:
                session.merge(row)
            session.commit()

    def find_event(self, tenant: str, plan_id: str, event_id: str) -> FieldEventRow | None:
        query = select(FieldEventRow).where(
            col(FieldEventRow.tenant) == tenant,
            col(FieldEventRow.plan_id) == plan_id,
            col(FieldEventRow.event_id) == event_id,
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(query).scalars().first()

    def events(self, tenant: str, plan_id: str, vehicle_id: str | None = None) -> list[FieldEventRow]:
        """A plan's events ordered per vehicle by event time (then arrival)."""
        query = select(FieldEventRow).where(
            col(FieldEventRow.tenant) == tenant, col(FieldEventRow.plan_id) == plan_id
        )
        if vehicle_id is not None:
            query = query.where(col(FieldEventRow.vehicle_id) == vehicle_id)
        query = query.order_by(
            col(FieldEventRow.vehicle_id), col(FieldEventRow.event_time), col(FieldEventRow.id)
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    def record(
        self,
        event: FieldEventRow,
        status: VisitStatusRow | None,
        state: PlanStateRow,
    ) -> RecordedEvent:
        """Stores an event, the visit status it sets and the plan's state in one transaction.

        The collections of a completed visit are stored by the caller through `Storage.insert_collections`
        right after, which is idempotent: a crash in between is mended by the sender's re-send.
        """
        now = datetime.now(UTC)
        event.create_time = now
        state.update_time = now
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(event)
            if status is not None:
                session.merge(status)
            session.merge(state)
            session.commit()
            session.refresh(event)
        return RecordedEvent(event, status, state)
