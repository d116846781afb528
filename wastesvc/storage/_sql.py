"""SQLModel/SQLAlchemy storage for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Engine, Table, and_, create_engine, delete, event, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from wastesvc.errors import AlreadyExists, NotFound
from wastesvc.storage._interface import Page, ReadingInsert, ResourceRow
from wastesvc.storage._tables import (
    ContainerRow,
    ObservationRow,
    OperationRow,
    PlanRow,
    ReadingRow,
    metadata,
)

__all__ = ["SqlStorage", "open_storage"]

# The Core tables behind the models, for executemany inserts (SQLModel types `__table__` loosely).
_READINGS: Table = ReadingRow.__table__  # type: ignore[attr-defined]
_OBSERVATIONS: Table = ObservationRow.__table__  # type: ignore[attr-defined]


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while ingest writes; FULL because an acknowledged reading is a promise to
    # the gateway that it survives even a power cut (REFERENCE §4).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_storage(db_url: str) -> SqlStorage:
    """Opens (and creates the schema of) the database at `db_url`."""
    url = make_url(db_url)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    elif url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    metadata.create_all(engine)
    return SqlStorage(engine)


def _now() -> datetime:
    return datetime.now(UTC)


class SqlStorage:
    """The `Storage` interface on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # Resources (containers, depots, facilities, vehicles) ---------------------------------------------

    def create(self, row: ResourceRow) -> ResourceRow:
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(type(row), row.id) is not None:
                raise AlreadyExists(f"{type(row).__tablename__}/{row.id}")
            session.add(row)
            try:
                session.commit()
            except IntegrityError as exc:
                raise AlreadyExists(f"{type(row).__tablename__}/{row.id}") from exc
            return row

    def get(self, kind: type[ResourceRow], row_id: str) -> ResourceRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(kind, row_id)

    def get_many(self, kind: type[ResourceRow], row_ids: Sequence[str]) -> dict[str, ResourceRow]:
        if not row_ids:
            return {}
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.execute(select(kind).where(col(kind.id).in_(list(row_ids)))).scalars().all()
            return {row.id: row for row in rows}

    def _filtered(self, kind: type[ResourceRow], where: Mapping[str, str] | None) -> list[Any]:
        return [getattr(kind, column) == value for column, value in (where or {}).items()]

    def list_page(
        self,
        kind: type[ResourceRow],
        *,
        after: str | None,
        limit: int,
        where: Mapping[str, str] | None = None,
    ) -> Page[ResourceRow]:
        conditions = self._filtered(kind, where)
        if after is not None:
            conditions.append(col(kind.id) > after)
        query = select(kind).where(*conditions).order_by(col(kind.id)).limit(limit + 1)
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(session.execute(query).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=rows, last_key=rows[-1].id if more and rows else None)

    def count(self, kind: type[ResourceRow], where: Mapping[str, str] | None = None) -> int:
        query = select(func.count()).select_from(kind).where(*self._filtered(kind, where))
        with Session(self.engine) as session:
            return int(session.execute(query).scalar_one())

    def update(self, row: ResourceRow) -> ResourceRow:
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(type(row), row.id) is None:
                raise NotFound(f"{type(row).__tablename__}/{row.id}")
            merged = session.merge(row)
            session.commit()
            return merged

    def delete(self, kind: type[ResourceRow], row_id: str) -> bool:
        with Session(self.engine) as session:
            if kind is ContainerRow:
                # Explicit, because SQLite only cascades when foreign keys are on for the connection.
                session.execute(delete(ReadingRow).where(col(ReadingRow.container_id) == row_id))
            result: CursorResult[Any] = session.execute(delete(kind).where(col(kind.id) == row_id))  # type: ignore[assignment]
            deleted = result.rowcount
            session.commit()
            return bool(deleted)

    # Readings -------------------------------------------------------------------------------------

    def container_ids_by_sensor(self, sensor_ids: Sequence[str]) -> dict[str, str]:
        if not sensor_ids:
            return {}
        query = select(col(ContainerRow.sensor_id), col(ContainerRow.id)).where(
            col(ContainerRow.sensor_id).in_(list(set(sensor_ids)))
        )
        with Session(self.engine) as session:
            return {sensor: cid for sensor, cid in session.execute(query).all() if sensor}

    def _insert_ignore(self, table: Any) -> Any:
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    def _store_readings(
        self, session: Session, readings: Sequence[ReadingInsert]
    ) -> tuple[list[ReadingRow], int]:
        if not readings:
            return [], 0
        created = _now()
        values = [{**asdict(r), "create_time": created} for r in readings]
        # Core executemany with ON CONFLICT DO NOTHING: per-row ORM inserts are ~15× slower (REFERENCE §4),
        # and the unique (container, time) key makes re-delivery a no-op.
        statement = self._insert_ignore(_READINGS).returning(
            _READINGS.c.id,
            _READINGS.c.container_id,
            _READINGS.c.measure_time,
        )
        returned = session.execute(statement, values).all()
        ids = {(cid, when): rid for rid, cid, when in returned}
        stored = [
            ReadingRow(id=ids[(r.container_id, r.measure_time)], create_time=created, **asdict(r))
            for r in readings
            if (r.container_id, r.measure_time) in ids
        ]
        return stored, len(readings) - len(stored)

    def insert_readings(self, readings: Sequence[ReadingInsert]) -> tuple[list[ReadingRow], int]:
        unique = list({(r.container_id, r.measure_time): r for r in readings}.values())
        with Session(self.engine) as session:
            stored, duplicates = self._store_readings(session, unique)
            session.commit()
        return stored, duplicates + len(readings) - len(unique)

    def list_readings(self, container_id: str, *, before: datetime | None, limit: int) -> list[ReadingRow]:
        conditions = [col(ReadingRow.container_id) == container_id]
        if before is not None:
            conditions.append(col(ReadingRow.measure_time) < before)
        query = (
            select(ReadingRow).where(*conditions).order_by(col(ReadingRow.measure_time).desc()).limit(limit)
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    def latest_readings(self, container_ids: Sequence[str]) -> dict[str, ReadingRow]:
        if not container_ids:
            return {}
        newest = (
            select(col(ReadingRow.container_id), func.max(col(ReadingRow.measure_time)).label("newest"))
            .where(col(ReadingRow.container_id).in_(list(container_ids)))
            .group_by(col(ReadingRow.container_id))
            .subquery()
        )
        query = select(ReadingRow).join(
            newest,
            and_(
                col(ReadingRow.container_id) == newest.c.container_id,
                col(ReadingRow.measure_time) == newest.c.newest,
            ),
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return {row.container_id: row for row in session.execute(query).scalars().all()}

    def readings_since(self, since: datetime) -> list[ReadingRow]:
        query = (
            select(ReadingRow)
            .where(col(ReadingRow.measure_time) >= since)
            .order_by(col(ReadingRow.container_id), col(ReadingRow.measure_time))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    # Observations ---------------------------------------------------------------------------------

    def insert_observations(
        self, observations: Sequence[ObservationRow], readings: Sequence[ReadingInsert]
    ) -> tuple[list[ObservationRow], int]:
        key_columns = ("source", "entity_id", "property", "observe_time")
        unique = list({tuple(getattr(o, k) for k in key_columns): o for o in observations}.values())
        created = _now()
        values = [{**o.model_dump(exclude={"id", "create_time"}), "create_time": created} for o in unique]
        table = _OBSERVATIONS
        with Session(self.engine) as session:
            returned = session.execute(
                self._insert_ignore(table).returning(table.c.id, *(table.c[k] for k in key_columns)), values
            ).all()
            ids = {tuple(row[1:]): row[0] for row in returned}
            self._store_readings(
                session, list({(r.container_id, r.measure_time): r for r in readings}.values())
            )
            session.commit()
        stored = []
        for o in unique:
            key = tuple(getattr(o, k) for k in key_columns)
            if key in ids:
                stored.append(o.model_copy(update={"id": ids[key], "create_time": created}))
        return stored, len(observations) - len(stored)

    def list_observations(
        self, *, before_id: int | None, limit: int, where: Mapping[str, str] | None = None
    ) -> list[ObservationRow]:
        conditions = [getattr(ObservationRow, c) == v for c, v in (where or {}).items()]
        if before_id is not None:
            conditions.append(col(ObservationRow.id) < before_id)
        query = select(ObservationRow).where(*conditions).order_by(col(ObservationRow.id).desc()).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    # Plans and operations -------------------------------------------------------------------------

    def save_plan(self, plan: PlanRow) -> None:
        with Session(self.engine) as session:
            session.merge(plan)
            session.commit()

    def get_plan(self, plan_id: str) -> PlanRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(PlanRow, plan_id)

    @staticmethod
    def _newest_first(kind: type[PlanRow] | type[OperationRow], before: tuple[datetime, str] | None) -> Any:
        query = select(kind)
        if before is not None:
            when, key = before
            query = query.where(
                or_(
                    col(kind.create_time) < when,
                    and_(col(kind.create_time) == when, col(kind.id) < key),
                )
            )
        return query.order_by(col(kind.create_time).desc(), col(kind.id).desc())

    def list_plans(self, *, before: tuple[datetime, str] | None, limit: int) -> list[PlanRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(self._newest_first(PlanRow, before).limit(limit)).scalars().all())

    def save_operation(self, operation: OperationRow) -> None:
        operation.update_time = _now()
        with Session(self.engine) as session:
            session.merge(operation)
            session.commit()

    def get_operation(self, operation_id: str) -> OperationRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(OperationRow, operation_id)

    def find_operation_by_request(self, request_id: str) -> OperationRow | None:
        query = select(OperationRow).where(col(OperationRow.request_id) == request_id)
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(query).scalars().first()

    def list_operations(self, *, before: tuple[datetime, str] | None, limit: int) -> list[OperationRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                session.execute(self._newest_first(OperationRow, before).limit(limit)).scalars().all()
            )

    def unfinished_operations(self) -> list[OperationRow]:
        query = select(OperationRow).where(col(OperationRow.done).is_(False))
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())
