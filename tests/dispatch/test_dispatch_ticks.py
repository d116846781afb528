"""Ticks from a printed sheet, typed back with the sheet's QR code, become field events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pypdfium2  # type: ignore[import-untyped]
import zxingcpp

from tests.conftest import Api
from tests.dispatch.support import container_visits, published_day, stamp
from tests.errors import assert_error, rpc_error
from wastesvc.v1 import dispatch_pb2, planning_pb2


async def _sheet_code(api: Api, plan: planning_pb2.RoutePlan) -> str:
    """The code in the first page's QR symbol, read off the rendered PDF as a scanner would."""
    sheets = await api.planning.RenderRouteSheets(planning_pb2.RenderRouteSheetsRequest(name=plan.name))
    page = pypdfium2.PdfDocument(sheets.content)[0]
    image = page.render(scale=150 / 72).to_pil()
    codes = [r.text for r in zxingcpp.read_barcodes(image) if r.text.startswith("wastesvc:sheet?")]
    assert codes, "no sheet code found on the first page"
    return codes[0]


async def test_typed_ticks_become_events_once(api: Api) -> None:
    """Emptied → COMPLETED with the fill; code A → SKIPPED blocked; fill 0 → ALREADY_EMPTY; twice → once."""
    plan = await published_day(api)
    code = await _sheet_code(api, plan)
    round_time = stamp(datetime.now(UTC) - timedelta(hours=2))
    ticks = [
        dispatch_pb2.SheetTick(stop_number=1, emptied=True, observed_fill=0.75),
        dispatch_pb2.SheetTick(stop_number=2, anomaly_code="a"),
        dispatch_pb2.SheetTick(stop_number=3, observed_fill=0.0),
        dispatch_pb2.SheetTick(stop_number=4),
    ]
    request = dispatch_pb2.SubmitSheetTicksRequest(sheet_code=code, ticks=ticks, round_time=round_time)
    first = await api.dispatch.SubmitSheetTicks(request)
    assert [e.kind for e in first.field_events] == [
        dispatch_pb2.FIELD_EVENT_KIND_COMPLETED,
        dispatch_pb2.FIELD_EVENT_KIND_SKIPPED,
        dispatch_pb2.FIELD_EVENT_KIND_SKIPPED,
    ]
    stops = container_visits(plan)
    route = await api.dispatch.GetVehicleRoute(dispatch_pb2.GetVehicleRouteRequest(name=plan.routes[0].name))
    shown = {v.id: (v.status, v.skip_cause) for v in route.visits}
    assert shown[stops[0].id] == (planning_pb2.VISIT_STATUS_DONE, 0)
    assert shown[stops[1].id] == (planning_pb2.VISIT_STATUS_SKIPPED, planning_pb2.SKIP_CAUSE_BLOCKED_ACCESS)
    assert shown[stops[2].id] == (planning_pb2.VISIT_STATUS_SKIPPED, planning_pb2.SKIP_CAUSE_ALREADY_EMPTY)
    assert shown[stops[3].id][0] == planning_pb2.VISIT_STATUS_PLANNED
    again = await api.dispatch.SubmitSheetTicks(request)
    assert [e.name for e in again.field_events] == [e.name for e in first.field_events]
    listed = await api.dispatch.ListFieldEvents(dispatch_pb2.ListFieldEventsRequest(parent=plan.name))
    assert len(listed.field_events) == 3


async def test_bad_sheet_codes_and_stop_numbers_are_refused(api: Api) -> None:
    """Not a sheet code, another version of the plan, a stop the sheet does not have."""
    plan = await published_day(api)
    code = await _sheet_code(api, plan)
    when = stamp(datetime.now(UTC))
    err = await rpc_error(
        api.dispatch.SubmitSheetTicks(
            dispatch_pb2.SubmitSheetTicksRequest(sheet_code="hello", round_time=when)
        )
    )
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "sheet_code")
    old = code.rsplit("&v=", 1)[0] + "&v=20200101T000000Z"
    err = await rpc_error(
        api.dispatch.SubmitSheetTicks(dispatch_pb2.SubmitSheetTicksRequest(sheet_code=old, round_time=when))
    )
    assert assert_error(err, grpc.StatusCode.FAILED_PRECONDITION).reason == "SHEET_VERSION_MISMATCH"
    ticks = [dispatch_pb2.SheetTick(stop_number=99, emptied=True)]
    request = dispatch_pb2.SubmitSheetTicksRequest(sheet_code=code, ticks=ticks, round_time=when)
    err = await rpc_error(api.dispatch.SubmitSheetTicks(request))
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "ticks[0].stop_number")
