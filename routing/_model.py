"""Problem and solution value types.

Everything here is a frozen, slotted dataclass of plain values so that a `Problem` and a `Solution` cross a
process-pool boundary by pickling. Times are integer seconds since midnight of the service day, distances
integer metres, volumes litres and weights kilograms.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from routing._matrix import GreatCircleMatrix, Location, MatrixProvider

__all__ = [
    "LUNCH",
    "REST",
    "Break",
    "CostBreakdown",
    "Depot",
    "DrivingRule",
    "Facility",
    "Problem",
    "Route",
    "SkipReason",
    "Skipped",
    "Solution",
    "SolveOptions",
    "Stop",
    "TimeWindow",
    "Vehicle",
    "Visit",
    "VisitKind",
]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Closed interval `[start_s, end_s]` in seconds since midnight."""

    start_s: int
    end_s: int

    def contains(self, t: int) -> bool:
        """Whether `t` lies in the window, bounds included."""
        return self.start_s <= t <= self.end_s


@dataclass(frozen=True, slots=True)
class Stop:
    """A collection point: one or more containers of one stream emptied together.

    No `time_windows` means any time. Several windows are alternatives (the service must *start* in one).
    An optional stop (`required=False`) earns `prize` cost units when visited. Only a vehicle holding all
    of `required_skills` may serve it ("narrow" street, "crane" or "rear-lift" body). `release_s` is when
    its waste becomes available: the trip that serves it must leave its start point (the start depot, or
    the facility of the previous dump) at or after that time, as with release times in PyVRP.
    """

    id: str
    location: Location
    stream: str
    volume_l: float
    weight_kg: float
    service_s: int
    time_windows: tuple[TimeWindow, ...] = ()
    required: bool = True
    prize: float = 0.0
    container_ids: tuple[str, ...] = ()
    required_skills: frozenset[str] = frozenset()
    release_s: int = 0


@dataclass(frozen=True, slots=True)
class Depot:
    """Where vehicles start and end their day."""

    id: str
    location: Location


@dataclass(frozen=True, slots=True)
class Facility:
    """Disposal facility (transfer station, sorting centre, landfill).

    A dump must *start* within `opening` and lasts `dump_s`.
    """

    id: str
    location: Location
    streams: frozenset[str]
    opening: TimeWindow
    dump_s: int


@dataclass(frozen=True, slots=True)
class Break:
    """A driver break that must start in `[earliest_start_s, latest_start_s]` and last `duration_s`.

    It may interrupt driving or waiting, never a service or a dump. It is owed only while the crew is on
    duty: a day that ends by `latest_start_s`, or starts at `earliest_start_s + duration_s` or later, takes
    it off duty and its route shows no break.
    """

    earliest_start_s: int
    latest_start_s: int
    duration_s: int


@dataclass(frozen=True, slots=True)
class DrivingRule:
    """No more than `max_driving_s` of driving without a break of at least `break_s`.

    The default is the EU rule (Regulation (EC) No 561/2006, art. 7: 45 minutes after 4.5 hours of
    driving). A lunch at least `break_s` long counts as such a break, and so do the nights before and
    after the day. The solver keeps the *time on duty* (driving, service, dumps, waiting) between such
    breaks within `max_driving_s`, which implies the rule and does not depend on how the crew splits a
    leg around a break; `check` verifies the rule itself, on driving time.

    Measured limit: OR-Tools 9.15 finds no first plan for a day that needs two rests or more besides the
    lunch (a toy rule of 20 minutes on the test road), while one rest is found at once; under the EU rule
    that is a day of more than 9 h 45 min on duty without a lunch of 45 minutes. The PyVRP warm start's
    walk places any number of rests and its plan is then the answer.
    """

    max_driving_s: int = 16_200
    break_s: int = 2_700


# `Visit.ref_id` of a break: the lunch (`Vehicle.lunch`) or a rest owed under `Vehicle.driving_rule`.
LUNCH = "lunch"
REST = "rest"


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A collection truck.

    `streams` lists what the body may carry; a route carries a single one of them because a truck body
    is not compartmented. `route_volume_cap_l` bounds the litres collected over the whole day (across
    disposal trips); `max_stops` bounds the number of stops. `cost_per_hour` is paid for the whole day,
    from leaving the start depot to reaching the end depot, waiting and breaks included. That day lasts
    at most `max_duration_s`, and each hour of it beyond `overtime_after_s` costs `overtime_cost_per_hour`
    on top. `skills` are what the truck can do, matched against `Stop.required_skills`.

    `driving_rule` adds rests of `DrivingRule.break_s` where the driving time calls for them.

    `latest_departure_s` is when the truck must have left its start depot at the latest: crews clock in
    at the start of their shift and dispatchers expect the truck out then, while without it a plan may
    start late, for instance so that the day opens after the lunch window and owes no break.
    """

    id: str
    capacity_l: float
    capacity_kg: float
    streams: frozenset[str]
    start_depot: str
    end_depot: str
    shift: TimeWindow
    cost_per_km: float = 1.0
    cost_per_hour: float = 0.0
    fixed_cost: float = 0.0
    max_stops: int | None = None
    route_volume_cap_l: float | None = None
    lunch: Break | None = None
    max_duration_s: int | None = None
    overtime_after_s: int | None = None
    overtime_cost_per_hour: float = 0.0
    skills: frozenset[str] = frozenset()
    latest_departure_s: int | None = None
    driving_rule: DrivingRule | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One service day to plan."""

    stops: tuple[Stop, ...]
    vehicles: tuple[Vehicle, ...]
    depots: tuple[Depot, ...]
    facilities: tuple[Facility, ...]
    matrix: MatrixProvider = field(default_factory=GreatCircleMatrix)

    def locations(self) -> tuple[Location, ...]:
        """All locations in matrix order: depots, then facilities, then stops, each in problem order."""
        return (
            *(d.location for d in self.depots),
            *(f.location for f in self.facilities),
            *(s.location for s in self.stops),
        )


@dataclass(frozen=True, slots=True)
class SolveOptions:
    """Search settings.

    `seed` permutes the order in which stops are handed to the solver, which changes heuristic
    tie-breaking; 0 keeps the problem order. `max_trips_per_vehicle` bounds disposal trips per vehicle
    and facility; by default it is derived from the volume the vehicle could collect.

    Intraday re-planning: `frozen` maps a vehicle id to the visits it has already made today, in order
    (stop and facility ids); they stay at the head of its route, on that vehicle and in that order, and
    everything else is planned again. With `now_s`, nothing else starts before then: a vehicle with
    frozen visits leaves the last of them at `now_s` or later, any other vehicle leaves its depot then.
    `initial_routes` is a previous plan to start the search from (vehicle id to stop and facility ids);
    when it cannot be used the search starts from scratch and `Solution.notes` says why.

    `warm_start`, when there are no initial routes, frozen visits or `now_s`: "pyvrp" spends most of the
    time limit in PyVRP on a relaxation of the problem (no lunch, caps approximated) and starts the
    OR-Tools search from its plan, "none" never does, "auto" does from 20 stops up and, below, solves the
    day both ways in half the time each and returns the better plan. The plan returned is
    never worse than the warm start's own with the lunch put back, which is the answer when the problem
    is too large for OR-Tools to take over in time (see `routing._pyvrp`).
    """

    time_limit_s: float = 10.0
    seed: int = 0
    max_trips_per_vehicle: int | None = None
    initial_routes: Mapping[str, Sequence[str]] | None = None
    frozen: Mapping[str, Sequence[str]] | None = None
    now_s: int | None = None
    warm_start: str = "auto"


class VisitKind(enum.Enum):
    """What a visit on a route is."""

    DEPOT_START = "depot_start"
    STOP = "stop"
    FACILITY = "facility"
    BREAK = "break"
    DEPOT_END = "depot_end"


@dataclass(frozen=True, slots=True)
class Visit:
    """One step of a route.

    `arrival_s` is when the truck reaches the place (for a break, when it starts); `start_s`/`end_s`
    bound the service, dump or break. Loads are those on board *after* the visit, so 0 after a facility.
    """

    kind: VisitKind
    ref_id: str
    arrival_s: int
    start_s: int
    end_s: int
    load_l: float
    load_kg: float
    distance_from_prev_m: int


@dataclass(frozen=True, slots=True)
class Route:
    """The day of one vehicle; `duration_s` runs from leaving the start depot to reaching the end depot."""

    vehicle_id: str
    visits: tuple[Visit, ...]
    distance_m: int
    duration_s: int


class SkipReason(enum.Enum):
    """Why a stop is not on any route."""

    NOT_WORTH_IT = "not_worth_it"
    NO_CAPACITY = "no_capacity"
    NO_TIME = "no_time"
    INCOMPATIBLE = "incompatible"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A stop left out of the plan, with a human-readable `detail`."""

    stop_id: str
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Cost in the problem's cost units; `prizes_lost` sums the prizes of unvisited optional stops.

    `overtime` is the premium for hours beyond `Vehicle.overtime_after_s`; `total` sums every term.
    """

    distance: float
    time: float
    fixed: float
    prizes_lost: float
    total: float
    overtime: float = 0.0


@dataclass(frozen=True, slots=True)
class Solution:
    """Routes of the used vehicles only, skipped stops, and how the search went.

    `status` is `FEASIBLE` when a plan was found (guided local search proves no optimality) and
    `NO_SOLUTION` when the time limit ran out before the first one, every plannable stop then skipped.
    `notes` tell what the caller may want to know about the search, such as an unusable warm start.
    """

    routes: tuple[Route, ...]
    skipped: tuple[Skipped, ...]
    cost: CostBreakdown
    status: str
    solve_time_s: float
    notes: tuple[str, ...] = ()
