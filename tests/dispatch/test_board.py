"""The operations board in a real headless Chromium: today's round drawn with a scale, KPIs, live events."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image, ImageStat
from playwright.async_api import Browser, async_playwright

from tests.conftest import Api
from tests.dispatch.support import container_visits, event, published_day, send
from wastesvc.board import start_board
from wastesvc.config import Settings
from wastesvc.v1 import dispatch_pb2, planning_pb2

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
