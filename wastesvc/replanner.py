"""ReplanRoutes operations: read a published day, re-plan its rest in the solver pool, store the new version.

The operation is stored like an OptimizeRoutes one (GetOperation, WaitOperation and CancelOperation reach
it through the planner), its response a `ReplanRoutesResponse`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from google.longrunning import operations_pb2
from google.rpc import code_pb2, status_pb2

import routing
from wastesvc.auth import authorize
from wastesvc.dispatch.lifecycle import overlay
from wastesvc.dispatch.replan import (
    ReplanInput,
    Replanned,
    assemble_plan,
    availability,
    build_replan,
    diff_plans,
    positions,
)
from wastesvc.domain._common import (
    check_tenant_names,
    from_timestamp,
    parse_name,
    resource_name,
    to_timestamp,
)
from wastesvc.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from wastesvc.planner import Planner, operation_snapshot, replay, request_hash
from wastesvc.storage import (
    ContainerRow,
    DepotRow,
    DispatchStore,
    FacilityRow,
    OperationRow,
    PlanRow,
    PlanStateRow,
    Storage,
    VehicleRow,
)
from wastesvc.v1 import dispatch_pb2, planning_pb2

__all__ = ["Replanner"]

log = logging.getLogger(__name__)
Metadata = planning_pb2.OptimizeRoutesMetadata
DEFAULT_TIME_LIMIT_S = 5.0
MAX_TIME_LIMIT = timedelta(minutes=10)


@dataclass
class _Job:
    row: OperationRow
    metadata: planning_pb2.OptimizeRoutesMetadata
    request: dispatch_pb2.ReplanRoutesRequest
    plan_name: str  # the plan being re-planned
    new_name: str


class Replanner:
    """Starts ReplanRoutes operations; the planner tracks their tasks for cancel and wait."""

    def __init__(self, storage: Storage, dispatch: DispatchStore, planner: Planner) -> None:
        self.storage = storage
        self.dispatch = dispatch
        self.planner = planner

    async def start(self, request: dispatch_pb2.ReplanRoutesRequest) -> operations_pb2.Operation:
        tenant, plan_id = parse_name(request.name, "routePlans")
        authorize(tenant, "plan", commune_wide=True)
        _validate(tenant, request)
        operation, job = await asyncio.to_thread(self._record, tenant, plan_id, request)
        if job is not None:
            task = asyncio.get_running_loop().create_task(self._run(job))
            self.planner.track(job.row.id, task)
        return operation

    def _record(
        self, tenant: str, plan_id: str, request: dispatch_pb2.ReplanRoutesRequest
    ) -> tuple[operations_pb2.Operation, _Job | None]:
        replayed = replay(self.storage, tenant, request)
        if replayed is not None:
            return replayed, None
        row = self.storage.get_plan(tenant, plan_id)
        if row is None:
            raise NotFound(request.name, field="name")
        state = self.dispatch.state(tenant, plan_id)
        if state.state not in {"PUBLISHED", "IN_PROGRESS"}:
            raise FailedPrecondition(
                f"{request.name} is {state.state.lower().replace('_', ' ')}: "
                "only a published plan is re-planned",
                reason="PLAN_NOT_PUBLISHED" if state.state == "DRAFT" else "PLAN_CLOSED",
                metadata={"plan": request.name},
            )
        operation_id = uuid.uuid4().hex
        new_name = resource_name(
            tenant, "routePlans", f"{plan_id.partition('-v')[0]}-v{state.version + 1}-{operation_id[:6]}"
        )
        created = datetime.now(UTC)
        operation = operations_pb2.Operation(name=resource_name(tenant, "operations", operation_id))
        metadata = Metadata(
            state=Metadata.STATE_QUEUED,
            create_time=to_timestamp(created),
            route_plan=new_name,
            request_hash=request_hash(request),
        )
        metadata.service_date.CopyFrom(planning_pb2.RoutePlan.FromString(row.body).service_date)
        operation.metadata.Pack(metadata)
        op_row = OperationRow(
            id=operation_id,
            tenant=tenant,
            request_id=request.request_id or None,
            body=operation.SerializeToString(),
            create_time=created,
            update_time=created,
        )
        self.storage.save_operation(op_row)
        return operation, _Job(op_row, metadata, request, request.name, new_name)

    async def _publish(
        self,
        job: _Job,
        *,
        response: dispatch_pb2.ReplanRoutesResponse | None = None,
        error: status_pb2.Status | None = None,
    ) -> None:
        operation = operations_pb2.Operation(name=resource_name(job.row.tenant, "operations", job.row.id))
        if response is not None or error is not None:
            operation.done = True
            job.metadata.end_time.CopyFrom(to_timestamp(datetime.now(UTC)))
            if response is not None:
                operation.response.Pack(response)
            else:
                operation.error.CopyFrom(error)
        operation.metadata.Pack(job.metadata)
        job.row.body, job.row.done = operation.SerializeToString(), operation.done
        await asyncio.to_thread(self.storage.save_operation, operation_snapshot(job.row))

    async def _run(self, job: _Job) -> None:
        try:
            job.metadata.state, job.metadata.progress_percent = Metadata.STATE_SELECTING, 5
            await self._publish(job)
            data = await asyncio.to_thread(self.read_input, job.plan_name, job.request)
            limit = job.request.time_limit.ToTimedelta().total_seconds() or DEFAULT_TIME_LIMIT_S
            replanned = build_replan(data, limit)
            job.metadata.selected_container_count = sum(
                len(s.container_ids) for s in replanned.built.problem.stops
            )
            job.metadata.state, job.metadata.progress_percent = Metadata.STATE_SOLVING, 20
            await self._publish(job)
            solution = await self.planner.pool.solve(replanned.built.problem, replanned.options)
            response = await asyncio.to_thread(self._store, job, data, replanned, solution)
            job.metadata.state, job.metadata.progress_percent = Metadata.STATE_SUCCEEDED, 100
            await self._publish(job, response=response)
        except asyncio.CancelledError:
            job.metadata.state = Metadata.STATE_CANCELLED
            cancelled = status_pb2.Status(code=code_pb2.CANCELLED, message="cancelled by a client")
            await asyncio.shield(self._publish(job, error=cancelled))
        except routing.ProblemError as exc:
            job.metadata.state = Metadata.STATE_FAILED
            failed = status_pb2.Status(
                code=code_pb2.FAILED_PRECONDITION, message=f"the rest of the day cannot be re-planned: {exc}"
            )
            await self._publish(job, error=failed)
        except Exception as exc:
            log.exception("re-plan operation %s failed", job.row.id)
            job.metadata.state = Metadata.STATE_FAILED
            await self._publish(
                job, error=status_pb2.Status(code=code_pb2.INTERNAL, message=f"{type(exc).__name__}: {exc}")
            )

    def read_input(self, plan_name: str, request: dispatch_pb2.ReplanRoutesRequest) -> ReplanInput:
        """Everything the re-plan of `plan_name` reads, in one go (a worker thread's storage work)."""
        tenant, plan_id = parse_name(plan_name, "routePlans")
        row = self.storage.get_plan(tenant, plan_id)
        assert row is not None
        statuses = self.dispatch.statuses(tenant, plan_id)
        plan = overlay(
            planning_pb2.RoutePlan.FromString(row.body), self.dispatch.state(tenant, plan_id), statuses
        )
        at = from_timestamp(request.replan_time) if request.HasField("replan_time") else datetime.now(UTC)
        overrides = {parse_name(s.vehicle, "vehicles")[1]: s.available for s in request.vehicles}
        urgent = [parse_name(n, "containers")[1] for n in request.urgent_containers]
        ids = {n.rsplit("/", 1)[-1] for r in plan.routes for v in r.visits for n in v.containers} | set(
            urgent
        )
        containers = self.storage.get_many(ContainerRow, tenant, sorted(ids))
        for i, container_id in enumerate(urgent):
            if container_id not in containers:
                raise NotFound(request.urgent_containers[i], field=f"urgent_containers[{i}]")
        latest = self.storage.latest_readings(tenant, urgent)
        events = self.dispatch.events(tenant, plan_id)
        tz = self.planner.timezone
        d = plan.service_date
        service_date = date(d.year, d.month, d.day)
        midnight = datetime.combine(service_date, datetime.min.time(), tz)
        return ReplanInput(
            tenant=tenant,
            plan=plan,
            statuses=statuses,
            available=availability(events, at, overrides),
            containers=containers,
            fills={k: v.fill for k, v in latest.items()},
            urgent=urgent,
            vehicles={
                v.id: v for v in self.storage.list_page(VehicleRow, tenant, after=None, limit=10_000).items
            },
            depots={
                d.id: d for d in self.storage.list_page(DepotRow, tenant, after=None, limit=10_000).items
            },
            facilities=self.storage.list_page(FacilityRow, tenant, after=None, limit=10_000).items,
            closed_facilities=frozenset(parse_name(n, "facilities")[1] for n in request.closed_facilities),
            service_date=service_date,
            timezone=tz,
            now_s=max(0, int((at - midnight).total_seconds())),
            positions=positions(events, at),
        )

    def _store(
        self, job: _Job, data: ReplanInput, replanned: Replanned, solution: routing.Solution
    ) -> dispatch_pb2.ReplanRoutesResponse:
        """Stores the new version (a DRAFT linked to the old plan) with the made visits' statuses."""
        tenant, old_id = parse_name(job.plan_name, "routePlans")
        new_id = job.new_name.rsplit("/", 1)[-1]
        created = datetime.now(UTC)
        new = assemble_plan(job.new_name, data, replanned, solution, created)
        old_state = self.dispatch.state(tenant, old_id)
        self.storage.save_plan(
            PlanRow(
                tenant=tenant,
                id=new_id,
                service_date=data.service_date,
                body=new.SerializeToString(),
                create_time=created,
            )
        )
        self.dispatch.save_state(
            PlanStateRow(tenant=tenant, plan_id=new_id, version=old_state.version + 1, previous_plan=old_id)
        )
        carried = [
            s.model_copy(update={"plan_id": new_id})
            for s in data.statuses.values()
            if s.status in {"DONE", "SKIPPED"}
        ]
        self.dispatch.save_statuses(carried)
        stored = overlay(new, self.dispatch.state(tenant, new_id), {s.visit_id: s for s in carried})
        remaining = [
            v.id
            for r in data.plan.routes
            for v in r.visits
            if v.kind == planning_pb2.VISIT_KIND_CONTAINER
            and (v.id not in data.statuses or data.statuses[v.id].status not in {"DONE", "SKIPPED"})
        ]
        changes, kept = diff_plans(data.plan, stored, remaining, replanned.gone)
        return dispatch_pb2.ReplanRoutesResponse(route_plan=stored, changes=changes, kept_count=kept)


def _validate(tenant: str, request: dispatch_pb2.ReplanRoutesRequest) -> None:
    violations = []
    limit = request.time_limit.ToTimedelta()
    if limit < timedelta(0) or limit > MAX_TIME_LIMIT:
        violations.append(FieldViolation("time_limit", "must be between 0 and 10 minutes"))
    names = [(f"vehicles[{i}].vehicle", s.vehicle, "vehicles") for i, s in enumerate(request.vehicles)]
    names += [(f"urgent_containers[{i}]", c, "containers") for i, c in enumerate(request.urgent_containers)]
    names += [(f"closed_facilities[{i}]", f, "facilities") for i, f in enumerate(request.closed_facilities)]
    violations += check_tenant_names(tenant, names)
    if violations:
        raise InvalidArgument(violations)
