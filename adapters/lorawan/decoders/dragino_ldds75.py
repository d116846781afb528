"""Dragino LDDS75 ultrasonic distance sensor, firmware 1.1.4 and later (8-byte frames on fPort 2).

Layout from the vendor's codec in the TTN device repository (Apache-2.0 snapshot
brocaar/lorawan-devices, ``vendor/dragino/ldds75-114``): battery mV in the low 14 bits of bytes 0-1,
distance mm in bytes 2-3 (0 = no sensor, 20 = invalid reading), interrupt flag in byte 4, the
optional DS18B20 probe in bytes 5-6 (int16, 0.1 °C), sensor flag in byte 7. The older 5-byte
decoder kept in that repository reads the battery bytes as the distance; it is not followed here.
"""

from __future__ import annotations

from adapters.lorawan.decoders._reading import DecodeError, SensorReading, require_length

__all__ = ["MODEL", "decode"]

MODEL = "dragino-ldds75"

_NO_SENSOR = 0
_INVALID_READING = 20


def decode(payload: bytes, f_port: int | None) -> SensorReading:
    """Decode one LDDS75 uplink.

    The DS18B20 probe is an optional accessory and reads 0x0000 when none is attached; a
    temperature of exactly 0 °C is therefore reported as absent rather than guessed.

    Raises
    ------
    DecodeError
        When the fPort is not 2 or the frame is not 8 bytes.
    """
    if f_port != 2:
        raise DecodeError(f"{MODEL}: fPort {f_port} carries no measurement (expected 2)")
    require_length(payload, 8, MODEL)
    millivolts = int.from_bytes(payload[0:2], "big") & 0x3FFF
    distance = int.from_bytes(payload[2:4], "big")
    probe = int.from_bytes(payload[5:7], "big", signed=True)
    fields = {
        "Bat": millivolts / 1000,
        "Distance": distance,
        "Interrupt_flag": payload[4],
        "TempC_DS18B20": probe / 10,
        "Sensor_flag": payload[7],
    }
    alarms = {_NO_SENSOR: ("no_sensor",), _INVALID_READING: ("invalid_reading",)}.get(distance, ())
    return SensorReading(
        model=MODEL,
        fields=fields,
        distance_mm=None if alarms else distance,
        battery_volts=millivolts / 1000,
        temperature_celsius=None if probe == 0 else probe / 10,
        alarms=alarms,
    )
