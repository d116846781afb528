"""The Things Stack webhook receiver, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from adapters.lorawan.devices import DeviceModels
from adapters.lorawan.ingest import Ingestor
from adapters.lorawan.quarantine import Quarantine
from adapters.lorawan.webhook import WebhookSettings, serve_webhook, webhook_app
from tests.adapters.lorawan_support import EM310_FRAME, InMemorySink, tts_uplink

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
EM310 = "24E124136B502217"
MODELS = DeviceModels.from_config({EM310: "milesight-em310-udl"}, {})
SECRET = "s3cret-from-the-tts-console"
HEADER = "X-Downlink-Apikey-Not-Really"  # any header name the operator configured


class Receiver:
    """A webhook receiver served on a free loopback port, with its sink and quarantine."""

    def __init__(self, url: str, sink: InMemorySink, quarantine: Quarantine) -> None:
        self.url = url
        self.sink = sink
        self.quarantine = quarantine


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    sink = InMemorySink()
    quarantine = Quarantine(tmp_path / "quarantine.sqlite3")
    settings = WebhookSettings(secret=SECRET, port=0, path="/tts/uplink", secret_header=HEADER)
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_webhook(settings, Ingestor(MODELS, sink, quarantine), stop, started))
    port = await asyncio.wait_for(started, timeout=10)
    yield Receiver(f"http://127.0.0.1:{port}/tts/uplink", sink, quarantine)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    quarantine.close()


async def post(receiver: Receiver, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            receiver.url, content=body, headers={HEADER: SECRET} if headers is None else headers
        )


async def test_uplink_is_stored_and_accepted(receiver: Receiver) -> None:
    """A valid uplink with the right secret is stored, answered 202; sent again it is a duplicate."""
    body = tts_uplink(EM310, 3, EM310_FRAME, received_at=T0)
    first = await post(receiver, body)
    assert (first.status_code, first.json()) == (202, {"disposition": "stored"})
    again = await post(receiver, body)
    assert (again.status_code, again.json()["disposition"]) == (202, "duplicate")
    assert [(r.dev_eui, r.f_cnt, r.reading.distance_mm) for r in receiver.sink.stored] == [(EM310, 3, 2116)]


async def test_missing_secret_is_401_and_wrong_secret_403(receiver: Receiver) -> None:
    """Without the header the answer is 401, with a wrong secret 403; neither stores nor quarantines."""
    body = tts_uplink(EM310, 3, EM310_FRAME, received_at=T0)
    assert (await post(receiver, body, headers={})).status_code == 401
    assert (await post(receiver, body, headers={HEADER: SECRET + "x"})).status_code == 403
    assert receiver.sink.calls == 0
    assert receiver.quarantine.frames() == []


async def test_malformed_body_is_400_and_quarantined(receiver: Receiver) -> None:
    """A body that is not a TTS uplink gets 400 with the reason, and is kept in the quarantine."""
    response = await post(receiver, b'{"end_device_ids": {}}')
    assert response.status_code == 400
    assert "uplink_message is missing" in response.json()["error"]
    [frame] = receiver.quarantine.frames()
    assert (frame.origin, frame.body) == ("webhook", b'{"end_device_ids": {}}')


async def test_unknown_device_is_accepted_into_quarantine(receiver: Receiver) -> None:
    """An uplink of an unconfigured device is well-formed: 202, and quarantined with that reason."""
    response = await post(receiver, tts_uplink("0000000000000009", 1, EM310_FRAME, received_at=T0))
    assert response.status_code == 202
    assert response.json() == {
        "disposition": "quarantined",
        "reason": "unknown device 0000000000000009 (profile 'the-things-products/the-things-uno')",
    }
    assert len(receiver.quarantine.frames()) == 1


async def test_sink_down_is_503(receiver: Receiver) -> None:
    """When the sink cannot store, the answer is 503 so that the sender tries again later."""
    receiver.sink.failures = 1
    body = tts_uplink(EM310, 4, EM310_FRAME, received_at=T0)
    assert (await post(receiver, body)).status_code == 503
    assert (await post(receiver, body)).status_code == 202
    assert len(receiver.sink.stored) == 1


async def test_only_post_on_the_configured_path(receiver: Receiver) -> None:
    """Other paths are 404 and other methods 405."""
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(receiver.url)).status_code == 405
        assert (await client.post(receiver.url + "/x", headers={HEADER: SECRET})).status_code == 404


def test_empty_secret_is_refused(tmp_path: Path) -> None:
    """A webhook without a secret would accept anyone's frames: it does not start."""
    quarantine = Quarantine(tmp_path / "q.sqlite3")
    with pytest.raises(ValueError, match="non-empty shared secret"):
        webhook_app(WebhookSettings(secret=""), Ingestor(MODELS, InMemorySink(), quarantine))
    quarantine.close()


async def test_oversized_body_is_refused(receiver: Receiver) -> None:
    """A body over the size limit is refused (413) before it is read into the pipeline."""
    response = await post(receiver, json.dumps({"padding": "x" * 300_000}).encode())
    assert response.status_code == 413
    assert receiver.quarantine.frames() == []
