"""Tests of the rural second tenant's scenario, the CC de la Champagne Picarde (wastesvc.scenario._rural)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from wastesvc.scenario import BUILTIN_SCENARIOS, Scenario, load_builtin, load_default
from wastesvc.scenario._build import main
from wastesvc.scenario._rural import OUTPUT, RESIDUAL_MIN_POPULATION

REPO_ROOT = Path(__file__).resolve().parents[1]
TERRITORY = REPO_ROOT / "data" / "territory"
# The CC lies north-east of Soissons, between Laon and Reims.
LAT_RANGE = (49.30, 49.72)
LNG_RANGE = (3.68, 4.12)


@pytest.fixture(scope="module")
def rural() -> Scenario:
    return load_builtin("champagne-picarde")


def test_communes_are_the_46_members(rural: Scenario) -> None:
    """46 communes, INSEE 2023 total 20,865 inhabitants, Villeneuve-sur-Aisne the largest."""
    assert len({c.insee_code for c in rural.communes}) == 46
    assert sum(c.population for c in rural.communes) == 20_865
    largest = max(rural.communes, key=lambda c: c.population)
    assert (largest.insee_code, largest.name) == ("02360", "Villeneuve-sur-Aisne")


def test_every_commune_has_its_bring_banks(rural: Scenario) -> None:
    """Each commune gets glass, paper and packaging; residual bins only in communes of 500 or more."""
    streams_by_commune: dict[str, set[str]] = {}
    for container in rural.containers:
        streams_by_commune.setdefault(container.insee_code, set()).add(container.stream)
    for commune in rural.communes:
        streams = streams_by_commune[commune.insee_code]
        assert {"glass", "paper", "packaging"} <= streams
        assert ("residual" in streams) == (commune.population >= RESIDUAL_MIN_POPULATION), commune.name
    assert "biowaste" not in {s.id for s in rural.streams}


def test_containers_lie_in_the_territory_and_not_in_the_agglomeration(rural: Scenario) -> None:
    """Points stay in the CC's area, ids never collide with the agglomeration's, sensors are unique."""
    agglomeration = load_default()
    assert all(LAT_RANGE[0] <= c.lat <= LAT_RANGE[1] for c in rural.containers)
    assert all(LNG_RANGE[0] <= c.lng <= LNG_RANGE[1] for c in rural.containers)
    assert {c.insee_code for c in rural.communes}.isdisjoint(c.insee_code for c in agglomeration.communes)
    assert {c.id for c in rural.containers}.isdisjoint(c.id for c in agglomeration.containers)
    sensors = [c.sensor_id for c in rural.containers + agglomeration.containers]
    assert len(set(sensors)) == len(sensors)


def test_fleet_and_sites_cover_every_stream(rural: Scenario) -> None:
    """Every stream with containers has a vehicle and a facility, all vehicles start at the depot."""
    streams = Counter(c.stream for c in rural.containers)
    assert all(streams[s.id] > 0 for s in rural.streams)
    for stream in streams:
        assert any(stream in v.streams for v in rural.vehicles), stream
        assert any(stream in f.streams for f in rural.facilities), stream
    assert {v.depot_id for v in rural.vehicles} == {rural.depot.id}
    assert rural.depot.status == "assumed"


def test_sources_separate_fact_from_model(rural: Scenario) -> None:
    """Communes are public; containers are invented; depot, sites and fleet are assumed."""
    status = {s.id: s.status for s in rural.sources}
    assert status["dgcl-epci-2025"] == "public"
    assert status["insee-population-2023"] == "public"
    assert status["modelled-containers"] == "invented"
    assert status["modelled-depot-facility-sites"] == "assumed"
    assert status["modelled-fleet-parameters"] == "assumed"


def test_generator_reproduces_both_committed_files(tmp_path: Path) -> None:
    """One generator run rebuilds the rural file byte for byte, beside the agglomeration's."""
    assert main([str(TERRITORY), "--out", str(tmp_path / "grand_soissons.json")]) == 0
    assert (tmp_path / OUTPUT.name).read_bytes() == OUTPUT.read_bytes()


def test_unknown_builtin_tenant_is_a_clear_error() -> None:
    """Asking for a scenario no tenant ships names the known ones."""
    assert set(BUILTIN_SCENARIOS) == {"grand-soissons", "champagne-picarde"}
    with pytest.raises(ValueError, match="champagne-picarde"):
        load_builtin("laon")
