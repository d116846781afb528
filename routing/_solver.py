"""`solve`: a problem in, a plan out, through OR-Tools with disposal trips as facility copies.

How a solve goes, one private module per stage:

1. `routing._layout`: the stops are triaged (what no vehicle can serve is skipped with a reason) and laid
   out as nodes, with facility copies for the disposal trips and one node per stop window;
2. `routing._search.warm_start`: on large enough days PyVRP plans a relaxation first (`routing._pyvrp`),
   and its routes become the initial routes; or `routing._repair` makes the caller's initial routes
   feasible and inserts the stops they miss;
3. `routing._build`: the OR-Tools routing model, with the dimensions of `routing._dimensions` (time,
   loads, caps, releases, breaks, the driving rule) and the frozen prefixes of a re-plan;
4. `routing._search.search`: OR-Tools' search within the time limit, from the initial routes, the frozen
   prefixes or nothing;
5. `routing._readback`: the assignment read back as timed routes, skipped stops with reasons, and costs.

Frozen prefixes and initial routes name stops and facilities; `routing._sequences` picks their nodes.
The measurements behind the constants are in bench/NOTES.md.
"""

from __future__ import annotations

import dataclasses
import time

from routing._build import build
from routing._eliminate import eliminate
from routing._layout import Layout, vehicle_weight
from routing._matrix import Matrix
from routing._model import Problem, Route, Skipped, SkipReason, Solution, SolveOptions
from routing._readback import assemble, read_routes, solution
from routing._repair import repair
from routing._search import (
    EXTRACTION_MARGIN_S,
    MIN_SEARCH_S,
    search,
    setup_estimate_s,
    warm_start,
)
from routing._validate import validate, validate_options

__all__ = ["solve"]

# "auto" warm-starts from this many stops up; below, it tries both ways (`_best_of_both`).
_WARM_START_MIN_STOPS = 20
_WARM_PLAN_NOTE = "OR-Tools found nothing better than the PyVRP warm start: its plan, lunch put back"
_REPAIRED_PLAN_NOTE = "OR-Tools found nothing better than the initial routes: they are the plan, repaired"
# Share of the time limit the repair of initial routes may take (`routing._repair`); the search has the rest.
_REPAIR_SHARE = 0.5
# OR-Tools takes over from repaired routes only when this many times its set-up estimate is left.
_SETUP_MARGIN = 1.5
# Route elimination (`objective="vehicles"`) stops at least this share of the time limit before the
# deadline: one insertion walks many routes and does not look at the clock.
_FINAL_MARGIN_SHARE = 0.02


def solve(problem: Problem, options: SolveOptions = SolveOptions()) -> Solution:  # noqa: B008
    """Plan a service day.

    Validates the problem and the options, lays the day out as an OR-Tools routing model (disposal trips,
    breaks, time windows, optional stops), searches within `options.time_limit_s`, possibly from a PyVRP
    warm start, and reads the best plan found back.

    Parameters
    ----------
    problem : Problem
        The stops, vehicles, depots and facilities of the day, and how to travel between them.
    options : SolveOptions, optional
        The time limit, seed, warm start and re-planning settings; the defaults plan from scratch in 10 s.

    Returns
    -------
    Solution
        Routes that pass `check`, every stop not served listed in `Solution.skipped` with a reason. The
        status is "FEASIBLE", or "NO_SOLUTION" (no routes, every plannable stop skipped) when the search
        found no plan at all.

    Raises
    ------
    ProblemError
        When the problem or the options are invalid, every faulty field named; also when frozen visits
        cannot be pinned (a stop the vehicle cannot serve, a facility with no copy left).
    """
    started = time.monotonic()
    validate(problem)
    validate_options(options, problem)
    if _tries_both(problem, options):
        return _best_of_both(problem, options, started)
    return _solve(problem, options, started)


def _solve(problem: Problem, options: SolveOptions, started: float) -> Solution:
    """`solve` for a valid problem, one way: from the warm start or not, as `options` say."""
    matrix = problem.matrix.matrix(problem.locations())
    if options.objective != "vehicles":
        return _search_plan(problem, matrix, options, started)
    # Fewest vehicles first: each vehicle costs more than everything else a plan can cost, for the search
    # and the warm start alike; the plan is then costed at the problem's own fixed costs.
    weight = vehicle_weight(problem, matrix)
    weighted = dataclasses.replace(
        problem,
        vehicles=tuple(dataclasses.replace(v, fixed_cost=v.fixed_cost + weight) for v in problem.vehicles),
    )
    plan = _search_plan(weighted, matrix, options, started)
    extra = weight * len(plan.routes)
    cost = dataclasses.replace(plan.cost, fixed=plan.cost.fixed - extra, total=plan.cost.total - extra)
    return dataclasses.replace(plan, cost=cost)


def _search_plan(problem: Problem, matrix: Matrix, options: SolveOptions, started: float) -> Solution:
    """`_solve` once the matrix is known and the costs are those to minimise."""
    layout = Layout(problem, matrix, options)
    if not layout.vehicle_options:
        return assemble(problem, (), layout.skipped, "FEASIBLE", started, notes=layout.notes)
    deadline = started + options.time_limit_s - EXTRACTION_MARGIN_S
    relaxed, fallback_note, final = _starting_plan(layout, started, deadline)
    if relaxed is not None and _eliminates(options):
        relaxed, final = _eliminated(layout, relaxed, final, deadline)
    if relaxed is not None and final:
        return solution(layout, relaxed, started)
    model = build(layout)
    assignment = search(model, deadline)
    if assignment is None:
        if relaxed is not None:
            layout.notes.append(fallback_note)
            return solution(layout, relaxed, started)
        return _no_plan(layout, started)
    plan = solution(layout, read_routes(model, assignment), started)
    # The search starts from the warm start's or the repaired routes, but OR-Tools may have rejected them.
    if relaxed is not None and _rank(solution(layout, relaxed, started), problem) < _rank(plan, problem):
        layout.notes.append(fallback_note)
        return solution(layout, relaxed, started)
    return plan


def _starting_plan(
    layout: Layout, started: float, deadline: float
) -> tuple[tuple[Route, ...] | None, str, bool]:
    """Routes of a whole plan the search starts from, the note if they are the answer, and whether they
    are the answer already for want of time.

    They are the PyVRP warm start's, or the caller's initial routes once repaired; None when there are
    neither (or the repaired routes leave vehicles out).
    """
    problem, options = layout.problem, layout.options
    if _wants_warm_start(problem, options):
        relaxed, final = warm_start(layout, started, deadline)
        if relaxed is not None and final:
            layout.notes.append(
                "too large for OR-Tools in the time limit: the plan is the PyVRP warm start's, lunch put back"
            )
        return relaxed, _WARM_PLAN_NOTE, final
    if options.initial_routes is None:
        return None, "", False
    relaxed = repair(layout, started + options.time_limit_s * _REPAIR_SHARE)
    layout.lay_out()
    # Loading a plan with lunches into OR-Tools takes long on large days (bench/NOTES.md, "Re-plan").
    final = relaxed is not None and deadline - time.monotonic() < setup_estimate_s(layout) * _SETUP_MARGIN
    if final:
        layout.notes.append(
            "no time left for OR-Tools to load the initial routes: the plan is them, repaired"
        )
    return relaxed, _REPAIRED_PLAN_NOTE, final


def _eliminates(options: SolveOptions) -> bool:
    """Whether the starting plan goes through route elimination: fewest vehicles first, and not in an
    intraday re-plan, whose crews keep their stops (`routing._repair`)."""
    return options.objective == "vehicles" and options.now_s is None and not options.frozen


def _eliminated(
    layout: Layout, relaxed: tuple[Route, ...], final: bool, deadline: float
) -> tuple[tuple[Route, ...], bool]:
    """The starting plan with the routes `routing._eliminate` empties, and whether it is the answer.

    Elimination takes its time from the OR-Tools search, which on large days gains little in it
    (bench/NOTES.md, "Warm start"), but leaves it the time to load the plan; when the starting plan is
    the answer already, elimination has all the time left.
    """
    margin = layout.options.time_limit_s * _FINAL_MARGIN_SHARE
    if not final:
        margin = max(margin, setup_estimate_s(layout) * _SETUP_MARGIN)
    reduced = eliminate(layout, relaxed, deadline - margin)
    return reduced, final or deadline - time.monotonic() < setup_estimate_s(layout)


def _no_plan(layout: Layout, started: float) -> Solution:
    """No routes: every plannable stop skipped, for want of any plan."""
    skipped = dict(layout.skipped)
    for i in layout.vehicle_options:
        skipped[i] = Skipped(
            layout.problem.stops[i].id, SkipReason.NO_TIME, "the solver found no plan at all"
        )
    return assemble(layout.problem, (), skipped, "NO_SOLUTION", started, notes=layout.notes)


def _tries_both(problem: Problem, options: SolveOptions) -> bool:
    """Whether "auto" solves a small day both ways (see `_best_of_both`)."""
    fresh = options.initial_routes is None and not options.frozen and options.now_s is None
    return fresh and options.warm_start == "auto" and len(problem.stops) < _WARM_START_MIN_STOPS


def _best_of_both(problem: Problem, options: SolveOptions, started: float) -> Solution:
    """A small day solved by OR-Tools alone, then from the warm start, each in half the time; the better.

    Neither way wins every small day (bench/NOTES.md, "Small days").
    """
    half = dataclasses.replace(options, time_limit_s=options.time_limit_s / 2, warm_start="none")
    plain = _solve(problem, half, started)
    second = time.monotonic()
    rest = max(options.time_limit_s - (second - started), MIN_SEARCH_S)
    warm = _solve(problem, dataclasses.replace(half, time_limit_s=rest, warm_start="pyvrp"), second)
    best = min((plain, warm), key=lambda solution: _rank(solution, problem))
    return dataclasses.replace(best, solve_time_s=time.monotonic() - started)


def _wants_warm_start(problem: Problem, options: SolveOptions) -> bool:
    """Whether to start from PyVRP's plan (`SolveOptions.warm_start`)."""
    if options.initial_routes is not None or options.frozen or options.now_s is not None:
        return False
    if options.warm_start == "auto":
        return len(problem.stops) >= _WARM_START_MIN_STOPS
    return options.warm_start == "pyvrp"


def _rank(solution: Solution, problem: Problem) -> tuple[int, float]:
    """Mandatory stops left out, then cost: the lower the better."""
    stops = {s.id: s for s in problem.stops}
    return sum(stops[s.stop_id].required for s in solution.skipped), solution.cost.total
