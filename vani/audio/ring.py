"""A lock-free byte ring for audio crossing from one thread to another.

:class:`SPSCRing` (compiled, ``vani._core.ring``) connects exactly one producer thread (a
sound-card callback, a blocking reader) with exactly one consumer (usually the event loop).
Neither side blocks or locks: ``write(data)`` accepts as many bytes as fit and returns the count;
``read(n)`` and ``read_into(buf)`` take what is there. Copies run with the GIL released. The
capacity is a power of two, fixed at construction; a bad one raises
:class:`~vani.errors.ConfigurationError`.

Only one thread may write and only one may read at any time; ``readable`` and ``writable`` may
be read from anywhere and are snapshots. To wake an asyncio consumer, the producer can call
``loop.call_soon_threadsafe`` after writing; the ring itself does no signalling.
"""

from __future__ import annotations

from vani._core.ring import SPSCRing

__all__ = ["SPSCRing"]
