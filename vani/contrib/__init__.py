"""Adapters that put vani's compiled audio core inside other voice frameworks.

* :mod:`vani.contrib.pipecat` — drop-in Pipecat analyzers (extra ``vani[pipecat]``).
* :mod:`vani.contrib.livekit` — a LiveKit Agents VAD plugin (extra ``vani[livekit]``).

Guide: docs/embedding.md.
"""
