"""Planning operations: the google.longrunning life cycle around selection, solving and storing a plan."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from google.longrunning import operations_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

import routing
from wastesvc.auth import authorize
from wastesvc.dispatch.lifecycle import overlay
from wastesvc.domain import parking
from wastesvc.domain._common import (
    STREAM_KEYS,
    check_tenant_names,
    parse_name,
    parse_tenant,
    resource_name,
    stream_key,
    to_timestamp,
)
from wastesvc.domain.alerts import ALARMS, alarm_findings
from wastesvc.domain.forecasts import cold_start, forecast_of
from wastesvc.domain.incidents import OVERFLOWING
from wastesvc.domain.parking import parking_effects
from wastesvc.domain.planning import (
    BuiltProblem,
    PlanningInput,
    api_violations,
    build_problem,
    initial_stops,
    solution_to_plan,
)
from wastesvc.domain.policies import stored_policy, to_fill_policy
from wastesvc.domain.selection import default_policy, select_for_plan
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound, PlanDataInvalid, ResourceExhausted
from wastesvc.fill import Forecast, SelectionPolicy
from wastesvc.jobs import JobQueue
from wastesvc.solver_pool import SolverPool
from wastesvc.storage import (
    ContainerRow,
    DepotRow,
    FacilityRow,
    ObservationRow,
    OperationRow,
    PlanRow,
    PlanStateRow,
    Storage,
    VehicleRow,
)
from wastesvc.storage._interface import ResourceRow
from wastesvc.v1 import planning_pb2

__all__ = ["MAX_IN_FLIGHT_PER_TENANT", "Planner", "operation_snapshot", "replay", "request_hash"]

log = logging.getLogger(__name__)
Metadata = planning_pb2.OptimizeRoutesMetadata
MAX_TIME_LIMIT = timedelta(minutes=10)
# How often a replica looks at the shared database for an operation a worker runs.
_POLL_S = 0.25
# Street occupancy observations read per plan: an hour per segment over the weeks parking.py looks back.
_PARKING_ROWS = 50_000


# Solves a tenant may have in flight at once: each holds a solver slot and memory; the excess waits.
MAX_IN_FLIGHT_PER_TENANT = 4
_RETRY_AFTER_S = 30
# Ten years: beyond, the date arithmetic of the selection overflows and no container is that neglected.
MAX_DAYS_WITHOUT_EMPTYING = 3650
_RETRY_HINT = "send the same request (and request_id) again"
_ABORTED_CODES = (code_pb2.ABORTED, code_pb2.UNAVAILABLE)


def request_hash(request: Message) -> str:
    """SHA-256 of the request's type and of the request without its request_id: tells a retry from an id
    reused for another request, or for another RPC (OptimizeRoutes and ReplanRoutes share the ids)."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    digest = hashlib.sha256(request.DESCRIPTOR.full_name.encode() + b"\0")
    digest.update(copy.SerializeToString(deterministic=True))
    return digest.hexdigest()


def replay(storage: Storage, tenant: str, request: Message) -> operations_pb2.Operation | None:
    """The operation the request's request_id already started, if it can be returned again (AIP-155).

    The same id with another request is refused; an operation aborted by a shutdown or crash releases
    its id, so the day can be retried.
    """
    request_id = getattr(request, "request_id", "")
    if not request_id:
        return None
    existing = storage.find_operation_by_request(tenant, request_id)
    if existing is None:
        return None
    operation = operations_pb2.Operation.FromString(existing.body)
    metadata = Metadata()
    operation.metadata.Unpack(metadata)
    # Operations stored before their request was hashed carry no hash: taken as the same request.
    if metadata.request_hash and metadata.request_hash != request_hash(request):
        raise InvalidArgument(
            [FieldViolation("request_id", "was already used for a different request")],
            reason="REQUEST_ID_REUSED",
        )
    if metadata.state == Metadata.STATE_ABORTED or operation.error.code in _ABORTED_CODES:
        existing.request_id = None
        storage.save_operation(existing)
        return None
    return operation


def _now() -> datetime:
    return datetime.now(UTC)


def _load_all(storage: Storage, kind: type[ResourceRow], tenant: str) -> list[ResourceRow]:
    rows: list[ResourceRow] = []
    after = None
    while True:
        page = storage.list_page(kind, tenant, after=after, limit=1000)
        rows += page.items
        if page.last_key is None:
            return rows
        after = page.last_key


def _check_initial_routes(tenant: str, routes: Sequence[planning_pb2.InitialRoute]) -> list[FieldViolation]:
    """Names in initial routes must be the tenant's vehicles and containers."""
    names = []
    for i, route in enumerate(routes):
        names.append((f"initial_routes[{i}].vehicle", route.vehicle, "vehicles"))
        names += [
            (f"initial_routes[{i}].containers[{j}]", c, "containers") for j, c in enumerate(route.containers)
        ]
    return check_tenant_names(tenant, names)


def _parking_observations(storage: Storage, tenant: str) -> list[ObservationRow]:
    """The newest street occupancy observations (the parking adapter's), at most `_PARKING_ROWS`."""
    where = {"entity_type": parking.ENTITY_TYPE, "property": parking.PROPERTY}
    rows: list[ObservationRow] = []
    while len(rows) < _PARKING_ROWS:
        page = storage.list_observations(
            tenant, before_id=rows[-1].id if rows else None, limit=1000, where=where
        )
        rows += page
        if len(page) < 1000:
            break
    return rows


@dataclass
class _Job:
    """One planning operation in flight."""

    tenant: str
    row: OperationRow
    metadata: planning_pb2.OptimizeRoutesMetadata
    request: planning_pb2.OptimizeRoutesRequest
    service_date: date
    streams: frozenset[str]
    vehicle_ids: list[str]
    plan_name: str


def operation_snapshot(row: OperationRow) -> OperationRow:
    """A copy of `row` for a save in a worker thread.

    A cancelled step's save may still be running while the next state is written to `row`; it must save
    the state it was given, not half of the next one.
    """
    return OperationRow(**{name: getattr(row, name) for name in OperationRow.model_fields})


class Planner:
    """Starts, tracks and cancels OptimizeRoutes operations."""

    def __init__(
        self,
        storage: Storage,
        pool: SolverPool,
        *,
        default_time_limit_s: float,
        timezone: str,
        road_matrix: routing.MatrixProvider | None = None,
        queue: JobQueue | None = None,
        max_in_flight_per_tenant: int = MAX_IN_FLIGHT_PER_TENANT,
    ) -> None:
        self.storage = storage
        # With a queue, solver workers run the operations (wastesvc/jobs.py); without, this process does.
        self.queue = queue
        self.pool = pool
        self.road_matrix = road_matrix
        self.default_time_limit_s = default_time_limit_s
        self.timezone = ZoneInfo(timezone)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.max_in_flight_per_tenant = max_in_flight_per_tenant
        self._in_flight: Counter[str] = Counter()
        self._stopping = False

    # Life cycle -------------------------------------------------------------------------------------

    def close_interrupted(self) -> int:
        """Operations left running by a previous process can never finish: close them as ABORTED.

        With a job queue an unfinished operation belongs to the workers, which finish it even when the
        replica that accepted it is gone: nothing is closed.
        """
        if self.queue is not None:
            return 0
        stale = self.storage.unfinished_operations()
        for row in stale:
            operation = operations_pb2.Operation.FromString(row.body)
            operation.done = True
            metadata = Metadata()
            operation.metadata.Unpack(metadata)
            metadata.state = Metadata.STATE_ABORTED
            metadata.end_time.CopyFrom(to_timestamp(_now()))
            operation.metadata.Pack(metadata)
            operation.error.CopyFrom(
                status_pb2.Status(code=code_pb2.ABORTED, message=f"server restarted; {_RETRY_HINT}")
            )
            row.body, row.done = operation.SerializeToString(), True
            self.storage.save_operation(row)
        return len(stale)

    async def shutdown(self) -> None:
        self._stopping = True
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    # Requests ---------------------------------------------------------------------------------------

    def _validate(
        self, tenant: str, request: planning_pb2.OptimizeRoutesRequest
    ) -> tuple[date, frozenset[str], list[str]]:
        violations = []
        d = request.service_date
        try:
            service_date = date(d.year, d.month, d.day)
        except ValueError:
            violations.append(FieldViolation("service_date", "must be a full calendar date"))
        streams = set()
        for i, value in enumerate(request.streams):
            try:
                streams.add(stream_key(value, f"streams[{i}]"))
            except InvalidArgument as exc:
                violations += exc.violations
        vehicle_ids = []
        for i, name in enumerate(request.vehicles):
            try:
                vehicle_tenant, vehicle_id = parse_name(name, "vehicles", f"vehicles[{i}]")
            except InvalidArgument as exc:
                violations += exc.violations
                continue
            if vehicle_tenant != tenant:
                violations.append(FieldViolation(f"vehicles[{i}]", f"must be a vehicle of tenants/{tenant}"))
            vehicle_ids.append(vehicle_id)
        options = request.options
        if violations:
            raise InvalidArgument(violations)
        # ToTimedelta cannot overflow: the servicer held the request to the field limits
        # (`servicers._base.unary`).
        limit = options.time_limit.ToTimedelta()
        if limit < timedelta(0) or limit > MAX_TIME_LIMIT:
            violations.append(FieldViolation("options.time_limit", "must be between 0 and 10 minutes"))
        if not 0.0 <= options.fill_threshold <= 1.0:
            violations.append(FieldViolation("options.fill_threshold", "must be within [0, 1]"))
        if not 0 <= options.max_days_without_emptying <= MAX_DAYS_WITHOUT_EMPTYING:
            violations.append(
                FieldViolation(
                    "options.max_days_without_emptying", f"must be within [0, {MAX_DAYS_WITHOUT_EMPTYING}]"
                )
            )
        if not math.isfinite(options.cost_per_vehicle) or options.cost_per_vehicle < 0:
            violations.append(FieldViolation("options.cost_per_vehicle", "must be a non-negative number"))
        if options.objective not in planning_pb2.OptimizeOptions.Objective.values():
            violations.append(FieldViolation("options.objective", "unknown objective"))
        violations += _check_initial_routes(tenant, request.initial_routes)
        if violations:
            raise InvalidArgument(violations)
        return service_date, frozenset(streams or STREAM_KEYS.values()), vehicle_ids

    async def start(self, request: planning_pb2.OptimizeRoutesRequest) -> operations_pb2.Operation:
        """Validates, records the operation and starts it; a repeated request_id returns the first one."""
        tenant = parse_tenant(request.parent)
        authorize(tenant, "plan", commune_wide=True)
        service_date, streams, vehicle_ids = self._validate(tenant, request)
        if self.queue is not None:
            # Solver workers run it: the queue holds what they cannot start yet.
            operation, job = await asyncio.to_thread(
                self._record, tenant, request, service_date, streams, vehicle_ids
            )
            if job is not None:
                await asyncio.to_thread(self.queue.submit, job.row.id)
            return operation
        if self._in_flight[tenant] >= self.max_in_flight_per_tenant:
            replayed = await asyncio.to_thread(replay, self.storage, tenant, request)
            if replayed is not None:
                return replayed
            raise ResourceExhausted(
                f"tenants/{tenant} already has {self._in_flight[tenant]} plans being made; retry later",
                retry_after_s=_RETRY_AFTER_S,
                metadata={"limit": str(self.max_in_flight_per_tenant)},
            )
        self._in_flight[tenant] += 1  # reserved now: another call may start while this one records
        try:
            operation, job = await asyncio.to_thread(
                self._record, tenant, request, service_date, streams, vehicle_ids
            )
        except BaseException:
            self._in_flight[tenant] -= 1
            raise
        if job is None:
            self._in_flight[tenant] -= 1
            return operation
        operation_id = job.row.id
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks[operation_id] = task
        task.add_done_callback(lambda _: self._finished(tenant, operation_id))
        return operation

    def _finished(self, tenant: str, operation_id: str) -> None:
        self._tasks.pop(operation_id, None)
        self._in_flight[tenant] -= 1

    def _record(
        self,
        tenant: str,
        request: planning_pb2.OptimizeRoutesRequest,
        service_date: date,
        streams: frozenset[str],
        vehicle_ids: list[str],
    ) -> tuple[operations_pb2.Operation, _Job | None]:
        """Stores a new operation (storage work, off the event loop); no job when request_id was seen."""
        replayed = replay(self.storage, tenant, request)
        if replayed is not None:
            return replayed, None
        vehicles = self.storage.get_many(VehicleRow, tenant, vehicle_ids)
        for i, vehicle_id in enumerate(vehicle_ids):
            if vehicle_id not in vehicles:
                raise NotFound(resource_name(tenant, "vehicles", vehicle_id), field=f"vehicles[{i}]")

        operation_id = uuid.uuid4().hex
        plan_name = resource_name(tenant, "routePlans", f"{service_date:%Y%m%d}-{operation_id[:8]}")
        created = _now()
        operation = operations_pb2.Operation(name=resource_name(tenant, "operations", operation_id))
        metadata = Metadata(
            state=Metadata.STATE_QUEUED,
            service_date=request.service_date,
            create_time=to_timestamp(created),
            route_plan=plan_name,
            request_hash=request_hash(request),
        )
        operation.metadata.Pack(metadata)
        row = OperationRow(
            id=operation_id,
            tenant=tenant,
            request_id=request.request_id or None,
            request=request.SerializeToString(),
            body=operation.SerializeToString(),
            create_time=created,
            update_time=created,
        )
        self.storage.save_operation(row)
        return operation, _Job(tenant, row, metadata, request, service_date, streams, vehicle_ids, plan_name)

    def track(self, operation_id: str, task: asyncio.Task[None]) -> None:
        """Lets CancelOperation and WaitOperation reach an operation run elsewhere (a re-plan)."""
        self._tasks[operation_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(operation_id, None))

    def cancel(self, operation_id: str) -> bool:
        """Asks a running operation to stop; False when it is not running here."""
        task = self._tasks.get(operation_id)
        if task is None:
            return False
        task.cancel()
        return True

    async def wait(self, operation_id: str, timeout_s: float) -> None:
        """Returns when the operation is done or after `timeout_s`."""
        task = self._tasks.get(operation_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout_s)
        elif self.queue is not None:
            # Run by a worker, maybe on another machine: its progress is in the shared database.
            deadline = asyncio.get_running_loop().time() + timeout_s
            while asyncio.get_running_loop().time() < deadline:
                row = await asyncio.to_thread(self.storage.get_operation, operation_id)
                if row is None or row.done:
                    return
                await asyncio.sleep(_POLL_S)

    async def run_stored(self, operation_id: str) -> None:
        """Runs an operation recorded by any replica (a solver worker's job); a finished one is skipped."""
        row = await asyncio.to_thread(self.storage.get_operation, operation_id)
        if row is None or row.done or row.request is None:
            log.info("operation %s is gone or already finished: nothing to run", operation_id)
            return
        request = planning_pb2.OptimizeRoutesRequest.FromString(row.request)
        service_date, streams, vehicle_ids = self._validate(row.tenant, request)
        metadata = Metadata()
        operations_pb2.Operation.FromString(row.body).metadata.Unpack(metadata)
        job = _Job(
            row.tenant, row, metadata, request, service_date, streams, vehicle_ids, metadata.route_plan
        )
        await self._run(job)

    # The work ---------------------------------------------------------------------------------------

    async def _publish(
        self,
        row: OperationRow,
        metadata: planning_pb2.OptimizeRoutesMetadata,
        *,
        response: planning_pb2.RoutePlan | None = None,
        error: status_pb2.Status | None = None,
    ) -> None:
        operation = operations_pb2.Operation(name=resource_name(row.tenant, "operations", row.id))
        operation.metadata.Pack(metadata)
        if response is not None or error is not None:
            operation.done = True
            metadata.end_time.CopyFrom(to_timestamp(_now()))
            operation.metadata.Pack(metadata)
            if response is not None:
                operation.response.Pack(response)
            else:
                operation.error.CopyFrom(error)
        row.body, row.done = operation.SerializeToString(), operation.done
        await asyncio.to_thread(self.storage.save_operation, operation_snapshot(row))

    def _read_input(
        self,
        tenant: str,
        service_date: date,
        streams: frozenset[str],
        vehicle_ids: list[str],
        options: planning_pb2.OptimizeOptions,
    ) -> PlanningInput:
        vehicles = _load_all(self.storage, VehicleRow, tenant)
        if vehicle_ids:
            vehicles = [v for v in vehicles if v.id in set(vehicle_ids)]
        containers = _load_all(self.storage, ContainerRow, tenant)
        return PlanningInput(
            tenant=tenant,
            service_date=service_date,
            timezone=self.timezone,
            containers=containers,
            forecasts=self._forecasts(tenant, containers),
            vehicles=vehicles,
            depots={d.id: d for d in _load_all(self.storage, DepotRow, tenant)},
            facilities=_load_all(self.storage, FacilityRow, tenant),
            streams=streams,
            fill_threshold=options.fill_threshold,
            max_days_without_emptying=options.max_days_without_emptying,
            reported_overflowing=frozenset(
                i.container_id
                for i in self.storage.list_incidents(
                    tenant, before_id=None, limit=1_000_000, where={"state": "open", "kind": OVERFLOWING}
                )
            ),
            policy=self._policy(tenant),
            alarms=alarm_findings(
                [
                    alert
                    for state in ("open", "acknowledged")
                    for kind in ALARMS
                    for alert in self.storage.list_alerts(
                        tenant, before_id=None, limit=1_000_000, where={"state": state, "kind": kind}
                    )
                ]
            ),
            parking=parking_effects(
                _parking_observations(self.storage, tenant), containers, service_date, self.timezone
            ),
        )

    def _policy(self, tenant: str) -> SelectionPolicy:
        """The tenant's stored policy over the service's defaults."""
        stored = stored_policy(self.storage, tenant)
        return default_policy() if stored is None else to_fill_policy(stored, default_policy())

    def _forecasts(self, tenant: str, containers: list[ContainerRow]) -> dict[str, Forecast]:
        """Each container's stored forecast, or the stream's prior from its last emptying."""
        stored = self.storage.get_forecasts(tenant, [c.id for c in containers])
        forecasts = {cid: forecast_of(row) for cid, row in stored.items()}
        now = _now()
        return {c.id: forecasts.get(c.id) or cold_start(c, now) for c in containers}

    def _with_road_matrix(self, built: BuiltProblem) -> routing.Problem:
        """The problem with road travel, fetched here once so the solver process needs no network.

        An unroutable location is reported with the containers or site it belongs to, not a matrix index.
        """
        assert self.road_matrix is not None
        problem = built.problem
        locations = problem.locations()
        tenant = built.tenant
        owners = [resource_name(tenant, "depots", d.id) for d in problem.depots]
        owners += [resource_name(tenant, "facilities", f.id) for f in problem.facilities]
        owners += [
            ", ".join(
                resource_name(tenant, "containers", m.container.id) for m in built.containers_of_stop[s.id]
            )
            for s in problem.stops
        ]
        try:
            road = self.road_matrix.matrix(locations)
        except routing.ProblemError as exc:
            violations = []
            for v in exc.violations:
                index = v.field.removeprefix("locations[").split("]")[0]
                where = owners[int(index)] if index.isdigit() and int(index) < len(owners) else v.field
                violations.append(routing.FieldViolation(where, v.description))
            raise routing.ProblemError(violations) from exc
        matrix = routing.ExplicitMatrix(locations, road.distances_m, road.durations_s)
        return dataclasses.replace(problem, matrix=matrix)

    async def _run(self, job: _Job) -> None:
        row, metadata, request = job.row, job.metadata, job.request
        service_date, plan_name = job.service_date, job.plan_name
        built: BuiltProblem | None = None
        try:
            metadata.state, metadata.progress_percent = Metadata.STATE_SELECTING, 5
            await self._publish(row, metadata)
            data = await asyncio.to_thread(
                self._read_input, job.tenant, service_date, job.streams, job.vehicle_ids, request.options
            )
            selected = select_for_plan(data)
            rule = routing.DrivingRule() if request.options.driving_time_rule else None
            built = build_problem(
                data, selected, driving_rule=rule, cost_per_vehicle=request.options.cost_per_vehicle
            )
            metadata.selected_container_count = len(selected)
            metadata.state, metadata.progress_percent = Metadata.STATE_SOLVING, 20
            await self._publish(row, metadata)
            limit = request.options.time_limit.ToTimedelta().total_seconds() or self.default_time_limit_s
            if built.problem.stops and self.road_matrix is not None:
                built.problem = await asyncio.to_thread(self._with_road_matrix, built)
            initial, notes = initial_stops(built, request.initial_routes)
            if built.problem.stops:
                fewest = request.options.objective == planning_pb2.OptimizeOptions.OBJECTIVE_FEWEST_VEHICLES
                solve_options = routing.SolveOptions(
                    time_limit_s=limit,
                    objective="vehicles" if fewest else "cost",
                    initial_routes=initial or None,
                )
                solution = await self.pool.solve(built.problem, solve_options)
            else:
                solution = routing.Solution(
                    routes=(),
                    skipped=(),
                    cost=routing.CostBreakdown(0.0, 0.0, 0.0, 0.0, 0.0),
                    status="NOTHING_TO_COLLECT",
                    solve_time_s=0.0,
                )
            created = _now()
            # A new plan is a DRAFT of version 1, its visits named (field events refer to them).
            draft = PlanStateRow(tenant=job.tenant, plan_id=plan_name.rsplit("/", 1)[-1])
            plan = overlay(solution_to_plan(plan_name, data, built, solution, created), draft, {})
            plan.solver_notes.extend([*notes, *solution.notes])
            plan_row = PlanRow(
                tenant=job.tenant,
                id=plan_name.rsplit("/", 1)[-1],
                service_date=service_date,
                body=plan.SerializeToString(),
                create_time=created,
            )
            await asyncio.to_thread(self.storage.save_plan, plan_row)
            metadata.state, metadata.progress_percent = Metadata.STATE_SUCCEEDED, 100
            await self._publish(row, metadata, response=plan)
        except asyncio.CancelledError:
            if self._stopping:
                metadata.state = Metadata.STATE_ABORTED
                stopped = status_pb2.Status(
                    code=code_pb2.UNAVAILABLE, message=f"server shutting down; {_RETRY_HINT}"
                )
            else:
                metadata.state = Metadata.STATE_CANCELLED
                stopped = status_pb2.Status(code=code_pb2.CANCELLED, message="cancelled by a client")
            await asyncio.shield(self._publish(row, metadata, error=stopped))
        except routing.ProblemError as exc:
            metadata.state = Metadata.STATE_FAILED
            # The request was fine; the data it plans on is not (AIP-193: FAILED_PRECONDITION).
            named = (
                api_violations(built, exc.violations)
                if built is not None
                else [(v.field, v.description) for v in exc.violations]
            )
            failed = PlanDataInvalid(
                [FieldViolation(where, what) for where, what in named],
                message=f"the day cannot be planned: {exc}",
            ).to_status()
            await self._publish(row, metadata, error=failed)
        except routing.OsrmUnavailable as exc:
            metadata.state = Metadata.STATE_FAILED
            unavailable = status_pb2.Status(
                code=code_pb2.UNAVAILABLE, message=f"road network unavailable: {exc}"
            )
            await self._publish(row, metadata, error=unavailable)
        except Exception as exc:
            log.exception("planning operation %s failed", row.id)
            metadata.state = Metadata.STATE_FAILED
            await self._publish(
                row,
                metadata,
                error=status_pb2.Status(code=code_pb2.INTERNAL, message=f"{type(exc).__name__}: {exc}"),
            )
