"""Every WebSocket transport test that takes ``serve`` runs on both stacks: the ``websockets``
server and uvicorn + Starlette."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ws_support import STACKS


@pytest.fixture(params=sorted(STACKS))
def serve(request: pytest.FixtureRequest) -> Callable[..., object]:
    return STACKS[request.param]
