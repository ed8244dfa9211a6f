"""Loading a user's bot file: ``vani run bot.py``. See ``docs/server.md``."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeAlias, cast

from vani.errors import ConfigurationError

if TYPE_CHECKING:
    from vani.server.session import Session

__all__ = ["BotEntry", "BotLoadError", "load_bot"]

BotEntry: TypeAlias = "Callable[[Session], Awaitable[None]]"


class BotLoadError(ConfigurationError):
    """The bot file could not be loaded or has no usable ``bot`` entry point."""


def _import_file(path: Path) -> ModuleType:
    name = f"vani_bot_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BotLoadError(f"cannot load {path}: expected a Python file")
    module = importlib.util.module_from_spec(spec)
    # The bot may import modules that sit beside it, as `python bot.py` would allow.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise BotLoadError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def load_bot(path: str | Path, entry: str = "bot") -> BotEntry:
    """The ``async def bot(session)`` defined in the file at ``path``.

    Raises :class:`BotLoadError` when the file is missing, fails to import, or ``entry`` is
    absent, not a coroutine function, or does not take exactly one argument.
    """
    file = Path(path)
    if not file.is_file():
        raise BotLoadError(f"no bot file at {file}: expected a Python file defining {entry}()")
    module = _import_file(file.resolve())
    func = getattr(module, entry, None)
    if func is None:
        raise BotLoadError(f"{file} defines no {entry}(): expected `async def {entry}(session)`")
    if not inspect.iscoroutinefunction(func):
        raise BotLoadError(
            f"{file}: {entry} must be `async def {entry}(session)`, got {type(func).__name__}"
        )
    try:
        inspect.signature(func).bind(object())
    except TypeError as exc:
        raise BotLoadError(
            f"{file}: {entry}() must take one argument (the session): {exc}"
        ) from exc
    return cast("Callable[[Session], Awaitable[None]]", func)
