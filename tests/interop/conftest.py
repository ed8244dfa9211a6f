"""Fixtures of the interop tests."""

from tests.server.fakes import fakes

__all__ = ["fakes"]
