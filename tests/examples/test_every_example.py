"""Every file in examples/ runs in CI: each has a test that runs it against the fakes.

The examples that need a server, a provider or a database are run by the tests of those areas
(tests/server, tests/dhara, tests/tools, ...); this module runs the plain ones and checks that no
example is left without a test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"


def test_the_echo_pipeline_example_prints_its_frames() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "echo_pipeline.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "NAMASTE, VANI" in out
    assert "InputAudioRawFrame" in out


def test_every_example_is_run_by_some_test() -> None:
    sources = "\n".join(p.read_text() for p in TESTS.rglob("*.py"))
    examples = sorted(EXAMPLES.rglob("*.py"))
    assert examples
    untested = [
        str(p.relative_to(ROOT)) for p in examples if p.stem not in sources and p.stem != "__init__"
    ]
    assert untested == [], f"examples with no test: {untested}"
