"""`--client vani|pipecat|DIR`: which static files the server shows at /."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from vani.errors import ConfigurationError
from vani.server import clients


def test_vani_client_is_shipped_in_the_package() -> None:
    root = clients.client_dir("vani")
    for name in ("index.html", "style.css", "js/app.js", "js/worklets.js", "js/framing.js"):
        assert (root / name).is_file(), name


def test_pipecat_client_without_the_package_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(ConfigurationError, match=r"vani\[pipecat-client\]"):
        clients.client_dir("pipecat")


def test_pipecat_client_is_found_on_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dist = tmp_path / "pipecat_ai_prebuilt" / "client" / "dist"
    dist.mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html>")
    (tmp_path / "pipecat_ai_prebuilt" / "__init__.py").write_text("raise ImportError('not run')")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert clients.client_dir("pipecat") == dist


def test_a_directory_needs_an_index(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"index\.html"):
        clients.client_dir(str(tmp_path))
    (tmp_path / "index.html").write_text("<!doctype html>")
    assert clients.client_dir(str(tmp_path)) == tmp_path.resolve()
