"""Payload decoders, one module per sensor model, from raw frame bytes to a `SensorReading`.

Every decoder has the signature ``decode(payload: bytes, f_port: int | None) -> SensorReading`` and
raises `DecodeError` for a frame it cannot read — never a made-up value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Literal

from adapters.lorawan.decoders import (
    bosch_tps110,
    decentlab_dl_mbx,
    dingtek_df702,
    dragino_ldds75,
    milesight_em310_udl,
    milesight_em400_tld,
    nwave_nps405,
    tekelek_tek766,
)
from adapters.lorawan.decoders._reading import DecodeError, SensorReading

__all__ = ["DECODERS", "DecodeError", "Decoder", "SensorReading", "decode", "payload_bytes"]

Decoder = Callable[[bytes, int | None], SensorReading]

DECODERS: Mapping[str, Decoder] = {
    module.MODEL: module.decode
    for module in (
        milesight_em310_udl,
        milesight_em400_tld,
        dragino_ldds75,
        tekelek_tek766,
        decentlab_dl_mbx,
        dingtek_df702,
        nwave_nps405,
        bosch_tps110,
    )
}


def decode(model: str, payload: bytes, f_port: int | None) -> SensorReading:
    """Decode ``payload`` with the decoder registered for ``model``.

    Raises
    ------
    DecodeError
        When no decoder has that name, or the decoder refuses the frame.
    """
    decoder = DECODERS.get(model)
    if decoder is None:
        raise DecodeError(f"no decoder named {model!r} (known: {', '.join(sorted(DECODERS))})")
    return decoder(payload, f_port)


def payload_bytes(text: str, encoding: Literal["hex", "base64"]) -> bytes:
    """Frame bytes from their hex or base64 text (hex may contain spaces).

    Raises
    ------
    DecodeError
        When ``text`` is not valid in that encoding.
    """
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as error:
        raise DecodeError(f"payload is not valid {encoding}: {error}") from None
