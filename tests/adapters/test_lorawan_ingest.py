"""The ingest pipeline: decode and store, quarantine what cannot be stored, replay it later."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.lorawan.devices import ConfigError, DeviceModels
from adapters.lorawan.ingest import Disposition, Ingestor, ReceivedMessage
from adapters.lorawan.quarantine import Quarantine
from tests.adapters.lorawan_support import (
    EM310_FRAME,
    LDDS75_FRAME,
    InMemorySink,
    chirpstack_uplink,
    tts_uplink,
)

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
EM310 = "24E124136B502217"
LDDS75 = "A84041000181C061"
MODELS = DeviceModels.from_config({EM310: "milesight-em310-udl"}, {"LDDS75": "dragino-ldds75"})


@pytest.fixture
def quarantine(tmp_path: Path) -> Iterator[Quarantine]:
    store = Quarantine(tmp_path / "quarantine.sqlite3")
    yield store
    store.close()


def tts(dev_eui: str, f_cnt: int, payload: bytes = EM310_FRAME, minutes: int = 0) -> ReceivedMessage:
    body = tts_uplink(dev_eui, f_cnt, payload, received_at=T0 + timedelta(minutes=minutes))
    return ReceivedMessage("tts", "mqtt:v3/bins@soissons/devices/x/up", body)


async def test_batch_with_good_duplicate_and_bad_frames(quarantine: Quarantine) -> None:
    """Good frames are stored once, a re-delivery is a duplicate, bad ones are quarantined with a reason."""
    sink = InMemorySink()
    ingestor = Ingestor(MODELS, sink, quarantine)
    chirpstack = ReceivedMessage(
        "chirpstack",
        "mqtt:application/a/device/b/event/up",
        chirpstack_uplink(LDDS75, 3, LDDS75_FRAME, time=T0),
    )
    messages = [
        tts(EM310, 1),
        tts(EM310, 1),  # the network server delivers it again
        chirpstack,
        tts(EM310, 2, bytes.fromhex("0175")),  # cut short
        tts("0000000000000001", 1),  # nobody configured it
        ReceivedMessage("tts", "webhook", b"not json"),
        ReceivedMessage(None, "mqtt:other/topic", b"{}"),
    ]
    outcomes = await ingestor.ingest(messages)
    assert [o.disposition for o in outcomes] == [
        Disposition.STORED,
        Disposition.DUPLICATE,
        Disposition.STORED,
        *[Disposition.QUARANTINED] * 4,
    ]
    assert [(r.dev_eui, r.f_cnt, r.reading.distance_mm) for r in sink.stored] == [
        (EM310, 1, 2116),
        (LDDS75, 3, 2799),
    ]
    assert sink.calls == 1  # one batch, one call
    reasons = [frame.reason for frame in quarantine.frames()]
    assert "undecodable frame from 24E124136B502217 (fCnt 2)" in reasons[0]
    assert reasons[1] == "unknown device 0000000000000001 (profile 'the-things-products/the-things-uno')"
    assert reasons[2].startswith("malformed tts message: not JSON")
    assert reasons[3] == "not an uplink topic: mqtt:other/topic"
    assert [o.malformed for o in outcomes[3:]] == [False, False, True, True]
    assert quarantine.frames()[1].body == messages[4].body  # kept exactly as received


async def test_service_rejection_is_quarantined(quarantine: Quarantine) -> None:
    """A reading the service rejects (sensor bound to no container) is quarantined with its words."""
    ingestor = Ingestor(MODELS, InMemorySink(unbound=[EM310]), quarantine)
    [outcome] = await ingestor.ingest([tts(EM310, 1)])
    assert outcome.disposition is Disposition.QUARANTINED
    assert quarantine.frames()[0].reason == f"rejected by the service: no container bound to sensor {EM310}"


async def test_frame_without_level_is_skipped_not_quarantined(quarantine: Quarantine) -> None:
    """A valid frame without a distance (EM310 attributes only) is acknowledged and not stored anywhere."""
    sink = InMemorySink()
    [outcome] = await Ingestor(MODELS, sink, quarantine).ingest(
        [tts(EM310, 1, bytes.fromhex("ff0bffff0101"))]
    )
    assert outcome.disposition is Disposition.SKIPPED
    assert sink.stored == []
    assert quarantine.frames() == []


async def test_sink_failure_propagates_and_quarantines_nothing(quarantine: Quarantine) -> None:
    """When the sink cannot store, the error reaches the caller and nothing is quarantined until the retry."""
    sink = InMemorySink(failures=1)
    ingestor = Ingestor(MODELS, sink, quarantine)
    batch = [tts(EM310, 1), tts("0000000000000001", 1)]
    with pytest.raises(ConnectionError):
        await ingestor.ingest(batch)
    assert quarantine.frames() == []
    outcomes = await ingestor.ingest(batch)  # the caller retries the same batch
    assert [o.disposition for o in outcomes] == [Disposition.STORED, Disposition.QUARANTINED]
    assert len(quarantine.frames()) == 1  # quarantined once, not once per attempt


async def test_replay_after_the_device_is_configured(quarantine: Quarantine) -> None:
    """An unknown device's frame is stored by a replay once the device is configured, then leaves."""
    sink = InMemorySink()
    await Ingestor(MODELS, sink, quarantine).ingest([tts("0000000000000001", 5), tts(EM310, 6, b"\x01")])
    [unknown, broken] = quarantine.frames()
    configured = DeviceModels.from_config(
        {"0000000000000001": "milesight-em310-udl", EM310: "milesight-em310-udl"}, {}
    )
    outcomes = await Ingestor(configured, sink, quarantine).replay()
    assert outcomes[unknown.id].disposition is Disposition.STORED
    assert outcomes[broken.id].disposition is Disposition.QUARANTINED
    assert [(r.dev_eui, r.f_cnt) for r in sink.stored] == [("0000000000000001", 5)]
    [left] = quarantine.frames()
    assert (left.id, left.replays) == (broken.id, 1)


async def test_replay_of_chosen_frames_only(quarantine: Quarantine) -> None:
    """Replaying given ids leaves the other frames untouched."""
    ingestor = Ingestor(MODELS, InMemorySink(), quarantine)
    await ingestor.ingest([tts("0000000000000001", 1), tts("0000000000000002", 1)])
    first, second = quarantine.frames()
    assert list(await ingestor.replay([second.id])) == [second.id]
    assert [f.replays for f in quarantine.frames()] == [0, 1]
    assert quarantine.remove(first.id)
    assert not quarantine.remove(first.id)


def test_quarantine_survives_reopening(tmp_path: Path) -> None:
    """The quarantine is a file: what was added is there after the process reopens it."""
    path = tmp_path / "q.sqlite3"
    first = Quarantine(path)
    frame_id = first.add(network="chirpstack", origin="mqtt:t", reason="r", body=b"\x00\x01")
    first.close()
    again = Quarantine(path)
    [frame] = again.frames()
    again.close()
    assert (frame.id, frame.network, frame.origin, frame.reason, frame.body) == (
        frame_id,
        "chirpstack",
        "mqtt:t",
        "r",
        b"\x00\x01",
    )


@pytest.mark.parametrize(
    ("devices", "profiles", "message"),
    [
        ({EM310: "acme-9000"}, {}, "unknown model 'acme-9000'"),
        ({"24E1": "milesight-em310-udl"}, {}, "not a DevEUI"),
        ({}, {"LDDS75": "dragino"}, r"\[profiles\] 'LDDS75'"),
    ],
)
def test_bad_device_configuration(devices: dict[str, str], profiles: dict[str, str], message: str) -> None:
    """A device table naming an unknown model or a malformed DevEUI is refused at start-up."""
    with pytest.raises(ConfigError, match=message):
        DeviceModels.from_config(devices, profiles)
