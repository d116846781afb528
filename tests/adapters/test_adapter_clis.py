"""The talq, ngsi and parking subcommands of ``wastesvc-adapter`` as separate processes against doubles."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.adapters.ngsi_double import serve_broker
from tests.adapters.talq_double import filling_sensor, log_report, serve_gateway
from tests.conftest import TENANT, Api, create_container, create_fleet, token
from wastesvc.config import Settings
from wastesvc.v1 import observations_pb2

ADAPTER = str(Path(sys.executable).parent / "wastesvc-adapter")
TENANT_ID = TENANT.removeprefix("tenants/")
NODE = "6f1c5b1e-3f0e-4c59-9d6a-2b5e4f0b9c11"


async def _adapter(*args: str, token_value: str) -> tuple[int, str]:
    """Run ``wastesvc-adapter args`` while this loop keeps serving the doubles; exit code and output."""
    env = {**os.environ, "WASTESVC_TOKEN": token_value}
    process = await asyncio.create_subprocess_exec(
        ADAPTER, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_talq_poll_stores_the_gateway_values(api: Api, settings: Settings, tmp_path: Path) -> None:
    """`talq poll` reads the gateway double and stores its container's fill and temperature."""
    await create_container(api, "c1")
    config = tmp_path / "talq.toml"
    async with serve_gateway() as gateway:
        gateway.devices = [filling_sensor(NODE, 40, 8.0, datetime.now(UTC) - timedelta(minutes=5))]
        config.write_text(
            f'[talq]\ngateway = "{gateway.url}"\nclient_address = "0b6c9c1e-8a55-4d0c-9d36-6f0f5c1d2a77"\n'
            f'[talq.containers]\n"{NODE}" = "c1"\n'
            f'[service]\ntarget = "{api.address}"\ntenant = "{TENANT_ID}"\n'
        )
        code, output = await _adapter(
            "talq", "--config", str(config), "poll", token_value=token(settings, "gateway")
        )
    listed = await api.observations.ListObservations(observations_pb2.ListObservationsRequest(parent=TENANT))

    assert code == 0, output
    assert sorted(o.property for o in listed.observations) == ["fillingLevel", "temperature"]


async def test_ngsi_export_and_a_missing_token(api: Api, settings: Settings) -> None:
    """`ngsi export` fills the broker double; without a token it exits 2 saying what to set."""
    await create_fleet(api)
    await create_container(api, "c1")
    async with serve_broker() as broker:
        common = ("ngsi", "--broker", broker.url, "--broker-tenant", "city", "--service", api.address)
        code, output = await _adapter(
            *common, "--tenant", TENANT_ID, "export", token_value=token(settings, "dispatch")
        )
        no_token, message = await _adapter(*common, "export", token_value="")

    assert code == 0, output
    assert "2 entities upserted, 0 refused" in output
    assert sorted(e["type"] for e in broker.entities["city"].values()) == ["Vehicle", "WasteContainer"]
    assert (no_token, "WASTESVC_TOKEN" in message) == (2, True)


async def test_parking_poll_against_an_unreachable_broker_is_a_clear_error(
    api: Api, settings: Settings
) -> None:
    """`parking poll` with nothing listening exits 2 with the failed request, not a traceback."""
    code, output = await _adapter(
        "parking", "--service", api.address, "--tenant", TENANT_ID, "poll", "--broker", "http://127.0.0.1:9",
        token_value=token(settings, "gateway"),
    )  # fmt: skip

    assert code == 2
    assert "GET /ngsi-ld/v1/entities" in output
    assert "Traceback" not in output


async def test_talq_receive_serves_log_reports_until_sigterm(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """`talq receive` takes a pushed log report (201), stores it, and stops cleanly on SIGTERM."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "talq.toml"
    config.write_text(
        f'[talq]\nclient_address = "0b6c9c1e-8a55-4d0c-9d36-6f0f5c1d2a77"\nlisten = "127.0.0.1:{port}"\n'
        f'[service]\ntarget = "{api.address}"\ntenant = "{TENANT_ID}"\n'
    )
    env = {**os.environ, "WASTESVC_TOKEN": token(settings, "gateway")}
    process = await asyncio.create_subprocess_exec(
        ADAPTER, "talq", "--config", str(config), "receive", env=env, stderr=asyncio.subprocess.PIPE
    )
    report = log_report("logger-1", [(NODE, "presenceStatus", {"type": "AttributeBoolean", "value": True},
                                      datetime.now(UTC) - timedelta(minutes=1))])  # fmt: skip
    query = {"clientAddress": "0b6c9c1e-8a55-4d0c-9d36-6f0f5c1d2a77", "talqRequestId": str(uuid.uuid4())}
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                answer = await http.post(f"http://127.0.0.1:{port}/log-reports", params=query,
                                         headers={"talq-api-version": "2.7.1"}, json=report)  # fmt: skip
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), timeout=30)
    listed = await api.observations.ListObservations(observations_pb2.ListObservationsRequest(parent=TENANT))

    assert answer.status_code == 201
    assert process.returncode == 0
    assert [(o.entity_id, o.property, o.bool_value) for o in listed.observations] == [
        (NODE, "presence", True)
    ]
