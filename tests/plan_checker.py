"""An independent checker of RoutePlan resources, written from the contract alone (not from the solver).

It reads the plan and the resources it names through the public API and verifies what a dispatcher relies
on: capacity, empty at the end of the day, shift, break, access windows and opening hours, no double visit.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from wastesvc.domain.planning import PRE_DEPARTURE_CHECK_S
from wastesvc.v1 import common_pb2, containers_pb2, fleet_pb2, planning_pb2

PARIS = ZoneInfo("Europe/Paris")
# ETAs are whole seconds; a second of rounding is not a violation.
SLACK = timedelta(seconds=1)
K = planning_pb2
PAUSES = (K.VISIT_KIND_BREAK, K.VISIT_KIND_REST)
# The EU driving-time rule as the contract states it: the time on duty between breaks of 45 minutes or
# more (the start and the end of the day count as such) stays within 4 h 30.
REST = timedelta(minutes=45)
STINT = timedelta(hours=4, minutes=30)


def _local(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC).astimezone(PARIS)


def _seconds(value: datetime) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def _window_s(window: common_pb2.TimeWindow) -> tuple[int, int]:
    start, end = window.start_time, window.end_time
    return start.hours * 3600 + start.minutes * 60, end.hours * 3600 + end.minutes * 60


def check_plan(
    plan: planning_pb2.RoutePlan,
    containers: dict[str, containers_pb2.Container],
    vehicles: dict[str, fleet_pb2.Vehicle],
    facilities: dict[str, fleet_pb2.Facility],
    *,
    driving_rule: bool = False,
) -> list[str]:
    """Returns every violation found, as sentences; an empty list means the plan is feasible.

    `driving_rule`: the plan was asked for with `OptimizeOptions.driving_time_rule`.
    """
    problems: list[str] = []
    seen: Counter[str] = Counter()
    for route in plan.routes:
        vehicle = vehicles[route.vehicle]
        where = route.vehicle
        visits = list(route.visits)
        if visits[0].kind != K.VISIT_KIND_DEPOT_START or visits[-1].kind != K.VISIT_KIND_DEPOT_END:
            problems.append(f"{where}: does not start and end at the depot")
        shift_start, shift_end = _window_s(vehicle.shift)
        # The crew is due out once it has checked the truck, no earlier and no later.
        due_out = shift_start + PRE_DEPARTURE_CHECK_S
        if _seconds(_local(visits[0].start_time)) < due_out:
            problems.append(f"{where}: leaves before the crew has checked the truck")
        elif _seconds(_local(visits[0].start_time)) > due_out:
            problems.append(f"{where}: leaves after the crew's check, when it is due out")
        if _seconds(_local(visits[-1].arrival_time)) > shift_end:
            problems.append(f"{where}: back after the shift ends")
        load = 0.0
        previous_end = _local(visits[0].end_time)
        breaks = 0
        # A body carries one stream per disposal trip; the truck may change stream after a dump.
        trip_stream: int | None = None
        trip_streams: list[int] = []
        # A compartmented body mixes streams in a trip, each in its compartment.
        mixed = bool(vehicle.compartments)
        for i, visit in enumerate(visits):
            arrival, start, end = _local(visit.arrival_time), _local(visit.start_time), _local(visit.end_time)
            if not arrival <= start + SLACK or not start <= end + SLACK:
                problems.append(f"{where} visit {i}: arrival/start/end out of order")
            if i and visit.kind not in PAUSES and arrival + SLACK < previous_end:
                problems.append(f"{where} visit {i}: arrives before leaving the previous visit")
            if visit.kind == K.VISIT_KIND_CONTAINER:
                for name in visit.containers:
                    seen[name] += 1
                    container = containers[name]
                    if not mixed and trip_stream is None:
                        trip_stream = container.stream
                        if not trip_streams or trip_streams[-1] != trip_stream:
                            trip_streams.append(trip_stream)
                    if not mixed and container.stream != trip_stream:
                        problems.append(f"{where}: {name} is not {trip_stream}, the stream of its trip")
                    if container.stream not in vehicle.streams:
                        problems.append(f"{where}: the vehicle does not carry {name}'s stream")
                    windows = [_window_s(w) for w in container.access_windows]
                    if windows and not any(a <= _seconds(start) <= b for a, b in windows):
                        problems.append(
                            f"{where}: {name} emptied at {start:%H:%M}, outside its access windows"
                        )
                if visit.load_liters + 1e-6 < load:
                    problems.append(f"{where} visit {i}: load decreases without a disposal")
                load = visit.load_liters
                if load > vehicle.capacity_liters + 1e-6:
                    problems.append(
                        f"{where} visit {i}: {load:.0f} L on board, capacity {vehicle.capacity_liters}"
                    )
                for j, (held, room) in enumerate(
                    zip(visit.compartment_load_liters, vehicle.compartments, strict=mixed)
                ):
                    if held > room.capacity_liters + 1e-6:
                        problems.append(f"{where} visit {i}: compartment {j} holds {held:.0f} L")
                if visit.load_kg > vehicle.capacity_kg + 1e-6:
                    problems.append(f"{where} visit {i}: {visit.load_kg:.0f} kg on board over payload")
            elif visit.kind == K.VISIT_KIND_DISPOSAL:
                facility = facilities[visit.site]
                if trip_stream is not None and trip_stream not in facility.accepted_streams:
                    problems.append(f"{where}: {visit.site} does not accept its stream")
                trip_stream = None
                opens, closes = _window_s(facility.opening_hours)
                if not (opens <= _seconds(start) and _seconds(end) <= closes):
                    problems.append(f"{where}: unloads at {visit.site} outside its opening hours")
                if mixed:
                    for j, (held, c) in enumerate(
                        zip(visit.compartment_load_liters, vehicle.compartments, strict=True)
                    ):
                        if held and set(c.streams) <= set(facility.accepted_streams):
                            problems.append(f"{where} visit {i}: compartment {j} not emptied at {visit.site}")
                    if abs(sum(visit.compartment_load_liters) - visit.load_liters) > 1e-6:
                        problems.append(f"{where} visit {i}: compartments do not add up to the load")
                elif visit.load_liters != 0:
                    problems.append(f"{where} visit {i}: still loaded after unloading")
                load = 0.0
            elif visit.kind == K.VISIT_KIND_BREAK:
                breaks += 1
                earliest, latest = _window_s(vehicle.break_window)
                if not earliest <= _seconds(start) <= latest:
                    problems.append(f"{where}: break starts at {start:%H:%M}, outside its window")
                if (end - start) + SLACK < vehicle.break_duration.ToTimedelta():
                    problems.append(f"{where}: break shorter than {vehicle.break_duration.ToTimedelta()}")
            elif visit.kind == K.VISIT_KIND_REST:
                if not driving_rule:
                    problems.append(f"{where}: a rest, while the driving-time rule was not asked for")
                if end - start + SLACK < REST:
                    problems.append(f"{where}: rest of {end - start}, the rule owes {REST}")
            if visit.kind not in PAUSES:
                previous_end = end
        # A crew back at the depot before its break window closes takes its break there, off the route.
        back = _seconds(_local(visits[-1].arrival_time))
        if vehicle.break_duration.seconds and back > _window_s(vehicle.break_window)[1] and breaks != 1:
            problems.append(f"{where}: {breaks} breaks instead of one during a day back at {back // 3600}h")
        if not mixed and (
            list(route.streams) != trip_streams or (trip_streams and route.stream != trip_streams[0])
        ):
            problems.append(
                f"{where}: streams {list(route.streams)} are not those of its trips {trip_streams}"
            )
        collected = [v for v in visits if v.kind == K.VISIT_KIND_CONTAINER]
        before_end = [v for v in visits if v.kind not in PAUSES][-2]
        if driving_rule:
            problems += _stints(where, visits)
        if collected and before_end.kind != K.VISIT_KIND_DISPOSAL:
            problems.append(f"{where}: goes home loaded (last stop before the depot is not a disposal)")
        if visits[-1].load_liters != 0:
            problems.append(f"{where}: ends the day with {visits[-1].load_liters:.0f} L on board")
    problems += [f"{name} emptied {count} times" for name, count in seen.items() if count > 1]
    skipped = {s.container for s in plan.skipped}
    problems += [f"{name} both planned and skipped" for name in skipped & set(seen)]
    return problems


def _stints(where: str, visits: list[planning_pb2.Visit]) -> list[str]:
    """The stretches on duty longer than the driving-time rule allows."""
    bounds = [_local(visits[0].start_time)]
    for visit in visits:
        start, end = _local(visit.start_time), _local(visit.end_time)
        if visit.kind in PAUSES and end - start + SLACK >= REST:
            bounds += [start, end]
    bounds.append(_local(visits[-1].arrival_time))
    return [
        f"{where}: on duty {b - a} from {a:%H:%M} without a rest of 45 minutes"
        for a, b in zip(bounds[::2], bounds[1::2], strict=True)
        if b - a > STINT + SLACK
    ]
