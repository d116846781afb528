"""MQTT subscriber for The Things Stack v3 and ChirpStack v4 uplinks, at least once end to end.

QoS 1 on a persistent session (fixed client id; MQTT 5 clean start off with a session expiry, or
MQTT 3.1.1 clean session off), so the broker keeps what arrives while the adapter is down. PUBACKs are
sent only after the sink stored the batch or the quarantine holds the frame: an adapter killed in
between gets the same messages again on reconnect. The client is a lean asyncio one
(`adapters.lorawan._mqtt_wire`): it reads the socket in large chunks and receives the next batch while
the current one is stored. It reconnects with exponential back-off; a connection's unacknowledged
messages are dropped with it, since the broker delivers them again to the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from adapters.lorawan import _mqtt_wire as wire
from adapters.lorawan.ingest import Ingestor, ReceivedMessage
from adapters.lorawan.messages import Network

__all__ = ["CHIRPSTACK_TOPIC", "TTS_TOPIC", "MqttSettings", "MqttSubscriber", "network_of_topic"]

_log = logging.getLogger("adapters.lorawan.mqtt")

# Batches being stored at once.
_PIPELINE = 2
_FLUSH_TIMEOUT_S = 2.0

# Topic filters that say which network server's format a message is in.
TTS_TOPIC = "v3/+/devices/+/up"
CHIRPSTACK_TOPIC = "application/+/device/+/event/up"
_SHAPES: tuple[tuple[tuple[str, ...], Network], ...] = (
    (tuple(TTS_TOPIC.split("/")), "tts"),
    (tuple(CHIRPSTACK_TOPIC.split("/")), "chirpstack"),
)


def network_of_topic(topic: str) -> Network | None:
    """``"tts"`` or ``"chirpstack"`` from the topic's shape; ``None`` for any other topic."""
    levels = topic.split("/")
    for shape, network in _SHAPES:
        if len(levels) == len(shape) and all(
            want in ("+", level) and (want != "+" or level) for want, level in zip(shape, levels, strict=True)
        ):
            return network
    return None


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker and what to subscribe to.

    Attributes
    ----------
    host, port
        The broker.
    topics
        Topic filters, e.g. ``v3/{app}@{tenant}/devices/+/up`` or ``application/+/device/+/event/up``.
    client_id
        Fixed client id: the broker keeps the session (subscriptions, unacknowledged messages) under it.
    protocol
        ``"5"`` (MQTT 5) or ``"3.1.1"``.
    session_expiry_s
        MQTT 5: how long the broker keeps the session while the adapter is away.
    keepalive_s
        Keep-alive interval.
    reconnect_min_s, reconnect_max_s
        Reconnect back-off: the wait starts at the minimum and doubles up to the maximum.
    username, password
        Broker credentials, when it requires them.
    tls
        Connect over TLS with the system's certificate authorities.
    batch_max
        Most messages stored in one sink call. MQTT 5 clients ask the broker for three times as many
        in flight (receive maximum), so that more arrive while two batches are being stored; for
        MQTT 3.1.1 clients the broker's ``max_inflight_messages`` (Mosquitto: 20) is the limit.
    retry_min_s, retry_max_s
        Back-off between attempts when the sink fails.
    """

    topics: tuple[str, ...]
    client_id: str
    host: str = "127.0.0.1"
    port: int = 1883
    protocol: Literal["5", "3.1.1"] = "5"
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 60
    reconnect_min_s: int = 1
    reconnect_max_s: int = 120
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    batch_max: int = 500
    retry_min_s: float = 0.5
    retry_max_s: float = 60.0


@dataclass(frozen=True, slots=True)
class _Delivery:
    topic: str
    payload: bytes
    packet_id: int
    qos: int


class _ConnectionLost(Exception):
    """The broker closed the connection, went silent or sent what this client cannot read."""


@dataclass
class _Connection:
    """One connection's writer and the messages received on it, not yet handled."""

    writer: asyncio.StreamWriter
    inbox: deque[_Delivery] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    pong: asyncio.Event = field(default_factory=asyncio.Event)


class MqttSubscriber:
    """Subscribes, hands batches to the `Ingestor`, acknowledges what it handled.

    Parameters
    ----------
    settings
        Broker, topics and session.
    ingestor
        Decodes, stores and quarantines.
    """

    def __init__(self, settings: MqttSettings, ingestor: Ingestor) -> None:
        self._settings = settings
        self._ingestor = ingestor
        self._v5 = settings.protocol == "5"
        self.subscribed = asyncio.Event()
        """Set while connected with the subscriptions acknowledged by the broker."""

    async def run(self, stop: asyncio.Event) -> None:
        """Receive, store and acknowledge until ``stop`` is set, reconnecting with back-off.

        Messages not yet handled when it stops stay unacknowledged: the broker delivers them again
        to the next session with the same client id.
        """
        s = self._settings
        delay = float(s.reconnect_min_s)
        while not stop.is_set():
            try:
                await self._session(stop)
            except (OSError, TimeoutError, wire.ProtocolError, _ConnectionLost) as error:
                _log.warning(
                    "connection to %s:%d lost (%s); retrying in %.0f s", s.host, s.port, error, delay
                )
            finally:
                if self.subscribed.is_set():
                    delay = float(s.reconnect_min_s)
                self.subscribed.clear()
            if await _stopped(stop, delay):
                return
            delay = min(delay * 2, s.reconnect_max_s)

    async def _session(self, stop: asyncio.Event) -> None:
        s = self._settings
        context = ssl.create_default_context() if s.tls else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(s.host, s.port, ssl=context), timeout=s.keepalive_s
        )
        connection = _Connection(writer)
        try:
            writer.write(
                wire.connect(
                    s.client_id,
                    v5=self._v5,
                    keepalive_s=s.keepalive_s,
                    session_expiry_s=s.session_expiry_s,
                    receive_maximum=min(65535, (_PIPELINE + 1) * s.batch_max),
                    username=s.username,
                    password=s.password,
                )
            )
            buffer = bytearray()
            first = await self._read(reader, buffer)
            if not first or first[0].kind != wire.CONNACK:
                raise wire.ProtocolError("the broker did not answer CONNECT with CONNACK")
            _log.info("connected (session present: %s)", wire.connack(first[0], v5=self._v5))
            writer.write(wire.subscribe(1, s.topics, v5=self._v5))
            self._dispatch(first[1:], connection)
            receiver = asyncio.create_task(self._receive(reader, buffer, connection))
            pinger = asyncio.create_task(self._ping(writer))
            try:
                await self._work(connection, receiver, stop)
                pinger.cancel()
                await self._flush(connection, receiver)
            finally:
                pinger.cancel()
                receiver.cancel()
                await asyncio.gather(pinger, receiver, return_exceptions=True)
            lost = None if receiver.cancelled() else receiver.exception()
            if lost is not None:
                raise lost
        finally:
            if not writer.is_closing():
                writer.write(wire.disconnect())
            writer.close()
            with contextlib.suppress(OSError):  # already gone
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader, buffer: bytearray) -> list[wire.Packet]:
        """The complete packets of the next chunk read (several, or none while one is incomplete)."""
        data = await asyncio.wait_for(reader.read(1 << 16), timeout=1.5 * self._settings.keepalive_s)
        if not data:
            raise _ConnectionLost("the broker closed the connection")
        buffer += data
        return wire.cut_packets(buffer)

    async def _receive(
        self, reader: asyncio.StreamReader, buffer: bytearray, connection: _Connection
    ) -> None:
        while True:
            self._dispatch(await self._read(reader, buffer), connection)

    def _dispatch(self, packets: list[wire.Packet], connection: _Connection) -> None:
        for packet in packets:
            if packet.kind == wire.PUBLISH:
                topic, qos, packet_id, payload = wire.publish_fields(packet, v5=self._v5)
                connection.inbox.append(_Delivery(topic, payload, packet_id, qos))
            elif packet.kind == wire.SUBACK:
                refused = wire.suback_refused(packet, v5=self._v5)
                if refused:
                    raise wire.ProtocolError(
                        f"broker refused subscriptions {self._settings.topics}: {refused}"
                    )
                _log.info("subscribed to %s", ", ".join(self._settings.topics))
                self.subscribed.set()
            elif packet.kind == wire.PINGRESP:
                connection.pong.set()
            elif packet.kind == wire.DISCONNECT:
                reason = f" (reason 0x{packet.body[0]:02x})" if packet.body else ""
                raise _ConnectionLost(f"the broker disconnected{reason}")
        if connection.inbox:
            connection.ready.set()

    async def _flush(self, connection: _Connection, receiver: asyncio.Task[None]) -> None:
        """Before a clean disconnect, wait until the broker has read the last acknowledgements.

        A broker handles a connection's packets in order, so its answer to a PINGREQ sent after the
        PUBACKs means they were processed; without it a closing socket can lose them and the next
        session receives those uplinks again. Bounded: the broker may be gone.
        """
        if receiver.done():
            return
        connection.pong.clear()
        connection.writer.write(wire.pingreq())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connection.pong.wait(), timeout=_FLUSH_TIMEOUT_S)

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self._settings.keepalive_s / 2)
            writer.write(wire.pingreq())

    async def _work(self, connection: _Connection, receiver: asyncio.Task[None], stop: asyncio.Event) -> None:
        """Store and acknowledge batches until ``stop`` is set or the connection is lost.

        Up to `_PIPELINE` batches are stored at once, so the adapter decodes one while the service
        writes the other; each is acknowledged when its own store returns.
        """
        slots = asyncio.Semaphore(_PIPELINE)
        handling: set[asyncio.Task[None]] = set()

        async def handle(batch: list[_Delivery]) -> None:
            try:
                if await self._handle(batch, stop) and not receiver.done():
                    connection.writer.write(wire.pubacks([d.packet_id for d in batch if d.qos]))
            finally:
                slots.release()

        try:
            while not stop.is_set() and not receiver.done():
                ready = asyncio.create_task(connection.ready.wait())
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait({ready, stopped, receiver}, return_when=asyncio.FIRST_COMPLETED)
                ready.cancel()
                stopped.cancel()
                if not connection.inbox or stop.is_set() or receiver.done():
                    continue
                await slots.acquire()
                count = min(len(connection.inbox), self._settings.batch_max)
                batch = [connection.inbox.popleft() for _ in range(count)]
                if not connection.inbox:
                    connection.ready.clear()
                task = asyncio.create_task(handle(batch))
                handling.add(task)
                task.add_done_callback(handling.discard)
        finally:
            # Batches being stored finish (and are acknowledged) before the connection closes.
            await asyncio.gather(*handling, return_exceptions=True)

    async def _handle(self, batch: Sequence[_Delivery], stop: asyncio.Event) -> bool:
        """Ingest ``batch``, retrying with back-off while the sink fails; False if stopped first."""
        messages = [ReceivedMessage(network_of_topic(d.topic), f"mqtt:{d.topic}", d.payload) for d in batch]
        delay = self._settings.retry_min_s
        while not stop.is_set():
            try:
                await self._ingestor.ingest(messages)
            except Exception:
                _log.exception("could not store %d uplinks; retrying in %.1f s", len(batch), delay)
                if await _stopped(stop, delay):
                    return False
                delay = min(delay * 2, self._settings.retry_max_s)
                continue
            return True
        return False


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``stop``; whether it was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
