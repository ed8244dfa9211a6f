"""Checks both WebSocket serializers share: message size, audio shape, RTVI JSON text.

Every check raises :class:`~vani.errors.SerializationError` with a lowercase message that names
the bad value and the expected one. See ``docs/protocol.md``.
"""

from __future__ import annotations

import json

from vani.errors import ConfigurationError, SerializationError
from vani.frames import JSONObject

# 1 MiB: what Pipecat's web transport and the ``websockets`` library assume per message.
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
# Caller audio rates the input transport can resample (vani.audio.resample.SUPPORTED_RATES,
# restated here so that parsing never imports numpy; a test keeps the two equal).
SUPPORTED_SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
MAX_CHANNELS = 2


def check_max_message_bytes(value: int) -> int:
    if value < 1024:
        raise ConfigurationError(f"max_message_bytes must be at least 1024, got {value}")
    return value


def check_size(data: bytes | str, limit: int) -> None:
    # len(str) counts characters, and a character is at least one byte on the wire.
    size = len(data)
    if size > limit:
        raise SerializationError(f"message of {size} bytes is over the {limit}-byte limit")


def check_rate(sample_rate: int, what: str = "sample rate") -> int:
    if sample_rate not in SUPPORTED_SAMPLE_RATES:
        rates = ", ".join(map(str, SUPPORTED_SAMPLE_RATES))
        raise SerializationError(f"{what} must be one of {rates} Hz, got {sample_rate}")
    return sample_rate


def check_channels(num_channels: int) -> int:
    if not 1 <= num_channels <= MAX_CHANNELS:
        raise SerializationError(
            f"channel count must be between 1 and {MAX_CHANNELS}, got {num_channels}"
        )
    return num_channels


def check_pcm(audio: bytes, num_channels: int) -> None:
    frame_bytes = 2 * num_channels
    if len(audio) % frame_bytes:
        raise SerializationError(
            f"s16le audio with {num_channels} channel(s) must be a multiple of {frame_bytes}"
            f" bytes, got {len(audio)}"
        )


def parse_json_object(text: str | bytes) -> JSONObject:
    """Parse one RTVI message: JSON text whose top level is an object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # UnicodeDecodeError is a ValueError too.
        raise SerializationError(f"message is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SerializationError(f"message must be a JSON object, got {type(value).__name__}")
    return value


def dump_json(message: object) -> str:
    try:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"message cannot be encoded as JSON: {exc}") from None
