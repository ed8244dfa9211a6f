"""RAVI: vani's client protocol layer. On the wire it is RTVI 2.2 (label ``rtvi-ai``), so every
Pipecat client SDK works against a vani server unchanged. See ``docs/protocol.md``.

* :mod:`vani.ravi.messages`: sans-I/O models of every message, both directions.
* :mod:`vani.ravi.versions`: version negotiation.
* :class:`RAVIProcessor` (alias ``RTVIProcessor``): answers client messages; place it right
  after ``transport.input()``.
* :class:`RAVIObserver` (alias ``RTVIObserver``): sends the pipeline's events to the client.
"""

from vani.ravi.frames import RTVIServerMessageFrame
from vani.ravi.messages import ClientMessage, ServerMessage
from vani.ravi.observer import (
    FunctionCallReportLevel,
    RAVIObserver,
    RAVIObserverParams,
    RTVIFunctionCallReportLevel,
    RTVIObserver,
    RTVIObserverParams,
)
from vani.ravi.processor import RAVIProcessor, RTVIProcessor
from vani.ravi.versions import PROTOCOL_VERSION

__all__ = [
    "PROTOCOL_VERSION",
    "ClientMessage",
    "FunctionCallReportLevel",
    "RAVIObserver",
    "RAVIObserverParams",
    "RAVIProcessor",
    "RTVIFunctionCallReportLevel",
    "RTVIObserver",
    "RTVIObserverParams",
    "RTVIProcessor",
    "RTVIServerMessageFrame",
    "ServerMessage",
]
