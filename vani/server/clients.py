"""Which web client the server shows at ``/``: ``--client vani|pipecat|DIR``. See
``docs/browser.md``.

* ``vani`` (default): vani's own page, shipped in the wheel (``vani/server/static/``).
* ``pipecat``: Pipecat's prebuilt client, served from the installed ``pipecat-ai-prebuilt``
  package (BSD-2-Clause; its licence stays with it in that package). Install it with
  ``pip install "vani[pipecat-client]"``. Choose "WebSocket" in its transport menu. For the
  microphone it loads Daily's call-machine bundle from Daily's CDN (docs/browser.md).
* a directory: any static client (it must have an ``index.html``).

The package is located without being imported (its Python module pulls in FastAPI).
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

from vani.errors import ConfigurationError

__all__ = ["CLIENTS", "client_dir", "pipecat_prebuilt_dir"]

CLIENTS = ("vani", "pipecat")
PIPECAT_PREBUILT = "pipecat_ai_prebuilt"


def pipecat_prebuilt_dir() -> Path | None:
    """The built files of the installed ``pipecat-ai-prebuilt`` (``client/dist`` inside the
    package), or ``None`` when it is not installed."""
    spec = importlib.util.find_spec(PIPECAT_PREBUILT)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        dist = Path(location) / "client" / "dist"
        if (dist / "index.html").is_file():
            return dist
    return None


def client_dir(client: str) -> Path:
    """The directory of static files for ``client`` (``vani``, ``pipecat`` or a directory).

    Raises :class:`~vani.errors.ConfigurationError` when the client cannot be served, saying
    how to fix it.
    """
    if client == "vani":
        return Path(str(resources.files("vani.server").joinpath("static")))
    if client == "pipecat":
        found = pipecat_prebuilt_dir()
        if found is None:
            raise ConfigurationError(
                "--client pipecat needs Pipecat's prebuilt web client: pip install"
                ' "vani[pipecat-client]" (the pipecat-ai-prebuilt package)'
            )
        return found
    path = Path(client).expanduser()
    if not (path / "index.html").is_file():
        raise ConfigurationError(
            f"--client must be 'vani', 'pipecat' or a directory with an index.html, got {client!r}"
        )
    return path.resolve()
