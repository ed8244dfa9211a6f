"""`vani serve --database`: the restaurant bot, or a clear refusal without DATABASE_URL."""

from __future__ import annotations

import pytest

from vani.cli import build_parser, main
from vani.server import cli as server_cli
from vani.tools.postgres.example import restaurant_bot


def test_serve_database_needs_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["serve", "--database"]) == 1
    assert "--database needs DATABASE_URL" in capsys.readouterr().err


def test_serve_database_serves_the_restaurant_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[object] = []
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(
        "vani.server.serve.serve", lambda bot, config, **kw: served.append((bot, kw["name"]))
    )
    args = build_parser().parse_args(["serve", "--database", "--port", "0"])
    assert server_cli._serve(args) == 0
    assert served == [(restaurant_bot, "the restaurant database bot")]
