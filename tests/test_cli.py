"""The `vani` command: help, errors, the dhara hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vani import cli


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out
    assert "dhara" in out


def test_help_works_without_the_dhara_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_load_dhara", lambda: None)
    assert cli.main([]) == 2  # no command: help, and a usage status
    assert "demo" in capsys.readouterr().out
    assert cli.main(["dhara", "check", "flow.yaml"]) == 2
    assert "not available" in capsys.readouterr().err


def test_a_broken_input_wav_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "caller.wav"
    bad.write_bytes(b"ID3\x04not a wav at all")
    assert cli.main(["demo", "--offline", "--input", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "vani: error:" in err
    assert "is not a WAV file" in err


def test_the_module_runs_as_a_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vani.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("vani ")


def test_vani_dhara_check_runs_the_dhara_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if cli._load_dhara() is None:
        pytest.skip("vani.dhara.cli is not in this checkout")
    flow = tmp_path / "flow.json"
    flow.write_text("{}")
    assert cli.main(["dhara", "check", str(flow)]) == 1
    assert "initial_node" in capsys.readouterr().out
