"""A vehicle stored with settings that cannot work is left out of the day with its reason, not a failure."""

from __future__ import annotations

import asyncio

from tests.conftest import TENANT, Api
from tests.test_planning import _optimize, _seed, _wait
from wastesvc.storage import VehicleRow
from wastesvc.v1 import planning_pb2


async def _store_broken_vehicles(api: Api) -> None:
    """Two copies of the seeded truck, broken as records accepted before the checks were."""
    storage = api.service.storage
    good = await asyncio.to_thread(storage.get, VehicleRow, "grand-soissons", "gru-01")
    assert good is not None
    fields = {f: getattr(good, f) for f in VehicleRow.model_fields}
    no_break = VehicleRow(
        **{**fields, "id": "no-break", "break_start_s": 14 * 3600, "break_end_s": 15 * 3600}
    )
    no_break.shift_end_s = 13 * 3600
    infinite = VehicleRow(**{**fields, "id": "infinite", "cost_per_km": float("inf")})
    for row in (no_break, infinite):
        await asyncio.to_thread(storage.create, row)


async def test_bad_vehicles_are_left_out_with_their_reason(api: Api) -> None:
    """The day is planned with the good truck; each bad one is listed with the Vehicle field at fault."""
    await _seed(api)
    await _store_broken_vehicles(api)

    operation = await _wait(api, await _optimize(api))

    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    assert {r.vehicle for r in plan.routes} == {f"{TENANT}/vehicles/gru-01"}
    reasons = {s.vehicle: s.reason for s in plan.skipped_vehicles}
    assert set(reasons) == {f"{TENANT}/vehicles/no-break", f"{TENANT}/vehicles/infinite"}
    assert reasons[f"{TENANT}/vehicles/no-break"].startswith("break_window:")
    assert "cost_per_kilometer" in reasons[f"{TENANT}/vehicles/infinite"]
    assert "vehicles[" not in " ".join(reasons.values())
