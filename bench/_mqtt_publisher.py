"""A lean MQTT 3.1.1 QoS 1 publisher for the ingest benchmark.

The packets are encoded by hand and written in paced chunks, so the publisher costs little of the two
cores the broker, the adapter and the service share; PUBACKs are counted to know what the broker holds.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable

__all__ = ["publish_paced"]


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _connect(client_id: str) -> bytes:
    # Protocol "MQTT" level 4, clean session, keep-alive 60 s.
    body = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _string(client_id)
    return bytes([0x10]) + _remaining_length(len(body)) + body


def _publish(topic: str, payload: bytes, packet_id: int) -> bytes:
    body = _string(topic) + struct.pack("!H", packet_id) + payload
    return bytes([0x32]) + _remaining_length(len(body)) + body  # PUBLISH, QoS 1


async def _count_acks(reader: asyncio.StreamReader, acked: list[int]) -> None:
    while True:
        header = await reader.readexactly(2)
        if header[0] >> 4 == 4:  # PUBACK: 2 bytes of packet id follow
            await reader.readexactly(header[1])
            acked[0] += 1
        else:
            await reader.readexactly(header[1])


async def publish_paced(
    host: str,
    port: int,
    *,
    messages: int,
    rate: float,
    message: Callable[[int, float], tuple[str, bytes]],
    client_id: str = "wastesvc-bench-publisher",
) -> float:
    """Publish ``messages`` at ``rate`` per second; ``message(i, now)`` gives topic and payload.

    ``now`` is the publish time, distinct for every message.

    Returns the time (``time.time()``) when the broker had acknowledged every message.
    """
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(_connect(client_id))
    connack = await reader.readexactly(4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"broker refused the publisher: {connack.hex()}")
    acked = [0]
    counter = asyncio.create_task(_count_acks(reader, acked))
    start = time.monotonic()
    sent = 0
    stamp = 0.0
    while sent < messages:
        due = min(messages, int((time.monotonic() - start) * rate) + 1)
        chunk = bytearray()
        while sent < due:
            # Strictly increasing publish times: a device's two uplinks never share a measure time.
            stamp = max(time.time(), stamp + 1e-6)
            topic, payload = message(sent, stamp)
            chunk += _publish(topic, payload, sent % 65535 + 1)
            sent += 1
        writer.write(bytes(chunk))
        await writer.drain()
        await asyncio.sleep(0.005)
    while acked[0] < messages:
        await asyncio.sleep(0.01)
    done = time.time()
    counter.cancel()
    writer.write(bytes([0xE0, 0]))  # DISCONNECT
    writer.close()
    return done
