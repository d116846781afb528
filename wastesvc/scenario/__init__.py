"""The embedded GrandSoissons scenario: typed loader and the container geometry helper.

The data lives in ``grand_soissons.json`` next to this module (see ``SOURCES.md`` for what is public and what
is modelled); it is regenerated with ``python -m wastesvc.scenario._build data/territory``. The rural second
tenant, the CC de la Champagne Picarde, lives beside it in ``champagne_picarde.json`` (`load_builtin`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from wastesvc.domain import readings

__all__ = [
    "BUILTIN_SCENARIOS",
    "Commune",
    "ContainerModel",
    "Deposit",
    "Depot",
    "Facility",
    "Isle",
    "Pause",
    "PlanningDefaults",
    "Scenario",
    "ScenarioContainer",
    "Source",
    "Stream",
    "TimeWindow",
    "Vehicle",
    "VehicleCompartment",
    "fill_from_distance",
    "load_builtin",
    "load_default",
    "load_scenario",
]

DEFAULT_RESOURCE = "grand_soissons.json"
# The tenants whose scenario ships in the package, and its file.
BUILTIN_SCENARIOS = {"grand-soissons": DEFAULT_RESOURCE, "champagne-picarde": "champagne_picarde.json"}

SourceStatus = Literal["public", "assumed", "invented"]
SiteStatus = Literal["confirmed", "assumed"]
SensorReports = Literal["fill", "distance"]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Local wall-clock interval, start inclusive, end exclusive."""

    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    status: SourceStatus
    used_for: str
    origin: str
    licence: str | None
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Commune:
    insee_code: str
    name: str
    population: int
    lat: float
    lng: float
    area_km2: float
    kind: str | None = None
    """town, suburb, small_town or village; None where the scenario does not say."""
    served_share: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Per stream, the share of residents using the modelled drop-off containers rather than door-to-door
    bins (which are not modelled); empty where the scenario does not say."""


@dataclass(frozen=True, slots=True)
class Deposit:
    """What an inhabitant deposits in a stream per year, with its source."""

    stream: str
    kg_per_inhabitant_year: float
    status: Literal["cited", "assumed"]
    source: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Stream:
    id: str
    name_fr: str
    name_en: str
    sdm_waste_kind: str
    density_kg_per_l: float
    truck_compaction: float
    mean_fill_rate_per_day: float
    weekday_factors: tuple[float, ...]
    """Deposit-rate multipliers, Monday first, averaging 1."""
    note: str


@dataclass(frozen=True, slots=True)
class ContainerModel:
    id: str
    name: str
    kind: str
    volume_l: int
    height_mm: int
    """H_empty: distance from the sensor to the bottom of the empty container."""
    d_full_mm: int
    """Distance reading at the nominal full level."""
    lift: str
    status: str
    note: str


@dataclass(frozen=True, slots=True)
class Isle:
    """A drop-off point: several containers at the very same coordinates."""

    id: str
    insee_code: str
    street: str
    lat: float
    lng: float
    container_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScenarioContainer:
    id: str
    insee_code: str
    commune: str
    street: str
    """Illustrative generic label, not a geocoded address."""
    lat: float
    lng: float
    stream: str
    model_id: str
    volume_l: int
    fill_rate_per_day: float
    """Mean deposit as a fraction of the volume per day (the stream's mean where the scenario has none)."""
    isle_id: str | None
    service_s: int
    access_windows: tuple[TimeWindow, ...]
    """Empty means accessible at any time."""
    sensor_id: str
    sensor_reports: SensorReports


@dataclass(frozen=True, slots=True)
class Depot:
    id: str
    name: str
    lat: float
    lng: float
    status: SiteStatus
    note: str


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    name: str
    streams: tuple[str, ...]
    opening: TimeWindow
    dump_s: int
    lat: float
    lng: float
    status: SiteStatus
    source_url: str | None
    note: str


@dataclass(frozen=True, slots=True)
class Pause:
    """The crew break: ``duration_s`` starting between the two bounds."""

    earliest_start: time
    latest_start: time
    duration_s: int


@dataclass(frozen=True, slots=True)
class VehicleCompartment:
    streams: tuple[str, ...]
    body_l: int
    capacity_l: int
    """Litres of loose container volume: body volume x the least truck compaction among its streams."""
    capacity_kg: int


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: str
    name: str
    plate: str
    streams: tuple[str, ...]
    lifts: tuple[str, ...]
    body_l: int
    capacity_l: int
    """Litres of loose container volume: body volume x the least truck compaction among its streams."""
    capacity_kg: int
    depot_id: str
    shift: TimeWindow
    pause: Pause | None
    cost_per_km: float
    cost_per_hour: float
    co2_kg_per_km: float
    daily_cap_l: int | None
    note: str
    compartments: tuple[VehicleCompartment, ...] = ()
    """A compartmented body; then `capacity_l` is the sum of the compartments'."""


@dataclass(frozen=True, slots=True)
class PlanningDefaults:
    fill_threshold: float
    max_days_without_emptying: Mapping[str, int]
    solver_time_limit_s: float
    selection_policy: Mapping[str, Any] = field(default_factory=dict)
    """The tenant's SelectionPolicy message as JSON (`wastesvc policy --set`); empty: the defaults."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    timezone: str
    """IANA zone of every wall-clock time in the scenario (shifts, windows, opening hours)."""
    seed: int
    attribution: str
    sources: tuple[Source, ...]
    communes: tuple[Commune, ...]
    streams: tuple[Stream, ...]
    container_models: tuple[ContainerModel, ...]
    depot: Depot
    facilities: tuple[Facility, ...]
    vehicles: tuple[Vehicle, ...]
    planning: PlanningDefaults
    isles: tuple[Isle, ...]
    containers: tuple[ScenarioContainer, ...]
    deposits: tuple[Deposit, ...] = ()
    """Yearly deposits per inhabitant the container fill rates are calibrated on; empty if uncalibrated."""

    def stream(self, stream_id: str) -> Stream:
        for stream in self.streams:
            if stream.id == stream_id:
                return stream
        raise KeyError(stream_id)

    def model(self, model_id: str) -> ContainerModel:
        for model in self.container_models:
            if model.id == model_id:
                return model
        raise KeyError(model_id)


def fill_from_distance(model: ContainerModel, distance_mm: float) -> float:
    """Fill fraction from a distance reading: clamp((H_empty − d) / (H_empty − d_full), 0, 1)."""
    if not math.isfinite(distance_mm):
        raise ValueError(f"distance must be finite, got {distance_mm!r}")
    # The service's own geometry, so simulated distances decode exactly as ingest will decode them.
    return readings.fill_from_distance(model.height_mm, model.d_full_mm, distance_mm)


def load_default() -> Scenario:
    """The GrandSoissons scenario shipped inside the package."""
    text = resources.files(__name__).joinpath(DEFAULT_RESOURCE).read_text(encoding="utf-8")
    return _parse(json.loads(text))


def load_builtin(tenant: str) -> Scenario:
    """The scenario shipped for `tenant`, one of `BUILTIN_SCENARIOS`."""
    if tenant not in BUILTIN_SCENARIOS:
        raise ValueError(f"no scenario ships for tenant {tenant!r}; known: {', '.join(BUILTIN_SCENARIOS)}")
    text = resources.files(__name__).joinpath(BUILTIN_SCENARIOS[tenant]).read_text(encoding="utf-8")
    return _parse(json.loads(text))


def load_scenario(path: Path) -> Scenario:
    """A scenario file with the same layout as the embedded one."""
    return _parse(json.loads(path.read_text(encoding="utf-8")))


def _time(text: Any) -> time:
    return time.fromisoformat(str(text))


def _window(raw: Any) -> TimeWindow:
    window = TimeWindow(_time(raw["start"]), _time(raw["end"]))
    if window.end <= window.start:
        raise ValueError(f"time window ends before it starts: {raw!r}")
    return window


def _optional_int(raw: Any) -> int | None:
    return None if raw is None else int(raw)


def _parse(doc: Any) -> Scenario:
    rates = {str(s["id"]): float(s["mean_fill_rate_per_day"]) for s in doc["streams"]}
    scenario = Scenario(
        name=str(doc["name"]),
        timezone=str(doc["timezone"]),
        seed=int(doc["seed"]),
        attribution=str(doc["attribution"]),
        sources=tuple(
            Source(
                id=str(s["id"]),
                status=s["status"],
                used_for=str(s["used_for"]),
                origin=str(s["origin"]),
                licence=None if s["licence"] is None else str(s["licence"]),
                urls=tuple(str(u) for u in s["urls"]),
            )
            for s in doc["sources"]
        ),
        communes=tuple(
            Commune(
                insee_code=str(c["insee_code"]),
                name=str(c["name"]),
                population=int(c["population"]),
                lat=float(c["lat"]),
                lng=float(c["lng"]),
                area_km2=float(c["area_km2"]),
                kind=None if c.get("kind") is None else str(c["kind"]),
                served_share=MappingProxyType(
                    {str(k): float(v) for k, v in c.get("served_share", {}).items()}
                ),
            )
            for c in doc["communes"]
        ),
        deposits=tuple(
            Deposit(
                stream=str(d["stream"]),
                kg_per_inhabitant_year=float(d["kg_per_inhabitant_year"]),
                status=d["status"],
                source=str(d["source"]),
                urls=tuple(str(u) for u in d["urls"]),
            )
            for d in doc.get("deposits", ())
        ),
        streams=tuple(
            Stream(
                id=str(s["id"]),
                name_fr=str(s["name_fr"]),
                name_en=str(s["name_en"]),
                sdm_waste_kind=str(s["sdm_waste_kind"]),
                density_kg_per_l=float(s["density_kg_per_l"]),
                truck_compaction=float(s["truck_compaction"]),
                mean_fill_rate_per_day=float(s["mean_fill_rate_per_day"]),
                weekday_factors=tuple(float(f) for f in s["weekday_factors"]),
                note=str(s["note"]),
            )
            for s in doc["streams"]
        ),
        container_models=tuple(
            ContainerModel(
                id=str(m["id"]),
                name=str(m["name"]),
                kind=str(m["kind"]),
                volume_l=int(m["volume_l"]),
                height_mm=int(m["height_mm"]),
                d_full_mm=int(m["d_full_mm"]),
                lift=str(m["lift"]),
                status=str(m["status"]),
                note=str(m["note"]),
            )
            for m in doc["container_models"]
        ),
        depot=Depot(
            id=str(doc["depot"]["id"]),
            name=str(doc["depot"]["name"]),
            lat=float(doc["depot"]["lat"]),
            lng=float(doc["depot"]["lng"]),
            status=doc["depot"]["status"],
            note=str(doc["depot"]["note"]),
        ),
        facilities=tuple(
            Facility(
                id=str(f["id"]),
                name=str(f["name"]),
                streams=tuple(str(s) for s in f["streams"]),
                opening=_window(f["opening"]),
                dump_s=int(f["dump_s"]),
                lat=float(f["lat"]),
                lng=float(f["lng"]),
                status=f["status"],
                source_url=None if f["source_url"] is None else str(f["source_url"]),
                note=str(f["note"]),
            )
            for f in doc["facilities"]
        ),
        vehicles=tuple(
            Vehicle(
                id=str(v["id"]),
                name=str(v["name"]),
                plate=str(v["plate"]),
                streams=tuple(str(s) for s in v["streams"]),
                lifts=tuple(str(lift) for lift in v["lifts"]),
                body_l=int(v["body_l"]),
                capacity_l=int(v["capacity_l"]),
                capacity_kg=int(v["capacity_kg"]),
                depot_id=str(v["depot_id"]),
                shift=_window(v["shift"]),
                pause=None
                if v["pause"] is None
                else Pause(
                    earliest_start=_time(v["pause"]["earliest_start"]),
                    latest_start=_time(v["pause"]["latest_start"]),
                    duration_s=int(v["pause"]["duration_s"]),
                ),
                cost_per_km=float(v["cost_per_km"]),
                cost_per_hour=float(v["cost_per_hour"]),
                co2_kg_per_km=float(v["co2_kg_per_km"]),
                daily_cap_l=_optional_int(v["daily_cap_l"]),
                note=str(v["note"]),
                compartments=tuple(
                    VehicleCompartment(
                        streams=tuple(str(s) for s in c["streams"]),
                        body_l=int(c["body_l"]),
                        capacity_l=int(c["capacity_l"]),
                        capacity_kg=int(c["capacity_kg"]),
                    )
                    for c in v.get("compartments", ())
                ),
            )
            for v in doc["vehicles"]
        ),
        planning=PlanningDefaults(
            fill_threshold=float(doc["planning"]["fill_threshold"]),
            max_days_without_emptying=MappingProxyType(
                {str(k): int(n) for k, n in doc["planning"]["max_days_without_emptying"].items()}
            ),
            solver_time_limit_s=float(doc["planning"]["solver_time_limit_s"]),
            selection_policy=MappingProxyType(dict(doc["planning"].get("selection_policy", {}))),
        ),
        isles=tuple(
            Isle(
                id=str(i["id"]),
                insee_code=str(i["insee_code"]),
                street=str(i["street"]),
                lat=float(i["lat"]),
                lng=float(i["lng"]),
                container_ids=tuple(str(c) for c in i["container_ids"]),
            )
            for i in doc["isles"]
        ),
        containers=tuple(
            ScenarioContainer(
                id=str(c["id"]),
                insee_code=str(c["insee_code"]),
                commune=str(c["commune"]),
                street=str(c["street"]),
                lat=float(c["lat"]),
                lng=float(c["lng"]),
                stream=str(c["stream"]),
                model_id=str(c["model_id"]),
                volume_l=int(c["volume_l"]),
                fill_rate_per_day=float(c.get("fill_rate_per_day", rates.get(str(c["stream"]), math.nan))),
                isle_id=None if c["isle_id"] is None else str(c["isle_id"]),
                service_s=int(c["service_s"]),
                access_windows=tuple(_window(w) for w in c["access_windows"]),
                sensor_id=str(c["sensor"]["id"]),
                sensor_reports=c["sensor"]["reports"],
            )
            for c in doc["containers"]
        ),
    )
    _check(scenario)
    return scenario


def _check(scenario: Scenario) -> None:
    """Reject dangling references and unusable geometry early, with the offending id."""
    stream_ids = {s.id for s in scenario.streams}
    models = {m.id: m for m in scenario.container_models}
    communes = {c.insee_code for c in scenario.communes}
    isles = {i.id for i in scenario.isles}
    for model in scenario.container_models:
        if model.height_mm <= model.d_full_mm:
            raise ValueError(f"model {model.id}: height_mm must exceed d_full_mm")
    for commune in scenario.communes:
        if any(not 0.0 <= share <= 1.0 for share in commune.served_share.values()):
            raise ValueError(f"commune {commune.insee_code}: served shares must lie in [0, 1]")
    for container in scenario.containers:
        if container.stream not in stream_ids:
            raise ValueError(f"container {container.id}: unknown stream {container.stream!r}")
        if not container.fill_rate_per_day > 0:
            raise ValueError(f"container {container.id}: fill_rate_per_day must be positive")
        if container.model_id not in models:
            raise ValueError(f"container {container.id}: unknown model {container.model_id!r}")
        if container.insee_code not in communes:
            raise ValueError(f"container {container.id}: unknown commune {container.insee_code!r}")
        if container.isle_id is not None and container.isle_id not in isles:
            raise ValueError(f"container {container.id}: unknown isle {container.isle_id!r}")
        if container.sensor_reports not in ("fill", "distance"):
            raise ValueError(f"container {container.id}: unknown sensor report {container.sensor_reports!r}")
    for owner, streams in [(f.id, f.streams) for f in scenario.facilities] + [
        (v.id, v.streams) for v in scenario.vehicles
    ]:
        unknown = set(streams) - stream_ids
        if unknown:
            raise ValueError(f"{owner}: unknown streams {sorted(unknown)}")
    for vehicle in scenario.vehicles:
        if vehicle.depot_id != scenario.depot.id:
            raise ValueError(f"vehicle {vehicle.id}: unknown depot {vehicle.depot_id!r}")
