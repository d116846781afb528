"""Street parking pressure in planning: the pure effects, and a plan that moves when a street saturates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from google.protobuf import timestamp_pb2
from google.type import latlng_pb2

from tests.conftest import TENANT, Api
from tests.test_planning import _optimize, _seed, _wait
from wastesvc.domain.parking import EXTRA_SERVICE_S, ParkingEffect, parking_effects
from wastesvc.storage import ContainerRow, ObservationRow
from wastesvc.v1 import containers_pb2, observations_pb2, planning_pb2

PARIS = ZoneInfo("Europe/Paris")


def _container(cid: str, lat: float, lng: float) -> ContainerRow:
    return ContainerRow(
        tenant="t", id=cid, commune_code="02722", lat=lat, lng=lng, stream="glass", volume_l=3000
    )


def _occupancy(lat: float, lng: float, at: datetime, value: float) -> ObservationRow:
    return ObservationRow(
        tenant="t", source="parking:test", entity_id="seg-1", entity_type="OnStreetParking",
        property="occupancy", number_value=value, observe_time=at, lat=lat, lng=lng,
    )  # fmt: skip


def test_saturated_hours_of_the_same_weekday_forbid_nearby_containers() -> None:
    """Last Tuesday 9-10 h saturated, 11 h busy: a near container loses 9-10 h and takes longer."""
    day = date(2026, 12, 8)  # a Tuesday
    last_week = datetime(2026, 12, 1, 9, 30, tzinfo=PARIS)
    observations = [
        _occupancy(49.38, 3.32, last_week, 0.95),
        _occupancy(49.38, 3.32, last_week + timedelta(hours=2), 0.8),
        _occupancy(49.38, 3.32, last_week - timedelta(days=1), 1.0),  # a Monday: another pattern
    ]
    near, far = _container("near", 49.3802, 3.3201), _container("far", 49.39, 3.33)

    effects = parking_effects(observations, [near, far], day, PARIS)

    assert effects == {"near": ParkingEffect(((9 * 3600, 10 * 3600),), EXTRA_SERVICE_S)}
    assert json.loads(effects["near"].windows("[]")) == [[0, 9 * 3600], [10 * 3600, 86_400]]
    assert json.loads(effects["near"].windows("[[28800, 39600]]")) == [[28800, 32400], [36000, 39600]]
    everything = ParkingEffect(((0, 86_400),))
    assert everything.windows("[[28800, 39600]]") == "[[28800, 39600]]"  # nothing left: kept, not dropped


def _local(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC).astimezone(PARIS)


async def test_a_plan_moves_a_stop_out_of_the_hours_its_street_is_saturated(api: Api) -> None:
    """Saturating a planned stop's street around its planned hour (same weekday last week) moves the stop."""
    await _seed(api, count=9)
    before = planning_pb2.RoutePlan()
    (await _wait(api, await _optimize(api, seconds=1))).response.Unpack(before)
    visits = {
        v.containers[0]: v
        for r in before.routes
        for v in r.visits
        if v.kind == planning_pb2.VISIT_KIND_CONTAINER
    }
    # verre-01 may only be emptied 6-8 h (a market square): saturating those hours would leave it nothing.
    name, visit = next((n, v) for n, v in sorted(visits.items()) if not n.endswith("verre-01"))
    container = await api.containers.GetContainer(containers_pb2.GetContainerRequest(name=name))
    start = _local(visit.start_time)
    saturated_hours = range(start.hour - 1, start.hour + 2)
    where = latlng_pb2.LatLng(latitude=container.location.latitude, longitude=container.location.longitude)
    requests = []
    for hour in saturated_hours:
        at = timestamp_pb2.Timestamp()
        at.FromDatetime(start.replace(hour=hour, minute=30) - timedelta(days=7))
        requests.append(observations_pb2.CreateObservationRequest(observation=observations_pb2.Observation(
            source="parking:test", entity_id="rue-du-commerce-1", entity_type="OnStreetParking",
            property="occupancy", number_value=0.97, unit="C62", observe_time=at,
            location=where,
        )))  # fmt: skip
    stored = await api.observations.BatchCreateObservations(
        observations_pb2.BatchCreateObservationsRequest(parent=TENANT, requests=requests)
    )
    assert stored.stored_count == len(requests)

    after = planning_pb2.RoutePlan()
    (await _wait(api, await _optimize(api, seconds=1))).response.Unpack(after)
    moved = [v for r in after.routes for v in r.visits if name in v.containers]

    assert start.hour in saturated_hours
    assert moved, "the stop was dropped, though the rest of the day is free"
    begin, end = _local(moved[0].start_time), _local(moved[0].end_time)
    assert end.hour < saturated_hours[0] or begin.hour > saturated_hours[-1]
    spent = moved[0].end_time.ToSeconds() - moved[0].start_time.ToSeconds()
    assert spent == visit.end_time.ToSeconds() - visit.start_time.ToSeconds() + EXTRA_SERVICE_S
