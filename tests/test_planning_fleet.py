"""OptimizeRoutes and the whole fleet: a stream per disposal trip, the objective options."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.type import latlng_pb2
from pypdf import PdfReader

from tests.conftest import SOISSONS, TENANT, Api, create_container, create_fleet, window
from tests.plan_checker import check_plan
from tests.test_planning import FULL, _resources, _today, _wait
from wastesvc.v1 import common_pb2, fleet_pb2, planning_pb2, readings_pb2

Options = planning_pb2.OptimizeOptions


async def _full(api: Api, ids: list[str]) -> None:
    """Readings of 90 % on the containers `ids`, half an hour ago."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(minutes=30))
    requests = [
        readings_pb2.CreateReadingRequest(
            parent=f"{TENANT}/containers/{cid}",
            reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=0.9),
        )
        for cid in ids
    ]
    await api.readings.BatchCreateReadings(readings_pb2.BatchCreateReadingsRequest(requests=requests))


async def _ring(api: Api, prefix: str, count: int, stream: common_pb2.WasteStream.ValueType) -> list[str]:
    """`count` containers of `stream` on a small ring around Soissons, all full."""
    ids = []
    for i in range(count):
        angle = 2 * math.pi * i / count
        cid = f"{prefix}-{i:02d}"
        await create_container(
            api,
            cid,
            lat=SOISSONS[0] + 0.01 * math.sin(angle),
            lng=SOISSONS[1] + 0.015 * math.cos(angle),
            stream=stream,
        )
        ids.append(cid)
    await _full(api, ids)
    return ids


async def _plan(api: Api, request: planning_pb2.OptimizeRoutesRequest) -> planning_pb2.RoutePlan:
    request.options.fill_threshold = FULL
    operation = await _wait(api, await api.planning.OptimizeRoutes(request))
    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    assert check_plan(plan, *(await _resources(api))) == []
    return plan


async def test_one_truck_collects_glass_then_paper(api: Api) -> None:
    """The only truck carries glass and paper: it empties both, one stream per trip, and the plan says so."""
    await create_fleet(api)
    await api.fleet.CreateFacility(
        fleet_pb2.CreateFacilityRequest(
            parent=TENANT,
            facility_id="papier",
            facility=fleet_pb2.Facility(
                display_name="Centre de tri",
                location=latlng_pb2.LatLng(latitude=49.36, longitude=3.30),
                accepted_streams=[common_pb2.WASTE_STREAM_PAPER],
                opening_hours=window((5, 30), (18, 0)),
                dump_duration=duration_pb2.Duration(seconds=600),
            ),
        )
    )
    await api.fleet.UpdateVehicle(
        fleet_pb2.UpdateVehicleRequest(
            vehicle=fleet_pb2.Vehicle(
                name=f"{TENANT}/vehicles/gru-01",
                streams=[common_pb2.WASTE_STREAM_GLASS, common_pb2.WASTE_STREAM_PAPER],
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["streams"]),
        )
    )
    glass = await _ring(api, "verre", 3, common_pb2.WASTE_STREAM_GLASS)
    paper = await _ring(api, "papier", 3, common_pb2.WASTE_STREAM_PAPER)
    plan = await _plan(api, planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today()))
    (route,) = plan.routes
    assert sorted(route.streams) == sorted([common_pb2.WASTE_STREAM_GLASS, common_pb2.WASTE_STREAM_PAPER])
    served = {name.rsplit("/", 1)[-1] for v in route.visits for name in v.containers}
    assert served == set(glass + paper)
    assert not plan.skipped


async def test_fewest_vehicles_and_cost_per_vehicle_use_one_truck(api: Api) -> None:
    """Two glass trucks, one load of work (4 × 2 700 L for 12 000 L): a priced truck stays home.

    The routing tests (`test_objective_vehicles_first_uses_fewer_trucks`) hold the case where fewer trucks
    cost more kilometres; here the options are checked end to end, plans included.
    """
    await create_fleet(api)
    second_truck = await api.fleet.GetVehicle(fleet_pb2.GetVehicleRequest(name=f"{TENANT}/vehicles/gru-01"))
    second_truck.ClearField("name")
    await api.fleet.CreateVehicle(
        fleet_pb2.CreateVehicleRequest(parent=TENANT, vehicle_id="gru-02", vehicle=second_truck)
    )
    ids = await _ring(api, "verre", 4, common_pb2.WASTE_STREAM_GLASS)
    fewest = planning_pb2.OptimizeRoutesRequest(
        parent=TENANT, service_date=_today(), options=Options(objective=Options.OBJECTIVE_FEWEST_VEHICLES)
    )
    priced = planning_pb2.OptimizeRoutesRequest(
        parent=TENANT, service_date=_today(), options=Options(cost_per_vehicle=1_000_000.0)
    )
    for request in (fewest, priced):
        request.options.time_limit.FromSeconds(3)
        plan = await _plan(api, request)
        assert len(plan.routes) == 1
        assert plan.totals.container_count == len(ids)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (Options(cost_per_vehicle=-1.0), "options.cost_per_vehicle"),
        (Options(cost_per_vehicle=math.inf), "options.cost_per_vehicle"),
        (Options(objective=Options.Objective.ValueType(9)), "options.objective"),
    ],
)
async def test_bad_objective_options_are_invalid(api: Api, options: Options, field: str) -> None:
    """A negative or infinite cost per vehicle, or an unknown objective, is INVALID_ARGUMENT naming it."""
    await create_fleet(api)
    request = planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today(), options=options)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await api.planning.OptimizeRoutes(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (error.value.details() or "")


async def test_two_compartment_truck_collects_glass_and_paper_in_one_trip(api: Api) -> None:
    """Glass and paper compartments: the API keeps them, the plan reports each compartment's load, the
    checker accepts the mixed trips, and the sheet lists the compartments at each dump."""
    await create_fleet(api)
    await api.fleet.CreateFacility(
        fleet_pb2.CreateFacilityRequest(
            parent=TENANT,
            facility_id="papier",
            facility=fleet_pb2.Facility(
                display_name="Centre de tri",
                location=latlng_pb2.LatLng(latitude=49.36, longitude=3.30),
                accepted_streams=[common_pb2.WASTE_STREAM_PAPER],
                opening_hours=window((5, 30), (18, 0)),
                dump_duration=duration_pb2.Duration(seconds=600),
            ),
        )
    )
    compartments = [
        fleet_pb2.Compartment(
            streams=[common_pb2.WASTE_STREAM_GLASS], capacity_liters=8000, capacity_kg=5000
        ),
        fleet_pb2.Compartment(
            streams=[common_pb2.WASTE_STREAM_PAPER], capacity_liters=4000, capacity_kg=3000
        ),
    ]
    updated = await api.fleet.UpdateVehicle(
        fleet_pb2.UpdateVehicleRequest(
            vehicle=fleet_pb2.Vehicle(
                name=f"{TENANT}/vehicles/gru-01",
                streams=[common_pb2.WASTE_STREAM_GLASS, common_pb2.WASTE_STREAM_PAPER],
                compartments=compartments,
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["streams", "compartments"]),
        )
    )
    assert list(updated.compartments) == compartments
    glass = await _ring(api, "verre", 3, common_pb2.WASTE_STREAM_GLASS)
    paper = await _ring(api, "papier", 3, common_pb2.WASTE_STREAM_PAPER)
    plan = await _plan(api, planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today()))
    (route,) = plan.routes
    served = {name.rsplit("/", 1)[-1] for v in route.visits for name in v.containers}
    assert served == set(glass + paper)
    assert all(len(v.compartment_load_liters) == 2 for v in route.visits)
    # 3 × 2 700 L of paper do not fit the 4 000 L paper compartment: it is emptied at least twice.
    paper_dumps = [v for v in route.visits if v.site == f"{TENANT}/facilities/papier"]
    assert len(paper_dumps) >= 2
    sheets = await api.planning.RenderRouteSheets(planning_pb2.RenderRouteSheetsRequest(name=plan.name))
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(sheets.content)).pages)
    assert "compartiments" in text


async def test_compartments_must_cover_the_vehicle_streams(api: Api) -> None:
    """A compartment list that leaves a stream of the vehicle out is INVALID_ARGUMENT naming it."""
    await create_fleet(api)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await api.fleet.UpdateVehicle(
            fleet_pb2.UpdateVehicleRequest(
                vehicle=fleet_pb2.Vehicle(
                    name=f"{TENANT}/vehicles/gru-01",
                    streams=[common_pb2.WASTE_STREAM_GLASS, common_pb2.WASTE_STREAM_PAPER],
                    compartments=[
                        fleet_pb2.Compartment(
                            streams=[common_pb2.WASTE_STREAM_GLASS], capacity_liters=8000, capacity_kg=5000
                        )
                    ],
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["streams", "compartments"]),
            )
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "vehicle.compartments" in (error.value.details() or "")
