"""Fill intelligence: a container's readings in, emptyings, forecasts, health findings and selections out.

A pure library like `routing`: no gRPC, no database. See README.md in this package for the model.
"""

from wastesvc.fill.emptying import CollectionEvent, Emptying, Source, detect_emptyings, merge_collections
from wastesvc.fill.forecast import Forecast, Prior, Reliability, fit_forecast, pooled_prior
from wastesvc.fill.health import Finding, FindingKind, HealthRules, Severity, health_findings
from wastesvc.fill.profile import deposit_profile
from wastesvc.fill.selection import (
    DEFAULT_PARAMS,
    Candidate,
    Decision,
    DecisionKind,
    PolicyParams,
    ResolvedParams,
    SelectionPolicy,
    select_for_service_date,
)
from wastesvc.fill.series import Limits, Reading, Series, impossibility

__all__ = [
    "DEFAULT_PARAMS",
    "Candidate",
    "CollectionEvent",
    "Decision",
    "DecisionKind",
    "Emptying",
    "Finding",
    "FindingKind",
    "Forecast",
    "HealthRules",
    "Limits",
    "PolicyParams",
    "Prior",
    "Reading",
    "Reliability",
    "ResolvedParams",
    "SelectionPolicy",
    "Series",
    "Severity",
    "Source",
    "deposit_profile",
    "detect_emptyings",
    "fit_forecast",
    "health_findings",
    "impossibility",
    "merge_collections",
    "pooled_prior",
    "select_for_service_date",
]
