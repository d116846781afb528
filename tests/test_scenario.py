"""Tests of the embedded GrandSoissons scenario (wastesvc.scenario) and its generator."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from datetime import time
from pathlib import Path

import pytest

import wastesvc.scenario
from wastesvc.scenario import ContainerModel, Scenario, fill_from_distance, load_default, load_scenario
from wastesvc.scenario._build import DEFAULT_OUTPUT, main

REPO_ROOT = Path(__file__).resolve().parents[1]
TERRITORY = REPO_ROOT / "data" / "territory"
LAT_RANGE = (49.30, 49.50)
LNG_RANGE = (3.18, 3.48)
PAV_STREAMS = {"glass", "paper", "packaging"}

MODEL = ContainerModel(
    id="test-1000",
    name="test",
    kind="wheeled_bin",
    volume_l=1000,
    height_mm=1200,
    d_full_mm=200,
    lift="comb",
    status="unverified",
    note="",
)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_default()


def test_public_surface() -> None:
    """The package exports exactly the loader, the geometry helper and the scenario dataclasses."""
    assert sorted(wastesvc.scenario.__all__) == [
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


def test_communes_are_the_27_grandsoissons_members(scenario: Scenario) -> None:
    """27 communes, INSEE 2023 total 51,809 inhabitants, Soissons the largest."""
    assert len(scenario.communes) == 27
    assert len({c.insee_code for c in scenario.communes}) == 27
    assert sum(c.population for c in scenario.communes) == 51_809
    largest = max(scenario.communes, key=lambda c: c.population)
    assert (largest.insee_code, largest.name) == ("02722", "Soissons")


def test_container_counts_per_stream(scenario: Scenario) -> None:
    """Counts follow the volumes deposited: packaging, the bulkiest stream, has the most containers;
    biowaste only in Soissons, which holds more than 40 % of the containers."""
    counts = Counter(c.stream for c in scenario.containers)
    assert 500 <= len(scenario.containers) <= 900
    assert set(counts) == {s.id for s in scenario.streams}
    assert (
        counts["packaging"] > counts["paper"] > counts["glass"] > counts["residual"] > counts["biowaste"] > 0
    )
    assert {c.insee_code for c in scenario.containers if c.stream == "biowaste"} == {"02722"}
    soissons = sum(c.insee_code == "02722" for c in scenario.containers)
    assert soissons / len(scenario.containers) > 0.4


def test_containers_stand_where_residents_are_served(scenario: Scenario) -> None:
    """Every commune has its bring banks (served share 1); residual and biowaste containers stand exactly in
    the communes where some residents use them rather than door-to-door bins."""
    for commune in scenario.communes:
        streams = {c.stream for c in scenario.containers if c.insee_code == commune.insee_code}
        served = {stream for stream, share in commune.served_share.items() if share > 0}
        assert streams == served, commune.name
        assert streams >= PAV_STREAMS, commune.name


def test_every_commune_states_its_served_share_per_stream(scenario: Scenario) -> None:
    """Each commune has a kind and a share in [0, 1] per stream; bring banks serve everyone, Soissons' flats
    35 % of its residents, and about a quarter of the agglomeration uses residual drop-off containers."""
    kinds = Counter(c.kind for c in scenario.communes)
    assert kinds == {"town": 1, "suburb": 3, "small_town": 6, "village": 17}
    for commune in scenario.communes:
        assert set(commune.served_share) == {s.id for s in scenario.streams}, commune.name
        assert all(0.0 <= share <= 1.0 for share in commune.served_share.values()), commune.name
        assert all(commune.served_share[s] == 1.0 for s in PAV_STREAMS), commune.name
    soissons = next(c for c in scenario.communes if c.insee_code == "02722")
    assert soissons.served_share["residual"] == 0.35
    population = sum(c.population for c in scenario.communes)
    served = sum(c.population * c.served_share["residual"] for c in scenario.communes)
    assert 0.20 <= served / population <= 0.27


def test_deposits_match_the_cited_tonnages(scenario: Scenario) -> None:
    """The containers' fill rates give back, per stream, the kg per served inhabitant per year they were
    calibrated on (within 1 %, the rounding of the rates); residual is Valor'Aisne's 224 kg, cited."""
    deposits = {d.stream: d for d in scenario.deposits}
    assert set(deposits) == {s.id for s in scenario.streams}
    assert (deposits["residual"].kg_per_inhabitant_year, deposits["residual"].status) == (224, "cited")
    assert all(d.urls and d.source for d in deposits.values())
    # The dry streams split ADEME's national 80 kg/hab./an of separate glass, packaging and paper.
    assert sum(deposits[s].kg_per_inhabitant_year for s in PAV_STREAMS) == 80
    for stream in scenario.streams:
        kg_per_year = sum(
            c.fill_rate_per_day * c.volume_l * stream.density_kg_per_l * 365
            for c in scenario.containers
            if c.stream == stream.id
        )
        served = sum(c.population * c.served_share[stream.id] for c in scenario.communes)
        assert kg_per_year / served == pytest.approx(deposits[stream.id].kg_per_inhabitant_year, rel=0.01)


def test_days_to_full_suit_the_collection_rounds(scenario: Scenario) -> None:
    """Residual and biowaste containers fill within their maximum gap; bring banks take weeks, the few
    columns of the smallest villages months."""
    days: dict[str, list[float]] = {}
    for c in scenario.containers:
        days.setdefault(c.stream, []).append(1 / c.fill_rate_per_day)
    limits = scenario.planning.max_days_without_emptying
    for stream, shortest in (("residual", 4.0), ("biowaste", 2.0)):
        assert min(days[stream]) >= shortest, stream
        assert max(days[stream]) <= limits[stream], stream
    medians = {stream: sorted(values)[len(values) // 2] for stream, values in days.items()}
    assert 6 <= medians["packaging"] <= 10
    assert 12 <= medians["paper"] <= 20
    assert 20 <= medians["glass"] <= 40
    assert max(max(values) for values in days.values()) < 200


def test_fleet_lifts_a_day_of_deposits(scenario: Scenario) -> None:
    """For every stream, the vehicles that carry it hold a day's deposits in at most two trips each."""
    for stream in scenario.streams:
        litres_per_day = sum(
            c.fill_rate_per_day * c.volume_l for c in scenario.containers if c.stream == stream.id
        )
        capacity = sum(v.capacity_l for v in scenario.vehicles if stream.id in v.streams)
        assert litres_per_day <= 2 * capacity, stream.id


def test_containers_reference_existing_records(scenario: Scenario) -> None:
    """Each container's commune, model and volume agree with the tables it points to."""
    communes = {c.insee_code: c.name for c in scenario.communes}
    for container in scenario.containers:
        assert communes[container.insee_code] == container.commune
        assert scenario.model(container.model_id).volume_l == container.volume_l


def test_ids_are_unique_and_well_formed(scenario: Scenario) -> None:
    """Container ids are GS-<insee>-<nnnn>; container and sensor ids are unique."""
    ids = [c.id for c in scenario.containers]
    assert len(set(ids)) == len(ids)
    assert len({c.sensor_id for c in scenario.containers}) == len(ids)
    for container in scenario.containers:
        assert re.fullmatch(rf"GS-{container.insee_code}-\d{{4}}", container.id)
        assert re.fullmatch(r"[0-9A-F]{16}", container.sensor_id)


def test_isles_group_containers_at_one_spot(scenario: Scenario) -> None:
    """Isles hold 2–4 containers at the isle's exact coordinates, and most PAV stand in an isle."""
    by_id = {c.id: c for c in scenario.containers}
    for isle in scenario.isles:
        assert 2 <= len(isle.container_ids) <= 4
        for container_id in isle.container_ids:
            member = by_id[container_id]
            assert (member.isle_id, member.lat, member.lng) == (isle.id, isle.lat, isle.lng)
    in_isles = {cid for isle in scenario.isles for cid in isle.container_ids}
    assert in_isles == {c.id for c in scenario.containers if c.isle_id is not None}
    pav = [c for c in scenario.containers if c.stream in PAV_STREAMS]
    assert sum(c.isle_id is not None for c in pav) / len(pav) > 0.8


def test_coordinates_lie_in_grand_soissons(scenario: Scenario) -> None:
    """Every point of the scenario is inside the GrandSoissons bounding box."""
    points = [(c.lat, c.lng) for c in scenario.containers]
    points += [(c.lat, c.lng) for c in scenario.communes]
    points += [(f.lat, f.lng) for f in scenario.facilities]
    points.append((scenario.depot.lat, scenario.depot.lng))
    for lat, lng in points:
        assert LAT_RANGE[0] <= lat <= LAT_RANGE[1]
        assert LNG_RANGE[0] <= lng <= LNG_RANGE[1]


def test_every_stream_has_a_facility_and_a_vehicle(scenario: Scenario) -> None:
    """Each stream can be dumped somewhere and each (stream, lift) in use has a vehicle that can do it."""
    for stream in scenario.streams:
        assert any(stream.id in f.streams for f in scenario.facilities), stream.id
    in_use = {(c.stream, scenario.model(c.model_id).lift) for c in scenario.containers}
    for stream_id, lift in in_use:
        assert any(stream_id in v.streams and lift in v.lifts for v in scenario.vehicles), (stream_id, lift)


def test_unpublished_sites_are_marked_assumed(scenario: Scenario) -> None:
    """Depot and facility positions are flagged assumed; the two placed on town halls sit exactly there."""
    assert scenario.depot.status == "assumed"
    assert all(f.status == "assumed" for f in scenario.facilities)
    town_halls = {c.insee_code: (c.lat, c.lng) for c in scenario.communes}
    facilities = {f.id: (f.lat, f.lng) for f in scenario.facilities}
    assert facilities["VA-TRI-VSG"] == town_halls["02805"]
    assert facilities["VERRE-MERCIN"] == town_halls["02477"]


def test_sources_separate_public_facts_from_modelled_ones(scenario: Scenario) -> None:
    """Sources list the public data with a licence and say what is invented or assumed."""
    statuses = Counter(s.status for s in scenario.sources)
    assert statuses["public"] >= 4
    assert statuses["invented"] >= 1
    assert statuses["assumed"] >= 1
    assert all(s.licence for s in scenario.sources if s.id.startswith(("insee", "dgcl")))
    assert "Licence Ouverte" in scenario.attribution


def test_vehicle_capacity_is_body_times_least_compaction(scenario: Scenario) -> None:
    """capacity_l is the body volume scaled by the least compressible stream the vehicle carries; a
    compartmented body holds what its compartments hold, each scaled by its own streams."""
    for vehicle in scenario.vehicles:
        parts = vehicle.compartments or [vehicle]
        for part in parts:
            factor = min(scenario.stream(s).truck_compaction for s in part.streams)
            assert part.capacity_l == round(part.body_l * factor)
        assert vehicle.capacity_l == sum(p.capacity_l for p in parts)
        assert sum(p.body_l for p in parts) == vehicle.body_l
        assert vehicle.depot_id == scenario.depot.id


def test_times_are_parsed_and_consistent(scenario: Scenario) -> None:
    """Shifts, pauses, opening hours and access windows become datetime.time, each pause inside its shift."""
    for vehicle in scenario.vehicles:
        assert vehicle.shift.start == time(6, 0)
        assert vehicle.pause is not None
        assert vehicle.shift.start <= vehicle.pause.earliest_start <= vehicle.pause.latest_start
        assert vehicle.pause.latest_start < vehicle.shift.end
    assert all(f.opening.start < f.opening.end for f in scenario.facilities)
    restricted = [c for c in scenario.containers if c.access_windows]
    assert restricted
    assert {c.insee_code for c in restricted} == {"02722"}
    assert all(w.start == time(6, 0) and w.end == time(10, 0) for c in restricted for w in c.access_windows)


def test_planning_defaults_cover_every_stream(scenario: Scenario) -> None:
    """Planning defaults give a 0.7 threshold and a maximum gap for every stream."""
    assert scenario.planning.fill_threshold == 0.7
    assert set(scenario.planning.max_days_without_emptying) == {s.id for s in scenario.streams}
    assert scenario.planning.solver_time_limit_s > 0


def test_stream_parameters_are_plausible(scenario: Scenario) -> None:
    """Densities and rates are in physical ranges and weekday factors average 1."""
    for stream in scenario.streams:
        assert 0.01 <= stream.density_kg_per_l <= 0.6
        assert 1.0 <= stream.truck_compaction <= 4.0
        assert 0.0 < stream.mean_fill_rate_per_day < 0.5
        assert len(stream.weekday_factors) == 7
        assert math.isclose(sum(stream.weekday_factors) / 7, 1.0, abs_tol=0.01)


def test_load_scenario_reads_the_same_file(scenario: Scenario) -> None:
    """Loading the committed file by path gives the same scenario as the packaged resource."""
    assert load_scenario(DEFAULT_OUTPUT) == scenario


def test_loader_rejects_dangling_references(tmp_path: Path) -> None:
    """A container with an unknown stream is refused with its id in the message."""
    document = json.loads(DEFAULT_OUTPUT.read_text(encoding="utf-8"))
    document["containers"][0]["stream"] = "asbestos"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match="GS-02003-0001"):
        load_scenario(path)


def test_generator_reproduces_the_committed_file(tmp_path: Path) -> None:
    """Rebuilding from the territory folder gives the committed JSON byte for byte."""
    out = tmp_path / "grand_soissons.json"
    assert main([str(TERRITORY), "--out", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_OUTPUT.read_bytes()


def test_fill_from_distance_maps_the_geometry() -> None:
    """H_empty reads empty, d_full reads full, halfway reads half."""
    assert fill_from_distance(MODEL, 1200) == 0.0
    assert fill_from_distance(MODEL, 200) == 1.0
    assert fill_from_distance(MODEL, 700) == pytest.approx(0.5)


@pytest.mark.parametrize(("distance_mm", "expected"), [(1500, 0.0), (0, 1.0), (-30, 1.0), (150, 1.0)])
def test_fill_from_distance_clamps(distance_mm: int, expected: float) -> None:
    """Readings beyond the bottom or above the full level clamp to 0 and 1."""
    assert fill_from_distance(MODEL, distance_mm) == expected


def test_fill_from_distance_rejects_nan() -> None:
    """A NaN distance is an error, not a silent 0."""
    with pytest.raises(ValueError, match="finite"):
        fill_from_distance(MODEL, math.nan)


def test_loader_rejects_inverted_geometry(tmp_path: Path) -> None:
    """A model whose full reading is not above its bottom is refused."""
    document = json.loads(DEFAULT_OUTPUT.read_text(encoding="utf-8"))
    model = document["container_models"][0]
    model["d_full_mm"] = model["height_mm"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match=model["id"]):
        load_scenario(path)


def test_scenario_is_immutable(scenario: Scenario) -> None:
    """Scenario records are frozen."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.containers[0].stream = "glass"  # type: ignore[misc]
