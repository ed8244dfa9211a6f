"""The compiled core: synchronous, deterministic, sans-I/O objects built from ``csrc/*.pyx``.

Nothing here knows about asyncio except ``queue.FrameQueue.get``; nothing reads a clock or logs.
Each object has a small pure-Python reference in ``vani._core.reference`` that the tests hold it
to.

**Fallback.** When the compiled modules cannot be loaded (a platform without a wheel and no
compiler, a broken build), or when the environment sets ``VANI_PURE_PYTHON=1``, every
``vani._core.<name>`` is served by ``vani._core.reference.<name>`` instead, with one
``RuntimeWarning`` that says why. Results are the same; only speed differs
(see ``docs/installation.md``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import ExtensionFileLoader, ModuleSpec
from types import ModuleType

__all__ = ["COMPILED", "MODULES"]

MODULES = ("chunker", "pcm", "processor", "queue", "resample", "ring", "vad")
"""The modules that have both a compiled form and a pure-Python reference."""
_LIGHT = ("queue", "processor", "pcm", "chunker", "ring", "vad")


class _ReferenceFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``vani._core.<name>`` to the module ``vani._core.reference.<name>`` itself."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        name = spec.name.rpartition(".")[2]
        return importlib.import_module(f"{__name__}.reference.{name}")

    def exec_module(self, module: ModuleType) -> None:
        """The reference module ran when it was imported."""


def _load() -> bool:
    if os.environ.get("VANI_PURE_PYTHON", "") not in ("", "0"):
        reason = "VANI_PURE_PYTHON is set"
    else:
        try:
            for name in MODULES:
                spec = importlib.util.find_spec(f"{__name__}.{name}")
                if spec is None or not isinstance(spec.loader, ExtensionFileLoader):
                    raise ImportError(f"no compiled module {name}")
            # Load the light ones now so that a broken build is found here; resample (numpy)
            # loads on first use, keeping ``import vani`` free of heavy imports.
            for name in _LIGHT:
                importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:
            reason = f"the compiled core could not be loaded ({exc})"
        else:
            return True
    # Each vani._core.<name> is served by vani._core.reference.<name>, loaded when first
    # imported (as the compiled modules are), so ``import vani`` stays free of numpy.
    for name in MODULES:
        sys.modules.pop(f"{__name__}.{name}", None)
    sys.meta_path.insert(0, _ReferenceFinder())
    warnings.warn(
        f"vani runs on its pure-Python core, slower than the compiled one: {reason}",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


COMPILED: bool = _load()
"""True when the compiled modules are in use; False on the pure-Python fallback."""
