"""TLS and mutual TLS as settings: certificates made with openssl, a real server, real channels."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from tests.conftest import TENANT, token
from tests.errors import rpc_error
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.server import create_server
from wastesvc.v1 import containers_pb2, containers_pb2_grpc


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for localhost and a client certificate, all signed by the CA."""
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=wastesvc test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)  # fmt: skip
    (folder / "san.cnf").write_text("subjectAltName=DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=folder)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", "san.cnf", "-out", f"{name}.pem", cwd=folder)  # fmt: skip
    return folder


def _server_settings(settings: Settings, pki: Path, *, mutual: bool) -> Settings:
    return replace(
        settings,
        tls_cert_file=str(pki / "server.pem"),
        tls_key_file=str(pki / "server.key"),
        tls_client_ca_file=str(pki / "ca.pem") if mutual else "",
    )


def _client_settings(settings: Settings, pki: Path, *, with_certificate: bool) -> Settings:
    return replace(
        settings,
        tls_ca_file=str(pki / "ca.pem"),
        tls_cert_file=str(pki / "client.pem") if with_certificate else "",
        tls_key_file=str(pki / "client.key") if with_certificate else "",
    )


@pytest.fixture(params=[False, True], ids=["tls", "mutual-tls"])
async def tls_server(
    request: pytest.FixtureRequest, settings: Settings, certificates: Path
) -> AsyncIterator[tuple[int, bool]]:
    server_settings = _server_settings(settings, certificates, mutual=request.param)
    service, port = await create_server("localhost:0", server_settings)
    yield port, request.param
    await service.stop(None)


async def _list(channel: grpc.aio.Channel) -> containers_pb2.ListContainersResponse:
    stub = containers_pb2_grpc.ContainerServiceStub(channel)
    response: containers_pb2.ListContainersResponse = await stub.ListContainers(
        containers_pb2.ListContainersRequest(parent=TENANT)
    )
    return response


async def test_a_client_trusting_the_ca_is_served(
    tls_server: tuple[int, bool], settings: Settings, certificates: Path
) -> None:
    """Over TLS (with its certificate when the server asks for one) the call goes through."""
    port, mutual = tls_server
    client = _client_settings(settings, certificates, with_certificate=mutual)
    async with open_channel(f"localhost:{port}", client, token(settings)) as channel:
        assert list((await _list(channel)).containers) == []


async def test_a_plaintext_client_is_refused(tls_server: tuple[int, bool], settings: Settings) -> None:
    """A client that does not speak TLS never reaches the service."""
    port, _ = tls_server
    async with open_channel(f"localhost:{port}", settings, token(settings)) as channel:
        err = await rpc_error(_list(channel))
    assert err.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    settings: Settings, certificates: Path
) -> None:
    """With a client CA set, a TLS client that presents no certificate is refused at the handshake."""
    service, port = await create_server("localhost:0", _server_settings(settings, certificates, mutual=True))
    try:
        client = _client_settings(settings, certificates, with_certificate=False)
        async with open_channel(f"localhost:{port}", client, token(settings)) as channel:
            err = await rpc_error(_list(channel))
        assert err.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await service.stop(None)
