"""The protocol layer stays light to import: no numpy, no protobuf until a serializer is used."""

from __future__ import annotations

import subprocess
import sys


def test_importing_ravi_and_the_serializer_interface_loads_no_heavy_module() -> None:
    code = (
        "import sys, vani.ravi, vani.serializers\n"
        "from vani.serializers import FrameSerializer\n"
        "heavy = ('numpy', 'google.protobuf', 'onnxruntime')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
