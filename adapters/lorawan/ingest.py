"""From a received message to a stored reading or a quarantined frame; a bad frame never stops the rest."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.lorawan.decoders import DecodeError, decode
from adapters.lorawan.devices import DeviceModels
from adapters.lorawan.messages import (
    MessageError,
    Network,
    Uplink,
    parse_chirpstack_uplink,
    parse_tts_uplink,
)
from adapters.lorawan.quarantine import Quarantine
from adapters.lorawan.sink import ItemStatus, NormalizedUplink, Sink

__all__ = ["Disposition", "Ingestor", "Outcome", "ReceivedMessage"]

_log = logging.getLogger("adapters.lorawan")

_PARSERS: dict[Network, Callable[[bytes], Uplink]] = {
    "tts": parse_tts_uplink,
    "chirpstack": parse_chirpstack_uplink,
}


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message body as it arrived.

    Attributes
    ----------
    network
        Which network server's format it is in; ``None`` when the topic named neither.
    origin
        ``mqtt:<topic>`` or ``webhook``, kept with a quarantined frame.
    body
        The raw body.
    """

    network: Network | None
    origin: str
    body: bytes


class Disposition(enum.Enum):
    """What became of one message."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"  # a valid frame without a fill level (status, battery-only, parking)
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The disposition of one message, why, and whether the message itself was malformed."""

    disposition: Disposition
    reason: str = ""
    malformed: bool = False


def _network(name: str | None) -> Network | None:
    """The network named in a quarantine record, checked."""
    if name == "tts":
        return "tts"
    if name == "chirpstack":
        return "chirpstack"
    return None


class _Refused(Exception):
    """A message that cannot become a reading; ``malformed`` when the message itself is unreadable."""

    def __init__(self, reason: str, *, malformed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.malformed = malformed


class Ingestor:
    """Parses, decodes and stores messages in batches; quarantines what cannot be stored.

    Parameters
    ----------
    models
        Which decoder reads which device.
    sink
        Where readings are stored.
    quarantine
        Where refused frames are kept.
    """

    def __init__(self, models: DeviceModels, sink: Sink, quarantine: Quarantine) -> None:
        self._models = models
        self._sink = sink
        self._quarantine = quarantine

    def _prepare(self, message: ReceivedMessage) -> NormalizedUplink | None:
        """The message as a reading to store; ``None`` for a valid frame without a level.

        Raises
        ------
        _Refused
            When the message is malformed, its device unknown or its payload undecodable.
        """
        if message.network is None:
            raise _Refused(f"not an uplink topic: {message.origin}", malformed=True)
        try:
            uplink = _PARSERS[message.network](message.body)
        except MessageError as error:
            raise _Refused(f"malformed {message.network} message: {error}", malformed=True) from None
        model = self._models.model_for(uplink)
        if model is None:
            profile = f" (profile {uplink.device_profile!r})" if uplink.device_profile else ""
            raise _Refused(f"unknown device {uplink.dev_eui}{profile}")
        try:
            reading = decode(model, uplink.payload, uplink.f_port)
        except DecodeError as error:
            raise _Refused(
                f"undecodable frame from {uplink.dev_eui} (fCnt {uplink.f_cnt}): {error}"
            ) from None
        if reading.distance_mm is None:
            _log.info(
                "no fill level from %s fCnt %d (%s), alarms %s: nothing to store",
                uplink.dev_eui, uplink.f_cnt, model, list(reading.alarms) or "none",
            )  # fmt: skip
            return None
        return NormalizedUplink(
            network=uplink.network,
            dev_eui=uplink.dev_eui,
            f_cnt=uplink.f_cnt,
            f_port=uplink.f_port,
            measure_time=uplink.measure_time,
            reading=reading,
        )

    def _triage(
        self, messages: Sequence[ReceivedMessage]
    ) -> tuple[list[tuple[int, NormalizedUplink]], dict[int, Outcome]]:
        """The uplinks ready to store (with their index), and the outcome of every other message."""
        ready: list[tuple[int, NormalizedUplink]] = []
        settled: dict[int, Outcome] = {}
        for index, message in enumerate(messages):
            try:
                uplink = self._prepare(message)
            except _Refused as refused:
                settled[index] = Outcome(Disposition.QUARANTINED, refused.reason, refused.malformed)
                continue
            if uplink is None:
                settled[index] = Outcome(Disposition.SKIPPED, "no fill level in this frame")
            else:
                ready.append((index, uplink))
        return ready, settled

    async def _settle(self, messages: Sequence[ReceivedMessage]) -> list[Outcome]:
        """The outcome of each message once the sink has stored the ready ones; writes nothing else."""
        ready, settled = self._triage(messages)
        results = await self._sink.store([uplink for _, uplink in ready]) if ready else []
        if len(results) != len(ready):
            raise RuntimeError(f"sink returned {len(results)} results for {len(ready)} readings")
        for (index, uplink), result in zip(ready, results, strict=True):
            if result.status is ItemStatus.REJECTED:
                reason = f"rejected by the service: {result.reason}"
                settled[index] = Outcome(Disposition.QUARANTINED, reason)
            else:
                settled[index] = Outcome(Disposition(result.status.value))
            _log.debug("%s fCnt %d: %s", uplink.dev_eui, uplink.f_cnt, result.status.value)
        return [settled[index] for index in range(len(messages))]

    async def ingest(self, messages: Sequence[ReceivedMessage]) -> list[Outcome]:
        """Handle ``messages``: one outcome each, in order; refused frames are quarantined.

        Raises
        ------
        Exception
            Whatever the sink raised when it could not store: nothing was quarantined or
            acknowledged, the caller retries the whole batch (the sink deduplicates what it had
            already stored).
        """
        outcomes = await self._settle(messages)
        # Quarantined only after the sink answered, so that a retried batch is not quarantined twice.
        for message, outcome in zip(messages, outcomes, strict=True):
            if outcome.disposition is Disposition.QUARANTINED:
                frame_id = self._quarantine.add(
                    network=message.network, origin=message.origin, reason=outcome.reason, body=message.body
                )
                _log.warning("quarantined frame %d from %s: %s", frame_id, message.origin, outcome.reason)
        return outcomes

    async def replay(self, ids: list[int] | None = None) -> dict[int, Outcome]:
        """Try the quarantined frames again (all, or ``ids``) with the current devices and sink.

        A frame that is stored, found duplicate or skipped leaves the quarantine; one that fails
        again stays with its new reason.
        """
        frames = self._quarantine.frames(ids)
        outcomes = await self._settle(
            [ReceivedMessage(_network(frame.network), frame.origin, frame.body) for frame in frames]
        )
        for frame, outcome in zip(frames, outcomes, strict=True):
            if outcome.disposition is Disposition.QUARANTINED:
                self._quarantine.replay_failed(frame.id, outcome.reason)
            else:
                self._quarantine.remove(frame.id)
        return {frame.id: outcome for frame, outcome in zip(frames, outcomes, strict=True)}
