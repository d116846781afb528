"""The operations board in a real headless Chromium: today's round drawn with a scale, KPIs, live events."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from google.protobuf import timestamp_pb2
from google.type import latlng_pb2
from PIL import Image, ImageStat
from playwright.async_api import Browser, async_playwright

from tests.conftest import Api
from tests.dispatch.support import container_visits, event, published_day, send
from wastesvc.board import start_board
from wastesvc.config import Settings
from wastesvc.v1 import dispatch_pb2, planning_pb2, readings_pb2

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox", "--headless", "--disable-gpu"]
        )
        yield chromium
        await chromium.close()


async def test_board_draws_the_day_and_follows_the_events(
    api: Api, settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    """Every stop is drawn with the scale and KPIs; a completion sent to the API turns its stop grey live."""
    plan = await published_day(api)
    board = await start_board("127.0.0.1:0", api.address, settings)
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        await page.goto(board.url)
        stops = container_visits(plan)
        await page.wait_for_function(f"document.querySelectorAll('circle.stop').length === {len(stops)}")
        assert await page.locator("#scale text").text_content() in {
            "100 m",
            "200 m",
            "500 m",
            "1 km",
            "2 km",
            "5 km",
        }
        assert await page.locator('[data-kpi="Arrêts"] b').inner_text() == str(len(stops))
        assert await page.locator("polyline.path").count() == len(plan.routes)
        shot = tmp_path / "board.png"
        await page.screenshot(path=str(shot))
        image = Image.open(shot).convert("L")
        assert image.size == (1200, 800)
        assert ImageStat.Stat(image).stddev[0] > 10, "the screenshot is blank"

        await send(api, plan, event(dispatch_pb2.FIELD_EVENT_KIND_COMPLETED, stops[0].id))
        done = f'circle.stop.VISIT_STATUS_DONE[data-visit="{stops[0].id}"]'
        await page.wait_for_selector(done, timeout=10_000)
        assert await page.locator('[data-kpi="Vidés"] b').inner_text() == "1"
        assert "COMPLETED" in await page.locator("#feed").inner_text()
    finally:
        await board.stop()


async def _fire(api: Api, container: str, celsius: float) -> None:
    """A reading of `container` at `celsius` degrees: 85 °C raises a FIRE alert, 20 °C clears it."""
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    reading = readings_pb2.Reading(measure_time=now, fill_fraction=0.5, temperature_celsius=celsius)
    await api.readings.BatchCreateReadings(
        readings_pb2.BatchCreateReadingsRequest(
            requests=[readings_pb2.CreateReadingRequest(parent=container, reading=reading)]
        )
    )


async def test_board_shows_alerts_and_where_the_trucks_are(
    api: Api, settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    """An alert raised before the page opens and one raised while it is open both ring their stop and
    are listed; a resolved one leaves; a POSITION report moves the truck's marker."""
    plan = await published_day(api)
    stops = container_visits(plan)
    await _fire(api, stops[0].containers[0], 85.0)
    board = await start_board("127.0.0.1:0", api.address, settings)
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        await page.goto(board.url)
        await page.wait_for_selector(f'circle.alerted[data-visit="{stops[0].id}"]')
        assert "feu" in await page.locator("#alerts").inner_text()
        truck = page.locator(f'path.truck[data-vehicle="{plan.routes[0].vehicle}"]')
        at_start = await truck.get_attribute("d")

        await _fire(api, stops[1].containers[0], 90.0)
        await page.wait_for_selector(f'circle.alerted[data-visit="{stops[1].id}"]', timeout=10_000)
        assert await page.locator('[data-kpi="Alertes"] b').inner_text() == "2"

        far = latlng_pb2.LatLng(latitude=stops[-1].location.latitude, longitude=stops[-1].location.longitude)
        await send(api, plan, event(dispatch_pb2.FIELD_EVENT_KIND_POSITION, minutes_ago=1, location=far))
        await page.wait_for_function(
            f"document.querySelector('path.truck').getAttribute('d') !== {at_start!r}", timeout=10_000
        )
        await page.screenshot(path=str(tmp_path / "board-alerts.png"))

        await _fire(api, stops[0].containers[0], 20.0)
        await page.wait_for_function(
            f"!document.querySelector('circle.alerted[data-visit=\"{stops[0].id}\"]')", timeout=10_000
        )
        assert await page.locator("#alerts [data-alert]").count() == 1
    finally:
        await board.stop()


async def test_board_api_lists_todays_plans_and_maps_not_found(api: Api, settings: Settings) -> None:
    """The gateway lists today's plans, answers a plan as JSON with its state, and maps NOT_FOUND to 404."""
    plan = await published_day(api)
    board = await start_board("127.0.0.1:0", api.address, settings)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{board.url}api/plan", params={"name": plan.name + "x"}) as response:
                assert response.status == 404
            async with session.get(f"{board.url}api/plan", params={"name": plan.name}) as response:
                body = await response.json()
                assert body["state"] == planning_pb2.RoutePlanState.Name(
                    planning_pb2.ROUTE_PLAN_STATE_PUBLISHED
                )
            async with session.get(f"{board.url}api/plans") as response:
                assert [p["name"] for p in await response.json()] == [plan.name]
    finally:
        await board.stop()
