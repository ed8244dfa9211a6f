"""Telephony helpers that are not the media stream: webhook signatures, the answers call webhooks
expect, and the providers' REST APIs (hang up, dial). See ``docs/telephony.md``.

The media-stream wire formats live in :mod:`vani.serializers` (Twilio, Telnyx, Plivo, Exotel); the
transport that plays them with playback marks in :mod:`vani.transports.telephony`.
"""

from vani.telephony.markup import exotel_stream_answer, plivo_xml, telnyx_texml, twilio_twiml
from vani.telephony.rest import DialResult, TelephonyCredentials, dial, hang_up
from vani.telephony.signature import (
    compute_plivo_signature,
    compute_twilio_signature,
    validate_plivo_signature,
    validate_telnyx_signature,
    validate_twilio_signature,
)

__all__ = [
    "DialResult",
    "TelephonyCredentials",
    "compute_plivo_signature",
    "compute_twilio_signature",
    "dial",
    "exotel_stream_answer",
    "hang_up",
    "plivo_xml",
    "telnyx_texml",
    "twilio_twiml",
    "validate_plivo_signature",
    "validate_telnyx_signature",
    "validate_twilio_signature",
]
