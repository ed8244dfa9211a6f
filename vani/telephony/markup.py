"""The answers a provider's call webhook expects: where to stream the call, with what values.

Twilio TwiML and Telnyx TeXML: ``<Connect><Stream url=...>`` with ``<Parameter>`` children
(bidirectional; ``<Start><Stream>`` would be listen-only). Plivo XML: ``<Stream
bidirectional="true">url</Stream>`` with ``extraHeaders``. Exotel: its Voicebot applet asks a URL
for ``{"url": "wss://..."}``. Pure functions; see ``docs/telephony.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

__all__ = ["exotel_stream_answer", "plivo_xml", "telnyx_texml", "twilio_twiml"]

_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def _parameters(params: Mapping[str, str]) -> str:
    return "".join(
        f"<Parameter name={quoteattr(str(k))} value={quoteattr(str(v))}/>"
        for k, v in params.items()
    )


def twilio_twiml(stream_url: str, params: Mapping[str, str] | None = None) -> str:
    """TwiML that connects the call to ``stream_url`` (no query string: Twilio drops it)."""
    inner = _parameters(params or {})
    return (
        f"{_XML_HEAD}<Response><Connect><Stream url={quoteattr(stream_url)}>{inner}"
        "</Stream></Connect></Response>"
    )


def telnyx_texml(stream_url: str, params: Mapping[str, str] | None = None) -> str:
    """TeXML that streams the call both ways (``bidirectionalMode="rtp"``: base64 PCMU)."""
    inner = _parameters(params or {})
    return (
        f"{_XML_HEAD}<Response><Connect><Stream url={quoteattr(stream_url)}"
        f' bidirectionalMode="rtp" bidirectionalCodec="PCMU">{inner}</Stream></Connect></Response>'
    )


def plivo_xml(
    stream_url: str,
    params: Mapping[str, str] | None = None,
    *,
    content_type: str = "audio/x-mulaw;rate=8000",
) -> str:
    """Plivo XML that streams the call both ways and keeps it up while the stream lives.

    ``params`` travel as ``extraHeaders`` (``k=v,k=v``; keep keys and values free of commas).
    """
    extra = ",".join(f"{k}={v}" for k, v in (params or {}).items())
    attrs = f' bidirectional="true" keepCallAlive="true" contentType={quoteattr(content_type)}'
    if extra:
        attrs += f" extraHeaders={quoteattr(extra)}"
    return f"{_XML_HEAD}<Response><Stream{attrs}>{escape(stream_url)}</Stream></Response>"


def exotel_stream_answer(stream_url: str) -> str:
    """The JSON Exotel's Voicebot applet reads when its URL is dynamic."""
    return json.dumps({"url": stream_url})
