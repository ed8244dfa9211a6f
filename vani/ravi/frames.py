"""Frames that only the client protocol uses (see ``docs/protocol.md``)."""

from __future__ import annotations

from dataclasses import dataclass

from vani.frames import JSONValue, SystemFrame

__all__ = ["RTVIServerMessageFrame"]


@dataclass(slots=True, eq=False)
class RTVIServerMessageFrame(SystemFrame):
    """Push this anywhere in the pipeline to send ``server-message`` with ``data`` to the
    client (the :class:`~vani.ravi.observer.RAVIObserver` sends it). Pipecat's name."""

    data: JSONValue = None
