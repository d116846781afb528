"""The demo behind `make run`: the Grand Soissons scenario loaded and planned through the public gRPC API."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from google.type import latlng_pb2, timeofday_pb2

from wastesvc.board import start_board
from wastesvc.client import open_channel, optimize_day, plan_summary, save_sheets
from wastesvc.config import Settings
from wastesvc.demo_lorawan import feed_through_lorawan, split_lorawan
from wastesvc.dispatch_demo import dispatch_morning
from wastesvc.domain.policies import scenario_policy
from wastesvc.scenario import Scenario, TimeWindow, load_builtin, load_default
from wastesvc.server import create_server
from wastesvc.simulate import SimulatedReading, simulate_readings
from wastesvc.v1 import (
    common_pb2,
    containers_pb2,
    containers_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    observations_pb2,
    observations_pb2_grpc,
    policies_pb2,
    policies_pb2_grpc,
    readings_pb2,
    readings_pb2_grpc,
)

__all__ = ["IngestCounts", "feed_readings", "load_into", "run_demo"]

log = logging.getLogger(__name__)

_STREAMS = {
    "residual": common_pb2.WASTE_STREAM_RESIDUAL,
    "packaging": common_pb2.WASTE_STREAM_PACKAGING,
    "paper": common_pb2.WASTE_STREAM_PAPER,
    "glass": common_pb2.WASTE_STREAM_GLASS,
    "biowaste": common_pb2.WASTE_STREAM_BIOWASTE,
}
_CHUNK = 1000
SIMULATED_DAYS = 5
# The rural CC that shares the instance as a mutualised platform, beside the agglomeration.
RURAL_TENANT = "champagne-picarde"


def _tod(value: datetime | object) -> timeofday_pb2.TimeOfDay:
    assert hasattr(value, "hour")
    return timeofday_pb2.TimeOfDay(hours=value.hour, minutes=value.minute)  # type: ignore[attr-defined]


def _window(window: TimeWindow) -> common_pb2.TimeWindow:
    return common_pb2.TimeWindow(start_time=_tod(window.start), end_time=_tod(window.end))


def _duration(seconds: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds)


async def load_into(channel: grpc.aio.Channel, scenario: Scenario, tenant: str) -> int:
    """Creates the scenario's depot, facilities, vehicles and containers in a tenant; returns how many."""
    parent = f"tenants/{tenant}"
    fleet = fleet_pb2_grpc.FleetServiceStub(channel)
    containers = containers_pb2_grpc.ContainerServiceStub(channel)
    depot = scenario.depot
    await fleet.CreateDepot(
        fleet_pb2.CreateDepotRequest(
            parent=parent,
            depot_id=depot.id,
            depot=fleet_pb2.Depot(
                display_name=depot.name, location=latlng_pb2.LatLng(latitude=depot.lat, longitude=depot.lng)
            ),
        )
    )
    for f in scenario.facilities:
        await fleet.CreateFacility(
            fleet_pb2.CreateFacilityRequest(
                parent=parent,
                facility_id=f.id,
                facility=fleet_pb2.Facility(
                    display_name=f.name,
                    location=latlng_pb2.LatLng(latitude=f.lat, longitude=f.lng),
                    accepted_streams=[_STREAMS[s] for s in f.streams],
                    opening_hours=_window(f.opening),
                    dump_duration=_duration(f.dump_s),
                ),
            )
        )
    for v in scenario.vehicles:
        vehicle = fleet_pb2.Vehicle(
            display_name=f"{v.name} ({v.plate})",
            capacity_liters=v.capacity_l,
            capacity_kg=v.capacity_kg,
            streams=[_STREAMS[s] for s in v.streams],
            home_depot=f"{parent}/depots/{v.depot_id}",
            shift=_window(v.shift),
            cost_per_kilometer=v.cost_per_km,
            cost_per_hour=v.cost_per_hour,
            daily_volume_cap_liters=v.daily_cap_l or 0,
            equipment=list(v.lifts),
            compartments=[
                fleet_pb2.Compartment(
                    streams=[_STREAMS[s] for s in c.streams],
                    capacity_liters=c.capacity_l,
                    capacity_kg=c.capacity_kg,
                )
                for c in v.compartments
            ],
        )
        if v.pause is not None:
            vehicle.break_window.CopyFrom(
                common_pb2.TimeWindow(
                    start_time=_tod(v.pause.earliest_start), end_time=_tod(v.pause.latest_start)
                )
            )
            vehicle.break_duration.CopyFrom(_duration(v.pause.duration_s))
        await fleet.CreateVehicle(
            fleet_pb2.CreateVehicleRequest(parent=parent, vehicle_id=v.id, vehicle=vehicle)
        )

    async def create(request: containers_pb2.CreateContainerRequest) -> None:
        await containers.CreateContainer(request)

    requests = []
    for c in scenario.containers:
        model = scenario.model(c.model_id)
        requests.append(
            containers_pb2.CreateContainerRequest(
                parent=parent,
                container_id=c.id,
                container=containers_pb2.Container(
                    commune_code=c.insee_code,
                    locality=c.commune,
                    street_address=c.street,
                    location=latlng_pb2.LatLng(latitude=c.lat, longitude=c.lng),
                    stream=_STREAMS[c.stream],
                    volume_liters=c.volume_l,
                    model=containers_pb2.ContainerModel(
                        model_id=model.id, empty_distance_mm=model.height_mm, full_distance_mm=model.d_full_mm
                    ),
                    access_windows=[_window(w) for w in c.access_windows],
                    service_duration=_duration(c.service_s),
                    isle=c.isle_id or "",
                    sensor_id=c.sensor_id,
                    required_equipment=[model.lift],
                ),
            )
        )
    # Unary creates, pipelined: the API a city's asset register would use.
    for start in range(0, len(requests), 50):
        await asyncio.gather(*(create(r) for r in requests[start : start + 50]))
    policy = scenario_policy(scenario, tenant)
    if policy is not None:
        await policies_pb2_grpc.SelectionPolicyServiceStub(channel).UpdateSelectionPolicy(
            policies_pb2.UpdateSelectionPolicyRequest(selection_policy=policy)
        )
    return 1 + len(scenario.facilities) + len(scenario.vehicles) + len(requests)


def _reading_request(r: SimulatedReading, tenant: str) -> readings_pb2.CreateReadingRequest:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(r.measure_time)
    reading = readings_pb2.Reading(
        sensor_id=r.sensor_id,
        measure_time=stamp,
        battery_percent=float(r.battery_pct),
        temperature_celsius=r.temperature_c,
        tilted=r.tilt,
    )
    if r.distance_mm is not None:
        reading.distance_mm = r.distance_mm
    else:
        assert r.fill_fraction is not None
        reading.fill_fraction = r.fill_fraction
    return readings_pb2.CreateReadingRequest(
        parent=f"tenants/{tenant}/containers/{r.container_id}", reading=reading
    )


@dataclass(frozen=True)
class IngestCounts:
    """What each ingest path accepted."""

    batch: int = 0
    stream: int = 0
    unary: int = 0
    observations: int = 0
    duplicates: int = 0

    @property
    def total(self) -> int:
        return self.batch + self.stream + self.unary + self.observations


async def feed_readings(
    channel: grpc.aio.Channel, readings: Sequence[SimulatedReading], tenant: str
) -> IngestCounts:
    """Sends the readings through every ingest path, as a real territory would: the sensor network's
    batches, a LoRaWAN gateway's stream, single readings, and fill observations from the lighting platform."""
    stub = readings_pb2_grpc.ReadingServiceStub(channel)
    observations = observations_pb2_grpc.ObservationServiceStub(channel)
    rng = random.Random(11)
    routes: dict[str, list[SimulatedReading]] = {"batch": [], "stream": [], "observation": [], "unary": []}
    for reading in readings:
        draw = rng.random()
        path = (
            "batch" if draw < 0.6 else "stream" if draw < 0.97 else "observation" if draw < 0.985 else "unary"
        )
        # The lighting platform relays fill fractions; distance-only sensors never reach it.
        if path == "observation" and reading.fill_fraction is None:
            path = "unary"
        routes[path].append(reading)
    batch, streamed, observed, single = (routes[k] for k in ("batch", "stream", "observation", "unary"))
    counts = IngestCounts()

    for start in range(0, len(batch), _CHUNK):
        response = await stub.BatchCreateReadings(
            readings_pb2.BatchCreateReadingsRequest(
                requests=[_reading_request(r, tenant) for r in batch[start : start + _CHUNK]]
            )
        )
        counts = replace(
            counts,
            batch=counts.batch + response.stored_count,
            duplicates=counts.duplicates + response.duplicate_count,
        )

    async def chunks() -> AsyncIterator[readings_pb2.StreamReadingsRequest]:
        for start in range(0, len(streamed), 500):
            part = streamed[start : start + 500]
            yield readings_pb2.StreamReadingsRequest(
                chunk_id=f"gw-soissons-{start // 500:05d}",
                requests=[_reading_request(r, tenant) for r in part],
            )

    async for ack in stub.StreamReadings(chunks()):
        counts = replace(
            counts,
            stream=counts.stream + ack.stored_count,
            duplicates=counts.duplicates + ack.duplicate_count,
        )

    for r in single:
        await stub.CreateReading(_reading_request(r, tenant))
    counts = replace(counts, unary=len(single))

    requests = []
    for r in observed:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(r.measure_time)
        assert r.fill_fraction is not None
        requests.append(
            observations_pb2.CreateObservationRequest(
                observation=observations_pb2.Observation(
                    source="talq:grandsoissons-lighting",
                    entity_id=r.container_id,
                    entity_type="WasteContainer",
                    property="fillingLevel",
                    number_value=round(r.fill_fraction * 100, 1),
                    unit="P1",
                    observe_time=stamp,
                )
            )
        )
    for start in range(0, len(requests), _CHUNK):
        observed_batch = await observations.BatchCreateObservations(
            observations_pb2.BatchCreateObservationsRequest(
                parent=f"tenants/{tenant}", requests=requests[start : start + _CHUNK]
            )
        )
        counts = replace(counts, observations=counts.observations + observed_batch.stored_count)
    return counts


async def run_demo(settings: Settings, out_dir: Path, *, keep_serving: bool = True) -> None:
    """Starts the server, loads Grand Soissons, feeds readings, plans today, writes sheets, keeps serving."""
    began = time.monotonic()
    service, port = await create_server(settings.listen, settings)
    host = settings.listen.rsplit(":", 1)[0]
    address = f"{host}:{port}"
    print(f"wastesvc listening on {address} (database {settings.db_url})", flush=True)
    tz = ZoneInfo(settings.timezone)
    try:
        # The demo mints its own operator token from the server's key, as any client on this machine may.
        async with open_channel(address, settings) as channel:
            scenario = load_default()
            created = await load_into(channel, scenario, settings.tenant)
            print(
                f"loaded {scenario.name}: {created} resources ({len(scenario.containers)} containers)",
                flush=True,
            )
            now = datetime.now(UTC)
            readings = simulate_readings(scenario, now - timedelta(days=SIMULATED_DAYS), SIMULATED_DAYS)
            over_lorawan, readings = split_lorawan(readings)
            lorawan = await feed_through_lorawan(over_lorawan, settings, address, channel, out_dir)
            print(
                f"LoRaWAN: {lorawan.stored} of {len(over_lorawan)} frames stored by wastesvc-adapter lorawan "
                f"through MQTT on {lorawan.broker}",
                flush=True,
            )
            counts = await feed_readings(channel, readings, settings.tenant)
            print(
                f"ingested {counts.total} readings over {SIMULATED_DAYS} days: {counts.batch} in batches, "
                f"{counts.stream} through a gateway stream, {counts.unary} one by one, "
                f"{counts.observations} as lighting-platform observations",
                flush=True,
            )
            if settings.tenant != RURAL_TENANT:
                await _load_rural(address, settings, now)
            today = now.astimezone(tz).date()
            print(f"planning {today} (solver budget {settings.solver_time_limit_s:.0f} s)…", flush=True)
            plan = await optimize_day(
                channel, settings.tenant, today, time_limit_s=settings.solver_time_limit_s
            )
            sheets = await save_sheets(channel, plan, out_dir)
            print(plan_summary(plan, tz))
            print(lorawan.story(plan, tz))
            per_truck = len(sheets.per_vehicle)
            print(
                f"route sheets: {sheets.combined} (all trucks) and {per_truck} per-truck PDFs in {out_dir}/"
            )
            print(f"first sheets written {time.monotonic() - began:.1f} s after start", flush=True)
            await dispatch_morning(channel, plan, tz, out_dir, settings.solver_time_limit_s)
        if keep_serving:
            board = (
                await start_board(settings.board_listen, address, settings) if settings.board_listen else None
            )
            print(f"serving on {address} until Ctrl-C", flush=True)
            if board is not None:
                print(f"operations board: {board.url}", flush=True)
            await _wait_for_interrupt()
            if board is not None:
                await board.stop()
    finally:
        await service.stop(settings.grace_s)


async def _load_rural(address: str, settings: Settings, now: datetime) -> None:
    """Loads the rural tenant and its readings with its own operator token: it shares nothing else."""
    async with open_channel(address, replace(settings, tenant=RURAL_TENANT, token="")) as channel:
        rural = load_builtin(RURAL_TENANT)
        created = await load_into(channel, rural, RURAL_TENANT)
        readings = simulate_readings(rural, now - timedelta(days=SIMULATED_DAYS), SIMULATED_DAYS)
        counts = await feed_readings(channel, readings, RURAL_TENANT)
    print(
        f"loaded {rural.name} as tenants/{RURAL_TENANT}: {created} resources "
        f"({len(rural.containers)} containers), {counts.total} readings",
        flush=True,
    )


async def _wait_for_interrupt() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
