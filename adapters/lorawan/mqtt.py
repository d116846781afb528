"""MQTT subscriber for The Things Stack v3 and ChirpStack v4 uplinks, at least once end to end.

QoS 1 on a persistent session (fixed client id; MQTT 5 ``clean_start`` false with a session expiry,
or MQTT 3.1.1 ``clean_session`` false), so the broker keeps what arrives while the adapter is down.
PUBACKs are sent by hand, only after the sink stored the batch or the quarantine holds the frame: an
adapter killed in between gets the same messages again on reconnect. paho's network thread does the
I/O and reconnects with exponential back-off (``reconnect_delay_set``); the asyncio side decodes and
stores.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from adapters.lorawan.ingest import Ingestor, ReceivedMessage
from adapters.lorawan.messages import Network

__all__ = ["CHIRPSTACK_TOPIC", "TTS_TOPIC", "MqttSettings", "MqttSubscriber", "network_of_topic"]

_log = logging.getLogger("adapters.lorawan.mqtt")

# Topic filters that say which network server's format a message is in.
TTS_TOPIC = "v3/+/devices/+/up"
CHIRPSTACK_TOPIC = "application/+/device/+/event/up"


def network_of_topic(topic: str) -> Network | None:
    """``"tts"`` or ``"chirpstack"`` from the topic's shape; ``None`` for any other topic."""
    if paho.topic_matches_sub(TTS_TOPIC, topic):
        return "tts"
    if paho.topic_matches_sub(CHIRPSTACK_TOPIC, topic):
        return "chirpstack"
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
        Most messages stored in one sink call (and MQTT 5 receive maximum: in flight, unacknowledged).
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
    mid: int
    qos: int


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
        # Messages cross from paho's thread in a locked deque; the event loop is woken once per
        # run of messages rather than once per message.
        self._inbox: deque[_Delivery] = deque()
        self._inbox_lock = threading.Lock()
        self._wake_scheduled = False
        self._ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.subscribed = asyncio.Event()
        """Set while connected with the subscriptions acknowledged by the broker."""

    def _client(self) -> paho.Client:
        s = self._settings
        if s.protocol == "5":
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=paho.MQTTv5)
        else:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=s.client_id,
                clean_session=False,
                protocol=paho.MQTTv311,
            )
        client.manual_ack_set(True)
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties | None:
        if self._settings.protocol != "5":
            return None
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._settings.session_expiry_s
        properties.ReceiveMaximum = self._settings.batch_max
        return properties

    # paho callbacks: they run on paho's network thread and only hand over to the event loop.

    def _threadsafe(self, callback: Any, *args: Any) -> None:
        assert self._loop is not None  # set before the network thread starts
        self._loop.call_soon_threadsafe(callback, *args)

    def _on_connect(
        self, client: paho.Client, _userdata: Any, flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        if reason.is_failure:
            _log.warning("broker refused the connection: %s", reason)
            return
        _log.info("connected (session present: %s)", flags.session_present)
        client.subscribe([(topic, 1) for topic in self._settings.topics])

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _properties: Any
    ) -> None:
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            _log.error("broker refused subscriptions %s: %s", self._settings.topics, refused)
            return
        _log.info("subscribed to %s", ", ".join(self._settings.topics))
        self._threadsafe(self.subscribed.set)

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        self._threadsafe(self.subscribed.clear)
        if reason.is_failure:
            _log.warning("disconnected (%s); reconnecting with back-off", reason)

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        delivery = _Delivery(message.topic, bytes(message.payload), message.mid, message.qos)
        with self._inbox_lock:
            self._inbox.append(delivery)
            wake = not self._wake_scheduled
            self._wake_scheduled = True
        if wake:
            self._threadsafe(self._ready.set)

    # the asyncio side

    async def _next_batch(self, stop: asyncio.Event) -> list[_Delivery]:
        """Wait for messages (checking ``stop`` twice a second), then take up to ``batch_max``."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=0.5)
            except TimeoutError:
                continue
            with self._inbox_lock:
                count = min(len(self._inbox), self._settings.batch_max)
                batch = [self._inbox.popleft() for _ in range(count)]
                if not self._inbox:
                    self._wake_scheduled = False
                    self._ready.clear()
            if batch:
                return batch
        return []

    async def _handle(self, batch: Sequence[_Delivery], stop: asyncio.Event) -> bool:
        """Ingest ``batch``, retrying with back-off while the sink fails; False if stopped first."""
        messages = [ReceivedMessage(network_of_topic(d.topic), f"mqtt:{d.topic}", d.payload) for d in batch]
        delay = self._settings.retry_min_s
        while not stop.is_set():
            try:
                await self._ingestor.ingest(messages)
            except Exception:
                _log.exception("could not store %d uplinks; retrying in %.1f s", len(batch), delay)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    delay = min(delay * 2, self._settings.retry_max_s)
                continue
            return True
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Receive, store and acknowledge until ``stop`` is set.

        Messages not yet handled when it stops stay unacknowledged: the broker delivers them again
        to the next session with the same client id.
        """
        self._loop = asyncio.get_running_loop()
        client = self._client()
        s = self._settings
        if s.protocol == "5":
            client.connect_async(
                s.host, s.port, s.keepalive_s, clean_start=False, properties=self._connect_properties()
            )
        else:
            client.connect_async(s.host, s.port, s.keepalive_s)
        client.loop_start()
        try:
            while not stop.is_set():
                batch = await self._next_batch(stop)
                if batch and await self._handle(batch, stop):
                    for delivery in batch:
                        client.ack(delivery.mid, delivery.qos)
        finally:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
            self.subscribed.clear()
