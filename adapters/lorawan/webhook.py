"""The Things Stack webhook receiver: the uplink body by HTTP POST, authenticated by a shared secret.

TTS sends the additional headers configured on the webhook with every request; the adapter expects
one of them to carry the shared secret. Answers: 401 without the header, 403 with a wrong secret,
400 for a body that is not an uplink message (it is quarantined too), 202 once the reading is stored
or the frame quarantined, 503 when the sink cannot store (TTS may send it again).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass, field

from aiohttp import web

from adapters.lorawan.ingest import Disposition, Ingestor, ReceivedMessage

__all__ = ["WebhookSettings", "serve_webhook", "webhook_app"]

_log = logging.getLogger("adapters.lorawan.webhook")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where the receiver listens and how requests are authenticated.

    Attributes
    ----------
    host, port
        Listening address; port 0 picks a free one.
    path
        The uplink path configured in the TTS webhook ("Uplink message" enabled).
    secret_header
        Name of the header carrying the shared secret.
    secret
        The shared secret; must not be empty.
    max_body_bytes
        Larger bodies are refused (413).
    """

    secret: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8090
    path: str = "/tts/uplink"
    secret_header: str = "X-Webhook-Secret"
    max_body_bytes: int = 256 * 1024


def webhook_app(settings: WebhookSettings, ingestor: Ingestor) -> web.Application:
    """The aiohttp application serving ``POST settings.path``.

    Raises
    ------
    ValueError
        When the secret is empty: an open endpoint would accept anyone's frames.
    """
    if not settings.secret:
        raise ValueError("the webhook needs a non-empty shared secret")
    expected = settings.secret.encode()

    async def uplink(request: web.Request) -> web.Response:
        given = request.headers.get(settings.secret_header)
        if given is None:
            return web.json_response({"error": f"missing {settings.secret_header} header"}, status=401)
        if not hmac.compare_digest(given.encode(), expected):
            return web.json_response({"error": "wrong shared secret"}, status=403)
        body = await request.read()
        try:
            [outcome] = await ingestor.ingest([ReceivedMessage("tts", "webhook", body)])
        except Exception:
            _log.exception("could not store a webhook uplink")
            return web.json_response({"error": "cannot store now, send again"}, status=503)
        if outcome.malformed:
            return web.json_response({"error": outcome.reason}, status=400)
        answer = {"disposition": outcome.disposition.value}
        if outcome.disposition is not Disposition.STORED and outcome.reason:
            answer["reason"] = outcome.reason
        return web.json_response(answer, status=202)

    app = web.Application(client_max_size=settings.max_body_bytes)
    app.router.add_post(settings.path, uplink)
    return app


async def serve_webhook(
    settings: WebhookSettings,
    ingestor: Ingestor,
    stop: asyncio.Event,
    started: asyncio.Future[int] | None = None,
) -> None:
    """Serve the webhook until ``stop`` is set; ``started`` receives the bound port.

    Raises
    ------
    OSError
        When the address cannot be bound (e.g. the port is taken).
    """
    runner = web.AppRunner(webhook_app(settings, ingestor), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=False)
        await site.start()
        port = runner.addresses[0][1]
        _log.info("webhook listening on http://%s:%d%s", settings.host, port, settings.path)
        if started is not None:
            started.set_result(port)
        await stop.wait()
    finally:
        await runner.cleanup()
