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
    "Compartment",
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
    """A closed interval of time, `[start_s, end_s]`.

    Attributes
    ----------
    start_s, end_s : int
        Its bounds, both included, in seconds since midnight of the service day.
    """

    start_s: int
    end_s: int

    def contains(self, t: int) -> bool:
        """Whether `t` lies in the window, bounds included."""
        return self.start_s <= t <= self.end_s


@dataclass(frozen=True, slots=True)
class Stop:
    """A collection point: one or more containers of one stream emptied together.

    Attributes
    ----------
    id : str
        Unique among the stops; names the stop in routes, skips and errors.
    location : Location
        Where the truck stops.
    stream : str
        The waste stream ("residual", "glass", ...); only a vehicle carrying it may serve the stop.
    volume_l, weight_kg : float
        What the stop puts on board.
    service_s : int
        How long serving it takes.
    time_windows : tuple of TimeWindow, optional
        When the service may *start*. Several windows are alternatives; none means any time.
    required : bool, optional
        Whether the stop must be served. A stop that cannot be is reported in `Solution.skipped`.
    prize : float, optional
        Cost units an optional stop (`required=False`) earns when visited.
    container_ids : tuple of str, optional
        The containers emptied there, for the caller's records.
    required_skills : frozenset of str, optional
        What the truck must be able to do ("narrow" street, "crane" or "rear-lift" body): only a vehicle
        whose `Vehicle.skills` hold them all may serve the stop.
    release_s : int, optional
        When its waste becomes available: the trip that serves it must leave its start point (the start
        depot, or the facility of the previous dump) at or after that time, as with release times in
        PyVRP.
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
    """Where vehicles start and end their day.

    Attributes
    ----------
    id : str
        Unique among the depots; `Vehicle.start_depot` and `Vehicle.end_depot` name it.
    location : Location
        Where it is.
    """

    id: str
    location: Location


@dataclass(frozen=True, slots=True)
class Facility:
    """A disposal facility (transfer station, sorting centre, landfill).

    Attributes
    ----------
    id : str
        Unique among the facilities; names it in routes and in `SolveOptions` sequences.
    location : Location
        Where it is.
    streams : frozenset of str
        The streams it accepts; a trip dumps only where its stream is accepted.
    opening : TimeWindow
        When a dump may *start*.
    dump_s : int
        How long a dump lasts.
    """

    id: str
    location: Location
    streams: frozenset[str]
    opening: TimeWindow
    dump_s: int


@dataclass(frozen=True, slots=True)
class Break:
    """A driver break, such as the lunch.

    It may interrupt driving or waiting, never a service or a dump. It is owed only while the crew is on
    duty: a day that ends by `latest_start_s`, or starts at `earliest_start_s + duration_s` or later, takes
    it off duty and its route shows no break.

    Attributes
    ----------
    earliest_start_s, latest_start_s : int
        The break must start between these two times, both included.
    duration_s : int
        How long it lasts.
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

    Attributes
    ----------
    max_driving_s : int, optional
        The longest driving between two breaks.
    break_s : int, optional
        The shortest break that resets it.

    Notes
    -----
    OR-Tools 9.15 finds no first plan for a day that needs two rests or more besides the lunch, while
    one rest is found at once (bench/NOTES.md, "Rests"); under the EU rule that is a day of more than
    9 h 45 min on duty without a lunch of 45 minutes. The PyVRP warm start's walk places any number of
    rests and its plan is then the answer.
    """

    max_driving_s: int = 16_200
    break_s: int = 2_700


# `Visit.ref_id` of a break: the lunch (`Vehicle.lunch`) or a rest owed under `Vehicle.driving_rule`.
LUNCH = "lunch"
REST = "rest"


@dataclass(frozen=True, slots=True)
class Compartment:
    """One compartment of a compartmented body (two-compartment refuse trucks: residual and packaging).

    Attributes
    ----------
    streams : frozenset of str
        What it carries, together: streams collected mixed in it (packaging and paper, say) are
        emptied together at a facility that accepts them all.
    capacity_l, capacity_kg : float
        What it holds.
    """

    streams: frozenset[str]
    capacity_l: float
    capacity_kg: float


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A collection truck.

    Attributes
    ----------
    id : str
        Unique among the vehicles; names its route.
    capacity_l, capacity_kg : float
        What the body holds; a disposal trip empties it.
    streams : frozenset of str
        What the body may carry. A disposal trip carries a single one of them because a truck body is
        not compartmented; the next trip may carry another.
    start_depot, end_depot : str
        Ids of the depots where its day starts and ends.
    shift : TimeWindow
        When it may leave its start depot and must be back at its end depot.
    cost_per_km : float, optional
        Cost units per kilometre driven.
    cost_per_hour : float, optional
        Cost units per hour of the whole day, from leaving the start depot to reaching the end depot,
        waiting and breaks included.
    fixed_cost : float, optional
        Cost units for using the vehicle at all.
    max_stops : int, optional
        At most this many stops in the day.
    route_volume_cap_l : float, optional
        At most this many litres collected over the whole day, across disposal trips.
    lunch : Break, optional
        The crew's lunch.
    max_duration_s : int, optional
        The longest day.
    overtime_after_s : int, optional
        Each hour of the day beyond this costs `overtime_cost_per_hour` on top.
    overtime_cost_per_hour : float, optional
        The overtime premium, in cost units per hour.
    skills : frozenset of str, optional
        What the truck can do, matched against `Stop.required_skills`.
    latest_departure_s : int, optional
        When the truck must have left its start depot at the latest: crews clock in at the start of their
        shift and dispatchers expect the truck out then, while without it a plan may start late, for
        instance so that the day opens after the lunch window and owes no break.
    driving_rule : DrivingRule, optional
        Adds rests of `DrivingRule.break_s` where the driving time calls for them.
    compartments : tuple of Compartment, optional
        A compartmented body: each stream goes in the compartment that lists it (their streams are
        disjoint and together make `streams`), within that compartment's capacity, so one trip may
        carry several streams; `capacity_l` and `capacity_kg` still bound the whole load. A dump empties
        every compartment whose streams the facility all accepts, so a trip may end at several
        facilities in a row. The PyVRP warm start does not model compartments and plans without the
        vehicle, which the OR-Tools search then gives work.
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
    compartments: tuple[Compartment, ...] = ()

    def compartment_of(self, stream: str) -> int:
        """The index of the compartment that carries `stream`, or -1 (no compartments, or none takes it)."""
        return next((j for j, c in enumerate(self.compartments) if stream in c.streams), -1)


@dataclass(frozen=True, slots=True)
class Problem:
    """One service day to plan.

    Attributes
    ----------
    stops : tuple of Stop
        What to collect.
    vehicles : tuple of Vehicle
        The fleet of the day.
    depots : tuple of Depot
        Where the vehicles start and end.
    facilities : tuple of Facility
        Where they dump.
    matrix : MatrixProvider, optional
        Travel between the problem's places, asked in `locations()` order; great-circle by default.
    """

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
    """Search settings for `solve`.

    Attributes
    ----------
    time_limit_s : float, optional
        The wall time `solve` aims to return within, from its call, validation and read-back included.
    seed : int, optional
        Permutes the order in which stops are handed to the solver, which changes heuristic
        tie-breaking; 0 keeps the problem order.
    max_trips_per_vehicle : int, optional
        Bounds disposal trips per vehicle and facility; by default it is derived from the volume the
        vehicle could collect.
    initial_routes : mapping of str to sequence of str, optional
        A previous plan to start the search from (vehicle id to stop and facility ids), such as the
        crews' remaining order in a re-plan. Each route is first walked at the earliest times: what does
        not fit where it is (a full trip, a lunch or a window missed) is left out, and every mandatory stop
        on no route is inserted where it adds the least distance (`routing._repair`); `Solution.notes`
        names what was moved. With `now_s` (an intraday re-plan) the stops a route kept stay on its
        vehicle, the search may only reorder them. The plan returned is never worse than these routes,
        which are the answer
        when the day is too large for OR-Tools to load them in time. Vehicles with compartments or frozen
        visits keep their routes as given. When OR-Tools cannot use them the search starts from scratch
        and `Solution.notes` says why.
    frozen : mapping of str to sequence of str, optional
        Intraday re-planning: a vehicle id to the visits it has already made today, in order (stop and
        facility ids). They stay at the head of its route, on that vehicle and in that order, and
        everything else is planned again.
    now_s : int, optional
        The time of an intraday re-plan: nothing else starts before then. A vehicle with frozen visits
        leaves the last of them at `now_s` or later, any other vehicle leaves its depot then.
    warm_start : {"auto", "pyvrp", "none"}, optional
        Applies when there are no initial routes, frozen visits or `now_s`. "pyvrp" spends most of the
        time limit in PyVRP on a relaxation of the problem (no lunch, caps approximated) and starts the
        OR-Tools search from its plan; "none" never does; "auto" does from 20 stops up and, below, solves
        the day both ways in half the time each and returns the better plan. The plan returned is never
        worse than the warm start's own with the lunch put back, which is the answer when the problem is
        too large for OR-Tools to take over in time (see `routing._pyvrp`).
    objective : {"cost", "vehicles"}, optional
        "cost" minimises the plan's cost (`CostBreakdown.total`); "vehicles" minimises first the number
        of vehicles used, then that cost, as the waste-collection literature does: every vehicle then
        weighs more in the search than anything else a plan can cost. `Solution.cost` is the plan's
        cost either way.
    """

    time_limit_s: float = 10.0
    seed: int = 0
    max_trips_per_vehicle: int | None = None
    initial_routes: Mapping[str, Sequence[str]] | None = None
    frozen: Mapping[str, Sequence[str]] | None = None
    now_s: int | None = None
    warm_start: str = "auto"
    objective: str = "cost"


class VisitKind(enum.Enum):
    """What a visit on a route is.

    Attributes
    ----------
    DEPOT_START, DEPOT_END
        The first and last visit of every route.
    STOP
        A stop served.
    FACILITY
        A dump.
    BREAK
        A lunch or a rest (`Visit.ref_id` is `LUNCH` or `REST`).
    """

    DEPOT_START = "depot_start"
    STOP = "stop"
    FACILITY = "facility"
    BREAK = "break"
    DEPOT_END = "depot_end"


@dataclass(frozen=True, slots=True)
class Visit:
    """One step of a route.

    Attributes
    ----------
    kind : VisitKind
        What the step is.
    ref_id : str
        The id of the depot, stop or facility, or `LUNCH` or `REST` for a break.
    arrival_s : int
        When the truck reaches the place (for a break, when it starts).
    start_s, end_s : int
        When the service, dump or break starts and ends.
    load_l, load_kg : float
        The load on board *after* the visit, so 0 after a facility (but for compartments it refuses).
    distance_from_prev_m : int
        The distance driven from the previous visit.
    compartment_loads_l : tuple of float, optional
        For a compartmented vehicle, the litres in each compartment after the visit.
    """

    kind: VisitKind
    ref_id: str
    arrival_s: int
    start_s: int
    end_s: int
    load_l: float
    load_kg: float
    distance_from_prev_m: int
    compartment_loads_l: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """The day of one vehicle.

    Attributes
    ----------
    vehicle_id : str
        Whose day it is.
    visits : tuple of Visit
        From the start depot to the end depot, breaks included.
    distance_m : int
        The distance driven over the day.
    duration_s : int
        From leaving the start depot to reaching the end depot.
    """

    vehicle_id: str
    visits: tuple[Visit, ...]
    distance_m: int
    duration_s: int


class SkipReason(enum.Enum):
    """Why a stop is not on any route.

    Attributes
    ----------
    NOT_WORTH_IT
        An optional stop whose prize does not pay the detour.
    NO_CAPACITY
        Every vehicle that could take it is at its daily volume cap or stop limit.
    NO_TIME
        It fits in no vehicle's day: shifts, time windows, breaks, releases, day lengths.
    INCOMPATIBLE
        No vehicle carries its stream, or none that does has the skills it requires.
    """

    NOT_WORTH_IT = "not_worth_it"
    NO_CAPACITY = "no_capacity"
    NO_TIME = "no_time"
    INCOMPATIBLE = "incompatible"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A stop left out of the plan.

    Attributes
    ----------
    stop_id : str
        Which stop.
    reason : SkipReason
        Why, as a category.
    detail : str
        Why, in words a dispatcher can act on.
    """

    stop_id: str
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """The cost of a plan, in the problem's cost units.

    Attributes
    ----------
    distance : float
        Kilometres driven times each vehicle's `cost_per_km`.
    time : float
        Hours of each day times its vehicle's `cost_per_hour`.
    fixed : float
        The `fixed_cost` of each vehicle used.
    prizes_lost : float
        The prizes of the optional stops left out.
    total : float
        Every term summed.
    overtime : float, optional
        The premium for hours beyond `Vehicle.overtime_after_s`.
    """

    distance: float
    time: float
    fixed: float
    prizes_lost: float
    total: float
    overtime: float = 0.0


@dataclass(frozen=True, slots=True)
class Solution:
    """The plan `solve` returns.

    Attributes
    ----------
    routes : tuple of Route
        The days of the vehicles used, in problem order; an unused vehicle has none.
    skipped : tuple of Skipped
        Every stop on no route, with the reason.
    cost : CostBreakdown
        What the plan costs.
    status : str
        "FEASIBLE" when a plan was found (guided local search proves no optimality), "NO_SOLUTION" when
        the time limit ran out before the first one, every plannable stop then skipped.
    solve_time_s : float
        The wall time `solve` took.
    notes : tuple of str, optional
        What the caller may want to know about the search, such as an unusable warm start.
    """

    routes: tuple[Route, ...]
    skipped: tuple[Skipped, ...]
    cost: CostBreakdown
    status: str
    solve_time_s: float
    notes: tuple[str, ...] = ()
