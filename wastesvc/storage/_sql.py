"""SQLModel/SQLAlchemy storage for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    CursorResult,
    Engine,
    Table,
    and_,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from wastesvc.errors import Aborted, AlreadyExists, FailedPrecondition, NotFound
from wastesvc.storage._interface import InsertOutcome, Page, ReadingInsert, ResourceRow
from wastesvc.storage._tables import (
    CollectionRow,
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
_COLLECTIONS: Table = CollectionRow.__table__  # type: ignore[attr-defined]


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
    # Bound values are readings and addresses: they stay out of exception messages and logs.
    engine = create_engine(url, hide_parameters=True, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    metadata.create_all(engine)
    return SqlStorage(engine)


def _now() -> datetime:
    return datetime.now(UTC)


_READING_FIELDS = tuple(f.name for f in fields(ReadingInsert))
_READING_COLUMNS = (*_READING_FIELDS, "create_time")


def _reading_values(reading: ReadingInsert) -> dict[str, Any]:
    # dataclasses.asdict deep-copies every value: it was most of the time of a batch insert.
    return {name: getattr(reading, name) for name in _READING_FIELDS}


# PostgreSQL batches go through COPY into a session-local table, then one INSERT … SELECT … ON CONFLICT
# DO NOTHING: no per-row statement parameters to build, and the same idempotency as the executemany path.
_STAGE = "readings_in"
_STAGE_DDL = f"""CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
    tenant text, container_id text, sensor_id text, measure_time timestamp, fill double precision,
    distance_mm integer, battery_percent double precision, temperature_c double precision,
    tilted boolean, create_time timestamp) ON COMMIT DELETE ROWS"""
_COLUMN_LIST = ", ".join(_READING_COLUMNS)
_STAGE_INSERT = (
    f"INSERT INTO readings ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGE} "
    "ON CONFLICT DO NOTHING RETURNING tenant, container_id, measure_time"
)


def _copy_new_readings(
    session: Session, readings: Sequence[ReadingInsert], created: datetime
) -> set[tuple[str, str, datetime]]:
    """Stores `readings` (distinct keys) with COPY; returns the keys that were new."""
    connection = session.connection()
    connection.exec_driver_sql(_STAGE_DDL)
    connection.exec_driver_sql(f"TRUNCATE {_STAGE}")
    naive_created = created.astimezone(UTC).replace(tzinfo=None)
    raw: Any = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {_STAGE} ({_COLUMN_LIST}) FROM STDIN") as copy:
        for r in readings:
            copy.write_row(
                (
                    r.tenant,
                    r.container_id,
                    r.sensor_id,
                    r.measure_time.astimezone(UTC).replace(tzinfo=None),
                    r.fill,
                    r.distance_mm,
                    r.battery_percent,
                    r.temperature_c,
                    r.tilted,
                    naive_created,
                )
            )
    returned = connection.exec_driver_sql(_STAGE_INSERT).all()
    return {(tenant, cid, when.replace(tzinfo=UTC)) for tenant, cid, when in returned}


def _conflict(what: str) -> Aborted:
    return Aborted(f"a concurrent change conflicted with this write of {what}; retry the call")


class SqlStorage:
    """The `Storage` interface on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # Resources (containers, depots, facilities, vehicles) ---------------------------------------------

    @staticmethod
    def _name(row: ResourceRow) -> str:
        return f"tenants/{row.tenant}/{type(row).__tablename__}/{row.id}"

    def create(self, row: ResourceRow) -> ResourceRow:
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(type(row), (row.tenant, row.id)) is not None:
                raise AlreadyExists(self._name(row))
            session.add(row)
            try:
                session.commit()
            except IntegrityError as exc:
                session.rollback()
                if session.get(type(row), (row.tenant, row.id)) is not None:
                    raise AlreadyExists(self._name(row)) from exc
                # Another constraint (a sensor id, a depot) was taken or removed by a concurrent call.
                raise _conflict(self._name(row)) from exc
            return row

    def get(self, kind: type[ResourceRow], tenant: str, row_id: str) -> ResourceRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(kind, (tenant, row_id))

    def get_many(
        self, kind: type[ResourceRow], tenant: str, row_ids: Sequence[str]
    ) -> dict[str, ResourceRow]:
        if not row_ids:
            return {}
        query = select(kind).where(col(kind.tenant) == tenant, col(kind.id).in_(list(row_ids)))
        with Session(self.engine, expire_on_commit=False) as session:
            return {row.id: row for row in session.execute(query).scalars().all()}

    def _filtered(self, kind: type[ResourceRow], tenant: str, where: Mapping[str, Any] | None) -> list[Any]:
        conditions = [col(kind.tenant) == tenant]
        for column, value in (where or {}).items():
            # A tuple is a set of accepted values (a commune agent's communes); a string an equality.
            attribute = getattr(kind, column)
            conditions.append(attribute.in_(value) if isinstance(value, tuple) else attribute == value)
        return conditions

    def list_page(
        self,
        kind: type[ResourceRow],
        tenant: str,
        *,
        after: str | None,
        limit: int,
        where: Mapping[str, Any] | None = None,
    ) -> Page[ResourceRow]:
        conditions = self._filtered(kind, tenant, where)
        if after is not None:
            conditions.append(col(kind.id) > after)
        query = select(kind).where(*conditions).order_by(col(kind.id)).limit(limit + 1)
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(session.execute(query).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=rows, last_key=rows[-1].id if more and rows else None)

    def count(self, kind: type[ResourceRow], tenant: str, where: Mapping[str, Any] | None = None) -> int:
        query = select(func.count()).select_from(kind).where(*self._filtered(kind, tenant, where))
        with Session(self.engine) as session:
            return int(session.execute(query).scalar_one())

    def update(self, row: ResourceRow) -> ResourceRow:
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(type(row), (row.tenant, row.id)) is None:
                raise NotFound(self._name(row))
            merged = session.merge(row)
            try:
                session.commit()
            except IntegrityError as exc:
                raise _conflict(self._name(row)) from exc
            return merged

    def delete(self, kind: type[ResourceRow], tenant: str, row_id: str) -> bool:
        with Session(self.engine) as session:
            if kind is ContainerRow:
                # Explicit, because SQLite only cascades when foreign keys are on for the connection.
                for child in (ReadingRow, CollectionRow):
                    session.execute(
                        delete(child).where(col(child.tenant) == tenant, col(child.container_id) == row_id)
                    )
            statement = delete(kind).where(col(kind.tenant) == tenant, col(kind.id) == row_id)
            try:
                result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
                deleted = result.rowcount
                session.commit()
            except IntegrityError as exc:
                # A row referencing this one was created meanwhile (a vehicle on a depot being deleted).
                raise FailedPrecondition(
                    f"tenants/{tenant}/{kind.__tablename__}/{row_id} is still referenced",
                    reason="RESOURCE_IN_USE",
                ) from exc
            return bool(deleted)

    # Readings -------------------------------------------------------------------------------------

    def container_ids_by_sensor(self, tenant: str, sensor_ids: Sequence[str]) -> dict[str, str]:
        if not sensor_ids:
            return {}
        query = select(col(ContainerRow.sensor_id), col(ContainerRow.id)).where(
            col(ContainerRow.tenant) == tenant, col(ContainerRow.sensor_id).in_(list(set(sensor_ids)))
        )
        with Session(self.engine) as session:
            return {sensor: cid for sensor, cid in session.execute(query).all() if sensor}

    def _insert_ignore(self, table: Any) -> Any:
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    def _store_readings(
        self, session: Session, readings: Sequence[ReadingInsert], created: datetime | None = None
    ) -> list[InsertOutcome]:
        """Stores new readings and tells, per reading, whether it was new, a re-delivery or a conflict."""
        if not readings:
            return []
        created = created or _now()
        outcomes: list[InsertOutcome | None] = [None] * len(readings)
        first: dict[tuple[str, str, datetime], int] = {}
        for i, r in enumerate(readings):
            key = (r.tenant, r.container_id, r.measure_time)
            if key in first:
                earlier = readings[first[key]]
                outcomes[i] = InsertOutcome.DUPLICATE if r.same_values(earlier) else InsertOutcome.CONFLICT
            else:
                first[key] = i
        fresh = [readings[i] for i in first.values()]
        if self._dialect == "postgresql":
            inserted = _copy_new_readings(session, fresh, created)
        else:
            # Core executemany with ON CONFLICT DO NOTHING: per-row ORM inserts are ~15× slower
            # (REFERENCE §4), and the unique (tenant, container, time) key makes re-delivery a no-op.
            values = [{**_reading_values(r), "create_time": created} for r in fresh]
            statement = self._insert_ignore(_READINGS).returning(
                _READINGS.c.tenant, _READINGS.c.container_id, _READINGS.c.measure_time
            )
            inserted = {tuple(row) for row in session.execute(statement, values).all()}
        existing = self._existing_readings(session, [k for k in first if k not in inserted])
        for key, i in first.items():
            if key in inserted:
                outcomes[i] = InsertOutcome.STORED
            else:
                same = readings[i].same_values(existing[key])
                outcomes[i] = InsertOutcome.DUPLICATE if same else InsertOutcome.CONFLICT
        return [o for o in outcomes if o is not None]

    def _existing_readings(
        self, session: Session, keys: Sequence[tuple[str, str, datetime]]
    ) -> dict[tuple[str, str, datetime], ReadingInsert]:
        if not keys:
            return {}
        table = _READINGS
        clause = tuple_(table.c.tenant, table.c.container_id, table.c.measure_time).in_(list(keys))
        columns = [table.c[f.name] for f in fields(ReadingInsert)]
        rows = session.execute(select(*columns).where(clause)).all()
        return {(r.tenant, r.container_id, r.measure_time): ReadingInsert(*r) for r in rows}

    def insert_readings(self, readings: Sequence[ReadingInsert]) -> tuple[list[InsertOutcome], datetime]:
        created = _now()
        with Session(self.engine) as session:
            try:
                outcomes = self._store_readings(session, readings, created)
                session.commit()
            except IntegrityError as exc:
                # A container was deleted while its readings came in; a retry reports it per item.
                raise _conflict("readings") from exc
        return outcomes, created

    def get_reading(self, tenant: str, container_id: str, measure_time: datetime) -> ReadingRow | None:
        query = select(ReadingRow).where(
            col(ReadingRow.tenant) == tenant,
            col(ReadingRow.container_id) == container_id,
            col(ReadingRow.measure_time) == measure_time,
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(query).scalars().first()

    def list_readings(
        self, tenant: str, container_id: str, *, before: datetime | None, limit: int
    ) -> list[ReadingRow]:
        conditions = [col(ReadingRow.tenant) == tenant, col(ReadingRow.container_id) == container_id]
        if before is not None:
            conditions.append(col(ReadingRow.measure_time) < before)
        query = (
            select(ReadingRow).where(*conditions).order_by(col(ReadingRow.measure_time).desc()).limit(limit)
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    def latest_readings(self, tenant: str, container_ids: Sequence[str]) -> dict[str, ReadingRow]:
        if not container_ids:
            return {}
        newest = (
            select(col(ReadingRow.container_id), func.max(col(ReadingRow.measure_time)).label("newest"))
            .where(col(ReadingRow.tenant) == tenant, col(ReadingRow.container_id).in_(list(container_ids)))
            .group_by(col(ReadingRow.container_id))
            .subquery()
        )
        query = select(ReadingRow).join(
            newest,
            and_(
                col(ReadingRow.tenant) == tenant,
                col(ReadingRow.container_id) == newest.c.container_id,
                col(ReadingRow.measure_time) == newest.c.newest,
            ),
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return {row.container_id: row for row in session.execute(query).scalars().all()}

    def readings_since(self, tenant: str, since: datetime) -> list[ReadingRow]:
        query = (
            select(ReadingRow)
            .where(col(ReadingRow.tenant) == tenant, col(ReadingRow.measure_time) >= since)
            .order_by(col(ReadingRow.container_id), col(ReadingRow.measure_time))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    # Collections ----------------------------------------------------------------------------------

    def insert_collections(self, collections: Sequence[CollectionRow]) -> list[bool]:
        if not collections:
            return []
        created = _now()
        key = ("tenant", "container_id", "source", "collect_time")
        values = [
            {**c.model_dump(exclude={"id", "create_time"}), "create_time": created} for c in collections
        ]
        table = _COLLECTIONS
        statement = self._insert_ignore(table).returning(*(table.c[k] for k in key))
        with Session(self.engine) as session:
            inserted = {tuple(row) for row in session.execute(statement, values).all()}
            latest: dict[tuple[str, str], datetime] = {}
            for c in collections:
                at = latest.get((c.tenant, c.container_id))
                latest[(c.tenant, c.container_id)] = c.collect_time if at is None else max(at, c.collect_time)
            for (tenant, container_id), when in latest.items():
                session.execute(
                    update(ContainerRow)
                    .where(
                        col(ContainerRow.tenant) == tenant,
                        col(ContainerRow.id) == container_id,
                        or_(
                            col(ContainerRow.last_emptied_time).is_(None),
                            col(ContainerRow.last_emptied_time) < when,
                        ),
                    )
                    .values(last_emptied_time=when)
                )
            session.commit()
        return [tuple(getattr(c, k) for k in key) in inserted for c in collections]

    def list_collections(
        self, tenant: str, container_ids: Sequence[str], *, since: datetime | None = None
    ) -> list[CollectionRow]:
        conditions = [col(CollectionRow.tenant) == tenant]
        if container_ids:
            conditions.append(col(CollectionRow.container_id).in_(list(container_ids)))
        if since is not None:
            conditions.append(col(CollectionRow.collect_time) >= since)
        query = select(CollectionRow).where(*conditions).order_by(col(CollectionRow.collect_time))
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    # Observations ---------------------------------------------------------------------------------

    def insert_observations(
        self, observations: Sequence[ObservationRow], readings: Sequence[ReadingInsert]
    ) -> list[ObservationRow | None]:
        key_columns = ("tenant", "source", "entity_id", "property", "observe_time")
        first: dict[tuple[Any, ...], ObservationRow] = {}
        for o in observations:
            first.setdefault(tuple(getattr(o, k) for k in key_columns), o)
        created = _now()
        values = [
            {**o.model_dump(exclude={"id", "create_time"}), "create_time": created} for o in first.values()
        ]
        table = _OBSERVATIONS
        statement = self._insert_ignore(table).returning(table.c.id, *(table.c[k] for k in key_columns))
        with Session(self.engine) as session:
            returned = session.execute(statement, values).all() if values else []
            ids = {tuple(row[1:]): row[0] for row in returned}
            self._store_readings(session, readings)
            session.commit()
        result: list[ObservationRow | None] = []
        for o in observations:
            key = tuple(getattr(o, k) for k in key_columns)
            new = key in ids and first[key] is o
            result.append(o.model_copy(update={"id": ids[key], "create_time": created}) if new else None)
        return result

    def list_observations(
        self, tenant: str, *, before_id: int | None, limit: int, where: Mapping[str, str] | None = None
    ) -> list[ObservationRow]:
        conditions = [col(ObservationRow.tenant) == tenant]
        conditions += [getattr(ObservationRow, c) == v for c, v in (where or {}).items()]
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

    def get_plan(self, tenant: str, plan_id: str) -> PlanRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(PlanRow, (tenant, plan_id))

    @staticmethod
    def _newest_first(
        kind: type[PlanRow] | type[OperationRow], tenant: str, before: tuple[datetime, str] | None
    ) -> Any:
        query = select(kind).where(col(kind.tenant) == tenant)
        if before is not None:
            when, key = before
            query = query.where(
                or_(
                    col(kind.create_time) < when,
                    and_(col(kind.create_time) == when, col(kind.id) < key),
                )
            )
        return query.order_by(col(kind.create_time).desc(), col(kind.id).desc())

    def list_plans(self, tenant: str, *, before: tuple[datetime, str] | None, limit: int) -> list[PlanRow]:
        query = self._newest_first(PlanRow, tenant, before).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    def save_operation(self, operation: OperationRow) -> None:
        operation.update_time = _now()
        with Session(self.engine) as session:
            session.merge(operation)
            try:
                session.commit()
            except IntegrityError as exc:  # the same request_id recorded by a concurrent call
                raise _conflict("operations") from exc

    def get_operation(self, operation_id: str) -> OperationRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(OperationRow, operation_id)

    def find_operation_by_request(self, tenant: str, request_id: str) -> OperationRow | None:
        query = select(OperationRow).where(
            col(OperationRow.tenant) == tenant, col(OperationRow.request_id) == request_id
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(query).scalars().first()

    def list_operations(
        self, tenant: str, *, before: tuple[datetime, str] | None, limit: int
    ) -> list[OperationRow]:
        query = self._newest_first(OperationRow, tenant, before).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    def unfinished_operations(self) -> list[OperationRow]:
        query = select(OperationRow).where(col(OperationRow.done).is_(False))
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())
