"""The few MQTT 3.1.1 / 5 packets a QoS 1 subscriber needs, encoded and parsed in bulk.

The subscriber reads the socket in large chunks and cuts every complete packet out of the buffer at
once; this costs a fraction of a general-purpose client's per-message objects and one-byte reads,
which made the receive path the adapter's bottleneck.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CONNACK",
    "DISCONNECT",
    "PINGRESP",
    "PUBLISH",
    "SUBACK",
    "Packet",
    "ProtocolError",
    "connack",
    "connect",
    "cut_packets",
    "disconnect",
    "pingreq",
    "pubacks",
    "publish_fields",
    "suback_refused",
    "subscribe",
]

CONNACK, PUBLISH, SUBACK, PINGRESP, DISCONNECT = 2, 3, 9, 13, 14

# MQTT 5 property identifiers.
_SESSION_EXPIRY = 0x11
_RECEIVE_MAXIMUM = 0x21


class ProtocolError(Exception):
    """The broker sent something this subscriber cannot read, or refused it."""


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet's type, flags (low nibble of the first byte) and body."""

    kind: int
    flags: int
    body: bytes


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes | memoryview, at: int) -> tuple[int, int] | None:
    """The variable byte integer at ``at`` and the offset after it; ``None`` when it is incomplete."""
    value, shift = 0, 0
    for offset in range(at, min(at + 4, len(data))):
        byte = data[offset]
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset + 1
        shift += 7
    if len(data) >= at + 4:
        raise ProtocolError("malformed remaining length")
    return None


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


def connect(
    client_id: str,
    *,
    v5: bool,
    keepalive_s: int,
    session_expiry_s: int,
    receive_maximum: int,
    username: str | None,
    password: str | None,
) -> bytes:
    """CONNECT keeping the session (clean start / clean session off)."""
    flags = (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    header = _string("MQTT") + bytes([5 if v5 else 4, flags]) + struct.pack("!H", keepalive_s)
    if v5:
        properties = bytes([_SESSION_EXPIRY]) + struct.pack("!I", session_expiry_s)
        properties += bytes([_RECEIVE_MAXIMUM]) + struct.pack("!H", receive_maximum)
        header += _varint(len(properties)) + properties
    payload = _string(client_id)
    if username is not None:
        payload += _string(username)
    if password is not None:
        payload += _string(password)
    return _packet(0x10, header + payload)


def subscribe(packet_id: int, topics: tuple[str, ...], *, v5: bool) -> bytes:
    """SUBSCRIBE to ``topics`` at QoS 1."""
    body = struct.pack("!H", packet_id) + (b"\x00" if v5 else b"")
    for topic in topics:
        body += _string(topic) + b"\x01"
    return _packet(0x82, body)


def pubacks(packet_ids: list[int]) -> bytes:
    """PUBACKs of ``packet_ids``, back to back (success, no properties: valid in both versions)."""
    return b"".join(struct.pack("!BBH", 0x40, 2, packet_id) for packet_id in packet_ids)


def pingreq() -> bytes:
    """PINGREQ."""
    return bytes([0xC0, 0])


def disconnect() -> bytes:
    """DISCONNECT, normal (the session stays with the broker)."""
    return bytes([0xE0, 0])


def cut_packets(buffer: bytearray) -> list[Packet]:
    """Every complete packet at the head of ``buffer``, removed from it."""
    packets: list[Packet] = []
    at = 0
    view = memoryview(buffer)
    try:
        while at + 2 <= len(buffer):
            length = _read_varint(view, at + 1)
            if length is None or length[1] + length[0] > len(buffer):
                break
            size, start = length
            first = buffer[at]
            packets.append(Packet(first >> 4, first & 0x0F, bytes(view[start : start + size])))
            at = start + size
    finally:
        view.release()
    del buffer[:at]
    return packets


def publish_fields(packet: Packet, *, v5: bool) -> tuple[str, int, int, bytes]:
    """Topic, QoS, packet id (0 at QoS 0) and payload of a PUBLISH."""
    body = packet.body
    qos = (packet.flags >> 1) & 0x03
    (topic_length,) = struct.unpack_from("!H", body)
    at = 2 + topic_length
    topic = body[2:at].decode()
    packet_id = 0
    if qos:
        (packet_id,) = struct.unpack_from("!H", body, at)
        at += 2
    if v5:
        length = _read_varint(body, at)
        if length is None:
            raise ProtocolError("PUBLISH with truncated properties")
        at = length[1] + length[0]
    return topic, qos, packet_id, body[at:]


def connack(packet: Packet, *, v5: bool) -> bool:
    """Whether the broker kept a session; raises `ProtocolError` when it refused the connection."""
    if len(packet.body) < 2:
        raise ProtocolError("short CONNACK")
    if packet.body[1] != 0:
        version = "reason code" if v5 else "return code"
        raise ProtocolError(f"broker refused the connection ({version} 0x{packet.body[1]:02x})")
    return bool(packet.body[0] & 0x01)


def suback_refused(packet: Packet, *, v5: bool) -> list[int]:
    """The failure codes in a SUBACK (empty when every subscription was granted)."""
    at = 2
    if v5:
        length = _read_varint(packet.body, at)
        if length is None:
            raise ProtocolError("SUBACK with truncated properties")
        at = length[1] + length[0]
    return [code for code in packet.body[at:] if code >= 0x80]
