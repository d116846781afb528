"""SQLModel/SQLAlchemy storage for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
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
from wastesvc.storage._interface import (
    CollectionFilter,
    IngestTarget,
    InsertOutcome,
    Page,
    ReadingInsert,
    ResourceRow,
)
from wastesvc.storage._migrate import upgrade
from wastesvc.storage._tables import (
    AlertRow,
    CollectionRow,
    ContainerRow,
    ForecastRow,
    IncidentRow,
    ObservationRow,
    OperationRow,
    PendingAssessmentRow,
    PlanRow,
    PolicyRow,
    ReadingRow,
)

__all__ = ["FULL_BEFORE", "SqlStorage", "open_storage"]

# The one listing filter that is not a column equality: containers forecast to be full before a time.
FULL_BEFORE = "predicted_full_before"

# The Core tables behind the models, for executemany inserts (SQLModel types `__table__` loosely).
_READINGS: Table = ReadingRow.__table__  # type: ignore[attr-defined]
_OBSERVATIONS: Table = ObservationRow.__table__  # type: ignore[attr-defined]
_COLLECTIONS: Table = CollectionRow.__table__  # type: ignore[attr-defined]
_ALERTS: Table = AlertRow.__table__  # type: ignore[attr-defined]
_OPERATIONS: Table = OperationRow.__table__  # type: ignore[attr-defined]
_CONTAINERS: Table = ContainerRow.__table__  # type: ignore[attr-defined]
_PENDING: Table = PendingAssessmentRow.__table__  # type: ignore[attr-defined]


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while ingest writes; FULL because an acknowledged reading is a promise to
    # the gateway that it survives even a power cut (REFERENCE §4).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_storage(db_url: str, *, legacy_tenant: str = "grand-soissons") -> SqlStorage:
    """Opens the database at `db_url`, bringing its schema to the newest (`_migrate.upgrade`)."""
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
    upgrade(engine, legacy_tenant=legacy_tenant)
    return SqlStorage(engine)


def _now() -> datetime:
    return datetime.now(UTC)


_READING_FIELDS = ReadingInsert._fields
_READING_COLUMNS = (*_READING_FIELDS, "create_time")
_COLUMN_LIST = ", ".join(_READING_COLUMNS)

# PostgreSQL batches are copied (binary COPY, the rows as they are) into a temporary table of the
# connection, then moved into the readings in one INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING: no
# per-row statement parameters, and the same idempotency and per-reading outcomes as before. The staging
# table empties itself at each commit; created once per connection (IF NOT EXISTS).
_STAGE_TYPES = ("text", "text", "text", "timestamptz", "float8", "int4", "float8", "float8", "bool", "text")
_STAGE_CREATE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS readings_in ("
    + ", ".join(f"{name} {kind}" for name, kind in zip(_READING_FIELDS, _STAGE_TYPES, strict=True))
    + ") ON COMMIT DELETE ROWS"
)
_STAGE_COPY = "COPY readings_in FROM STDIN (FORMAT BINARY)"
_STAGE_MOVE = (
    f"INSERT INTO readings ({_COLUMN_LIST}) SELECT "
    + ", ".join("measure_time AT TIME ZONE 'UTC'" if f == "measure_time" else f for f in _READING_FIELDS)
    + ", %s::timestamp FROM readings_in ON CONFLICT DO NOTHING RETURNING tenant, container_id, measure_time"
)

# Small PostgreSQL batches (coalesced unary calls) are one INSERT … SELECT FROM unnest(column arrays): one
# round trip where the staging table takes three.
_SMALL_BATCH = 64
_ARRAYS_INSERT = (
    f"INSERT INTO readings ({_COLUMN_LIST}) SELECT *, %s::timestamp FROM unnest("
    + ", ".join(f"%s::{'timestamp' if kind == 'timestamptz' else kind}[]" for kind in _STAGE_TYPES)
    + ") ON CONFLICT DO NOTHING RETURNING tenant, container_id, measure_time"
)

# SQLite's common case, a batch of readings all new: one executemany of plain rows in a savepoint; a
# duplicate or a conflict makes it fail and the batch goes the way that finds them (ON CONFLICT RETURNING).
_SQLITE_INSERT = f"INSERT INTO readings ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in _READING_COLUMNS)})"

_READING_LIST = ", ".join(_READING_FIELDS)
_RECENT_PG = f"""SELECT r.* FROM unnest(%(ids)s::text[]) AS c(id) CROSS JOIN LATERAL (
    SELECT {_READING_LIST} FROM readings WHERE tenant = %(tenant)s AND container_id = c.id
    ORDER BY measure_time DESC LIMIT %(limit)s) AS r"""


_RECENT_SQLITE = (
    f"SELECT {_READING_LIST} FROM readings WHERE tenant = ? AND container_id = ? "
    "ORDER BY measure_time DESC LIMIT ?"
)


def _naive(when: datetime) -> datetime:
    """The naive UTC a table keeps (`UtcDateTime`), for statements sent to the driver directly."""
    return when.astimezone(UTC).replace(tzinfo=None)


def _sqlite_time(when: datetime) -> str:
    """The text SQLAlchemy's DateTime keeps in SQLite for `when` (naive UTC, microseconds always), so
    rows written here and through SQLAlchemy compare equal in the unique key."""
    if when.tzinfo is not UTC:
        if when.tzinfo is None:  # as `UtcDateTime` refuses it
            raise ValueError("naive datetime reached storage; the service works in aware UTC")
        when = when.astimezone(UTC)
    return when.isoformat(sep=" ", timespec="microseconds")[:26]  # without "+00:00"


def _copy_new_readings(
    session: Session, readings: Sequence[ReadingInsert], created: datetime
) -> set[tuple[str, str, datetime]]:
    """Stores `readings` (distinct keys) through the staging table; returns the keys that were new."""
    connection = session.connection()
    connection.exec_driver_sql(_STAGE_CREATE)
    cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(_STAGE_COPY) as copy:
        copy.set_types(_STAGE_TYPES)
        for reading in readings:
            copy.write_row(reading)
    returned = connection.exec_driver_sql(_STAGE_MOVE, (_naive(created),)).all()
    return {(tenant, cid, when.replace(tzinfo=UTC)) for tenant, cid, when in returned}


def _insert_from_arrays(
    session: Session, readings: Sequence[ReadingInsert], created: datetime
) -> set[tuple[str, str, datetime]]:
    """Stores a few `readings` (distinct keys) in one statement; returns the keys that were new."""
    columns: list[list[Any]] = [list(column) for column in zip(*readings, strict=True)]
    columns[3] = [_naive(when) for when in columns[3]]  # the table keeps naive UTC
    returned = session.connection().exec_driver_sql(_ARRAYS_INSERT, (_naive(created), *columns)).all()
    return {(tenant, cid, when.replace(tzinfo=UTC)) for tenant, cid, when in returned}


def _all_new_sqlite(session: Session, readings: Sequence[ReadingInsert], created: datetime) -> bool:
    """Stores `readings` (distinct keys) when none of them is stored yet, else stores nothing; True when
    stored."""
    sqlite_connection: Any = session.connection().connection.driver_connection
    stamp = _sqlite_time(created)
    rows = [(*r[:3], _sqlite_time(r.measure_time), *r[4:], stamp) for r in readings]
    # The savepoint must sit inside the transaction: opened alone, its RELEASE would commit.
    if not sqlite_connection.in_transaction:
        sqlite_connection.execute("BEGIN")
    sqlite_connection.execute("SAVEPOINT new_readings")
    try:
        sqlite_connection.executemany(_SQLITE_INSERT, rows)
    except sqlite3.IntegrityError:
        sqlite_connection.execute("ROLLBACK TO new_readings")
        return False
    finally:
        sqlite_connection.execute("RELEASE new_readings")
    return True


# A container already waiting, not leased by an assessor and not sent an earlier reading, is marked
# enough: the round that leases it will read these readings (its lease waits for this transaction's
# lock on the row). Updating it anyway rewrote every row of a batch and cost most of the claim on
# PostgreSQL (bench/results/ingest_floor.json; BENCHMARKS.md, "Ingest").
_MARK_NEEDED = (
    "pending_assessments.lease_until IS NOT NULL"
    " OR excluded.first_measure_time < pending_assessments.first_measure_time"
)
_PENDING_SQLITE = f"""INSERT INTO pending_assessments
(tenant, container_id, since, first_measure_time, generation) VALUES (?, ?, ?, ?, 0)
ON CONFLICT (tenant, container_id) DO UPDATE SET generation = pending_assessments.generation + 1,
first_measure_time = min(pending_assessments.first_measure_time, excluded.first_measure_time)
WHERE {_MARK_NEEDED}"""


# The containers of a batch's new readings, locked until the commit and marked as waiting for an
# assessment (only those that exist: pending_assessments has a foreign key); answers how many exist.
# Parameters: keys as arrays (tenant, id, first measure time), then the time of the batch.
_CLAIM_PG = f"""WITH k AS (
  SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamp[]) WITH ORDINALITY AS u(t, c, f, n)
), held AS (
  SELECT c.tenant, c.id FROM containers AS c JOIN k ON c.tenant = k.t AND c.id = k.c FOR KEY SHARE OF c
), marked AS (
  INSERT INTO pending_assessments (tenant, container_id, since, first_measure_time, generation)
  SELECT k.t, k.c, %s::timestamp, k.f, 0 FROM k JOIN held ON held.tenant = k.t AND held.id = k.c ORDER BY k.n
  ON CONFLICT (tenant, container_id) DO UPDATE SET generation = pending_assessments.generation + 1,
  first_measure_time = least(pending_assessments.first_measure_time, excluded.first_measure_time)
  WHERE {_MARK_NEEDED}
)
SELECT count(*) FROM held"""
# Per tenant on SQLite: a join of two json_each lists was planned as a scan of the lists per container.
_CONTAINERS_SQLITE = "SELECT id FROM containers WHERE tenant = ? AND id IN (SELECT value FROM json_each(?))"


def _conflict(what: str) -> Aborted:
    return Aborted(f"a concurrent change conflicted with this write of {what}; retry the call")


class SqlStorage:
    """The `Storage` interface on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def _reading(self) -> Connection:
        """A connection for one read statement: no BEGIN and ROLLBACK round trips around it."""
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

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
            if column == FULL_BEFORE:
                conditions.append(col(kind.id).in_(self._full_before(tenant, datetime.fromisoformat(value))))
                continue
            # A tuple is a set of accepted values (a commune agent's communes); a string an equality.
            attribute = getattr(kind, column)
            conditions.append(attribute.in_(value) if isinstance(value, tuple) else attribute == value)
        return conditions

    @staticmethod
    def _full_before(tenant: str, when: datetime) -> Any:
        """Ids of the tenant's containers whose forecast says full before `when`."""
        return select(col(ForecastRow.container_id)).where(
            col(ForecastRow.tenant) == tenant,
            col(ForecastRow.full_time).is_not(None),
            col(ForecastRow.full_time) < when,
        )

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
            statement = delete(kind).where(col(kind.tenant) == tenant, col(kind.id) == row_id)
            try:
                result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
                deleted = result.rowcount
                if kind is ContainerRow:
                    # After the container: its deletion waited for any ingest holding it (readings have
                    # no foreign key, see `_claim_containers`), so this statement sees their readings.
                    # Collections too, because SQLite only cascades when foreign keys are on.
                    for child in (ReadingRow, CollectionRow):
                        session.execute(
                            delete(child).where(
                                col(child.tenant) == tenant, col(child.container_id) == row_id
                            )
                        )
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

    def ingest_targets(
        self, tenant: str, container_ids: Sequence[str], sensor_ids: Sequence[str]
    ) -> tuple[dict[str, IngestTarget], dict[str, IngestTarget]]:
        by_id: dict[str, IngestTarget] = {}
        by_sensor: dict[str, IngestTarget] = {}
        if not container_ids and not sensor_ids:
            return by_id, by_sensor
        c = _CONTAINERS.c
        which = []
        if container_ids:
            which.append(c.id.in_(list(container_ids)))
        if sensor_ids:
            which.append(c.sensor_id.in_(list(sensor_ids)))
        query = select(c.id, c.sensor_id, c.empty_distance_mm, c.full_distance_mm).where(
            c.tenant == tenant, or_(*which)
        )
        with self._reading() as connection:
            rows = connection.execute(query).all()
        for container_id, sensor_id, empty, full in rows:
            target = IngestTarget(tenant, container_id, sensor_id, empty, full)
            by_id[container_id] = target
            if sensor_id:
                by_sensor[sensor_id] = target
        return by_id, by_sensor

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
            store = _copy_new_readings if len(fresh) >= _SMALL_BATCH else _insert_from_arrays
            inserted = store(session, fresh, created)
        elif _all_new_sqlite(session, fresh, created):
            inserted = set(first)
        else:
            # Core executemany with ON CONFLICT DO NOTHING: per-row ORM inserts are ~15× slower
            # (REFERENCE §4), and the unique (tenant, container, time) key makes re-delivery a no-op.
            values = [{**r._asdict(), "create_time": created} for r in fresh]
            statement = self._insert_ignore(_READINGS).returning(
                _READINGS.c.tenant, _READINGS.c.container_id, _READINGS.c.measure_time
            )
            inserted = {tuple(row) for row in session.execute(statement, values).all()}
        self._claim_containers(session, inserted, created)
        existing = self._existing_readings(session, [k for k in first if k not in inserted])
        for key, i in first.items():
            if key in inserted:
                outcomes[i] = InsertOutcome.STORED
            else:
                same = readings[i].same_values(existing[key])
                outcomes[i] = InsertOutcome.DUPLICATE if same else InsertOutcome.CONFLICT
        return [o for o in outcomes if o is not None]

    def _claim_containers(
        self, session: Session, inserted: Collection[tuple[str, str, datetime]], created: datetime
    ) -> None:
        """Checks that the containers of the new readings still exist and records, in the readings' own
        transaction, that they wait for an assessment.

        The readings table has no foreign key, so this check is what keeps every reading with its
        container: Aborted when one was deleted while the readings came in. On PostgreSQL the container
        rows are locked (FOR KEY SHARE) until the commit, so a deletion waits, then deletes the readings
        with the container; check and mark are one statement (one round trip, which unary calls feel).
        SQLite runs one writer at a time, and this transaction already writes.
        """
        first: dict[tuple[str, str], datetime] = {}
        for tenant, container_id, when in inserted:
            key = (tenant, container_id)
            first[key] = min(when, first.get(key, when))
        # Sorted: concurrent transactions lock the rows in one order, so they cannot deadlock.
        keys = sorted(first)
        if not keys:
            return
        if self._dialect == "postgresql":
            arrays = ([t for t, _ in keys], [c for _, c in keys], [_naive(first[k]) for k in keys])
            found = session.connection().exec_driver_sql(_CLAIM_PG, (*arrays, _naive(created))).scalar_one()
        else:
            found = self._claim_sqlite(session, keys, first, created)
        if found != len(keys):
            raise _conflict("readings")

    @staticmethod
    def _claim_sqlite(
        session: Session,
        keys: list[tuple[str, str]],
        first: dict[tuple[str, str], datetime],
        created: datetime,
    ) -> int:
        """The SQLite half of `_claim_containers`: how many of ``keys`` exist; marks them pending."""
        # Plain rows to the driver, as the readings: compiling a multi-row statement cost more than
        # running it.
        sqlite_connection: Any = session.connection().connection.driver_connection
        found = 0
        for tenant in sorted({t for t, _ in keys}):
            ids = json.dumps([c for t, c in keys if t == tenant])
            found += len(sqlite_connection.execute(_CONTAINERS_SQLITE, (tenant, ids)).fetchall())
        if found != len(keys):
            return found  # marking would break pending_assessments' foreign key
        since = _sqlite_time(created)
        sqlite_connection.executemany(
            _PENDING_SQLITE, [(t, c, since, _sqlite_time(first[(t, c)])) for t, c in keys]
        )
        return found

    def _existing_readings(
        self, session: Session, keys: Sequence[tuple[str, str, datetime]]
    ) -> dict[tuple[str, str, datetime], ReadingInsert]:
        if not keys:
            return {}
        table = _READINGS
        clause = tuple_(table.c.tenant, table.c.container_id, table.c.measure_time).in_(list(keys))
        columns = [table.c[name] for name in _READING_FIELDS]
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

    def recent_readings(
        self, tenant: str, container_ids: Sequence[str], limit: int
    ) -> dict[str, list[ReadingInsert]]:
        found: dict[str, list[ReadingInsert]] = {}
        if not container_ids:
            return found
        with self._reading() as connection:
            if self._dialect == "postgresql":
                # One index scan per container in one statement, as plain tuples (no ORM objects).
                parameters = {"tenant": tenant, "ids": list(dict.fromkeys(container_ids)), "limit": limit}
                for t, c, sensor, when, *values in connection.exec_driver_sql(_RECENT_PG, parameters).all():
                    found.setdefault(c, []).append(
                        ReadingInsert(t, c, sensor, when.replace(tzinfo=UTC), *values)
                    )
            else:
                # SQLite keeps times as ISO text: parsed here, not by a per-value type processor.
                cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                for container_id in dict.fromkeys(container_ids):
                    found_rows = cursor.execute(_RECENT_SQLITE, (tenant, container_id, limit)).fetchall()
                    rows = [
                        ReadingInsert(
                            t,
                            c,
                            s,
                            datetime.fromisoformat(when).replace(tzinfo=UTC),
                            f,
                            d,
                            b,
                            temp,
                            bool(tilt),
                            why,
                        )
                        for t, c, s, when, f, d, b, temp, tilt, why in found_rows
                    ]
                    if rows:
                        found[container_id] = rows
        for rows in found.values():
            rows.reverse()
        return found

    def latest_readings(self, tenant: str, container_ids: Sequence[str]) -> dict[str, ReadingRow]:
        if not container_ids:
            return {}
        newest = (
            select(col(ReadingRow.container_id), func.max(col(ReadingRow.measure_time)).label("newest"))
            .where(
                col(ReadingRow.tenant) == tenant,
                col(ReadingRow.container_id).in_(list(container_ids)),
                col(ReadingRow.outlier) == "",
            )
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
            .where(
                col(ReadingRow.tenant) == tenant,
                col(ReadingRow.measure_time) >= since,
                col(ReadingRow.outlier) == "",
            )
            .order_by(col(ReadingRow.container_id), col(ReadingRow.measure_time))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    # Assessments waiting ----------------------------------------------------------------------------

    def claim_assessments(
        self, limit: int, now: datetime, lease_until: datetime
    ) -> list[PendingAssessmentRow]:
        c = _PENDING.c
        free = select(c.tenant, c.container_id).where(or_(c.lease_until.is_(None), c.lease_until < now))
        # One statement, so two replicas never take the same row (PostgreSQL skips rows another holds).
        chosen = free.order_by(c.since).limit(limit)
        if self._dialect == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        statement = (
            update(_PENDING)
            .where(tuple_(c.tenant, c.container_id).in_(chosen.scalar_subquery()))
            .values(lease_until=lease_until)
            .returning(c.tenant, c.container_id, c.since, c.first_measure_time, c.generation)
        )
        with Session(self.engine) as session:
            rows = session.execute(statement).all()
            session.commit()
        return sorted(
            (
                PendingAssessmentRow(
                    tenant=t, container_id=cid, since=since, first_measure_time=first, generation=g
                )
                for t, cid, since, first, g in rows
            ),
            key=lambda row: (row.tenant, row.container_id),
        )

    def finish_assessments(self, assessed: Sequence[PendingAssessmentRow]) -> None:
        if not assessed:
            return
        c = _PENDING.c
        with Session(self.engine) as session:
            # Row by row in key order, the order ingest locks them in: the two cannot deadlock.
            for row in sorted(assessed, key=lambda r: (r.tenant, r.container_id)):
                key = (c.tenant == row.tenant, c.container_id == row.container_id)
                statement = delete(_PENDING).where(*key, c.generation == row.generation)
                done: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
                if not done.rowcount:
                    # Readings were stored meanwhile: free for the next round at once.
                    session.execute(update(_PENDING).where(*key).values(lease_until=None))
            session.commit()

    def pending_containers(self, tenant: str, container_ids: Sequence[str] | None = None) -> set[str]:
        c = _PENDING.c
        query = select(c.container_id).where(c.tenant == tenant)
        if container_ids is not None:
            query = query.where(c.container_id.in_(list(container_ids)))
        with self._reading() as connection:
            return set(connection.execute(query).scalars().all())

    def assessment_backlog(self) -> tuple[int, datetime | None]:
        c = _PENDING.c
        with self._reading() as connection:
            count, oldest = connection.execute(select(func.count(), func.min(c.since))).one()
        return count, oldest

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

    def list_collections_page(
        self,
        tenant: str,
        container_id: str | None,
        *,
        where: CollectionFilter,
        before: tuple[datetime, int] | None,
        limit: int,
    ) -> list[CollectionRow]:
        when, key = col(CollectionRow.collect_time), col(CollectionRow.id)
        conditions = [col(CollectionRow.tenant) == tenant]
        if container_id is not None:
            conditions.append(col(CollectionRow.container_id) == container_id)
        if where.source is not None:
            conditions.append(col(CollectionRow.source) == where.source)
        if where.collected_after is not None:
            conditions.append(when >= where.collected_after)
        if where.collected_before is not None:
            conditions.append(when < where.collected_before)
        if before is not None:
            conditions.append(or_(when < before[0], and_(when == before[0], key < before[1])))
        query = select(CollectionRow).where(*conditions).order_by(when.desc(), key.desc()).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    # Alerts and incidents -------------------------------------------------------------------------

    def containers_with_sensors(self) -> list[tuple[str, str]]:
        query = select(col(ContainerRow.tenant), col(ContainerRow.id)).where(
            col(ContainerRow.sensor_id).is_not(None), col(ContainerRow.sensor_id) != ""
        )
        with Session(self.engine) as session:
            return [(tenant, cid) for tenant, cid in session.execute(query).all()]

    def raise_alerts(self, alerts: Sequence[AlertRow]) -> list[AlertRow]:
        if not alerts:
            return []
        keys = {(a.tenant, a.open_key) for a in alerts}
        statement = self._insert_ignore(_ALERTS).returning(_ALERTS.c.id, _ALERTS.c.open_key)
        with Session(self.engine) as session:
            # Most conditions already have their open alert: one query skips them, instead of one
            # conflicting insert each.
            held = set(
                session.execute(
                    select(col(AlertRow.tenant), col(AlertRow.open_key)).where(
                        tuple_(col(AlertRow.tenant), col(AlertRow.open_key)).in_(list(keys))
                    )
                ).all()
            )
            # One row at a time: executemany with RETURNING does not say which rows a conflict skipped
            # on every driver, and a batch raises a handful of new alerts at most.
            ids = {}
            for i, alert in enumerate(alerts):
                # A resolved alert (no open_key) never conflicts.
                if alert.open_key is not None and (alert.tenant, alert.open_key) in held:
                    continue
                row = session.execute(statement, alert.model_dump(exclude={"id"})).first()
                if row is not None:
                    ids[i] = row.id
            session.commit()
        return [a.model_copy(update={"id": ids[i]}) for i, a in enumerate(alerts) if i in ids]

    def resolve_open_alerts(
        self, tenant: str, open_keys: Sequence[str], when: datetime, actor: str
    ) -> list[AlertRow]:
        if not open_keys:
            return []
        query = select(AlertRow).where(
            col(AlertRow.tenant) == tenant, col(AlertRow.open_key).in_(list(open_keys))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(session.execute(query).scalars().all())
            for row in rows:
                row.state, row.open_key, row.actor = "resolved", None, actor
                row.resolve_time = row.update_time = when
            session.commit()
            return rows

    def get_alert(self, tenant: str, alert_id: int) -> AlertRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(AlertRow, alert_id)
        return row if row is not None and row.tenant == tenant else None

    def save_alert(self, alert: AlertRow) -> AlertRow:
        with Session(self.engine, expire_on_commit=False) as session:
            merged = session.merge(alert)
            session.commit()
            return merged

    def list_alerts(
        self, tenant: str, *, before_id: int | None, limit: int, where: Mapping[str, str] | None = None
    ) -> list[AlertRow]:
        conditions = [col(AlertRow.tenant) == tenant]
        conditions += [getattr(AlertRow, c) == v for c, v in (where or {}).items()]
        if before_id is not None:
            conditions.append(col(AlertRow.id) < before_id)
        query = select(AlertRow).where(*conditions).order_by(col(AlertRow.id).desc()).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    def create_incident(self, incident: IncidentRow) -> tuple[IncidentRow, bool]:
        existing = select(IncidentRow).where(
            col(IncidentRow.tenant) == incident.tenant, col(IncidentRow.request_id) == incident.request_id
        )
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.execute(existing).scalars().first()
            if found is not None:
                return found, False
            session.add(incident)
            try:
                session.commit()
            except IntegrityError:  # the same key stored meanwhile by a concurrent call
                session.rollback()
                return session.execute(existing).scalars().one(), False
            return incident, True

    def get_incident(self, tenant: str, incident_id: int) -> IncidentRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(IncidentRow, incident_id)
        return row if row is not None and row.tenant == tenant else None

    def save_incident(self, incident: IncidentRow) -> IncidentRow:
        with Session(self.engine, expire_on_commit=False) as session:
            merged = session.merge(incident)
            session.commit()
            return merged

    def list_incidents(
        self, tenant: str, *, before_id: int | None, limit: int, where: Mapping[str, str] | None = None
    ) -> list[IncidentRow]:
        conditions = [col(IncidentRow.tenant) == tenant]
        conditions += [getattr(IncidentRow, c) == v for c, v in (where or {}).items()]
        if before_id is not None:
            conditions.append(col(IncidentRow.id) < before_id)
        query = select(IncidentRow).where(*conditions).order_by(col(IncidentRow.id).desc()).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())

    def save_forecasts(self, forecasts: Sequence[ForecastRow]) -> None:
        if not forecasts:
            return
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        table: Table = ForecastRow.__table__  # type: ignore[attr-defined]
        statement = dialect.insert(table)
        keys = ("tenant", "container_id")
        upsert = statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
        )
        with Session(self.engine) as session:
            # One upsert for all: a merge per forecast costs a query each.
            session.execute(upsert, [f.model_dump() for f in forecasts])
            session.commit()

    def get_forecasts(self, tenant: str, container_ids: Sequence[str]) -> dict[str, ForecastRow]:
        if not container_ids:
            return {}
        query = select(ForecastRow).where(
            col(ForecastRow.tenant) == tenant, col(ForecastRow.container_id).in_(list(container_ids))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return {row.container_id: row for row in session.execute(query).scalars().all()}

    def get_policy(self, tenant: str) -> PolicyRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(PolicyRow, tenant)

    def save_policy(self, policy: PolicyRow) -> None:
        with Session(self.engine) as session:
            session.merge(policy)
            session.commit()

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
        values = {
            "body": operation.body,
            "done": operation.done,
            "request_id": operation.request_id,
            "request": operation.request,
            "update_time": operation.update_time,
        }
        statement = update(_OPERATIONS).where(_OPERATIONS.c.id == operation.id).values(**values)
        if not operation.done:
            # A progress update saved late (its step was cancelled meanwhile) must not reopen an operation
            # that has ended: one statement, so no other save slips between a check and the write.
            statement = statement.where(_OPERATIONS.c.done.is_(False))
        with Session(self.engine) as session:
            try:
                result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
                if not result.rowcount and session.get(OperationRow, operation.id) is None:
                    session.merge(operation)
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

    def unresolved_alert_counts(self) -> dict[tuple[str, str, str], int]:
        columns = (col(AlertRow.tenant), col(AlertRow.kind), col(AlertRow.state))
        query = select(*columns, func.count()).where(col(AlertRow.state) != "resolved").group_by(*columns)
        with Session(self.engine) as session:
            return {
                (tenant, kind, state): count for tenant, kind, state, count in session.execute(query).all()
            }

    def unfinished_operations(self) -> list[OperationRow]:
        query = select(OperationRow).where(col(OperationRow.done).is_(False))
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(query).scalars().all())
