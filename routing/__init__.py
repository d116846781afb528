"""Waste collection routing: a problem in, a solution out.

`solve` plans a service day with disposal trips, lunch breaks, time windows and optional stops on
OR-Tools; `check` verifies any solution against the problem independently of the solver. Both take and
return frozen dataclasses that pickle, so `solve` can run in a process pool.
"""

from routing._checker import Violation, check
from routing._matrix import ExplicitMatrix, GreatCircleMatrix, Location, Matrix, MatrixProvider
from routing._model import (
    LUNCH,
    REST,
    Break,
    Compartment,
    CostBreakdown,
    Depot,
    DrivingRule,
    Facility,
    Problem,
    Route,
    Skipped,
    SkipReason,
    Solution,
    SolveOptions,
    Stop,
    TimeWindow,
    Vehicle,
    Visit,
    VisitKind,
)
from routing._osrm import OsrmMatrix, OsrmRoutes, OsrmUnavailable
from routing._solver import solve
from routing._validate import FieldViolation, ProblemError, validate

__all__ = [
    "LUNCH",
    "REST",
    "Break",
    "Compartment",
    "CostBreakdown",
    "Depot",
    "DrivingRule",
    "ExplicitMatrix",
    "Facility",
    "FieldViolation",
    "GreatCircleMatrix",
    "Location",
    "Matrix",
    "MatrixProvider",
    "OsrmMatrix",
    "OsrmRoutes",
    "OsrmUnavailable",
    "Problem",
    "ProblemError",
    "Route",
    "SkipReason",
    "Skipped",
    "Solution",
    "SolveOptions",
    "Stop",
    "TimeWindow",
    "Vehicle",
    "Violation",
    "Visit",
    "VisitKind",
    "check",
    "solve",
    "validate",
]
