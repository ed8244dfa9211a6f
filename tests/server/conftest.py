"""Fixtures of the server tests."""

from tests.server.fakes import fakes

__all__ = ["fakes"]
