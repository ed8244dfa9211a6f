"""The ``vani`` command.

``vani demo`` runs a whole call offline and prints its timeline (see :mod:`vani.demo`);
``vani run bot.py`` / ``vani serve`` serve a bot over WebSocket (see :mod:`vani.server.cli`);
``vani dhara ...`` is provided by :mod:`vani.dhara.cli` when that module is installed. Heavy
modules are imported only by the subcommand that needs them, so ``vani --help`` stays instant
and works in any install.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

import vani
from vani.errors import VaniError

__all__ = ["build_parser", "main"]


def _demo(args: argparse.Namespace) -> int:
    from vani.demo import format_timeline, run_demo

    print("vani demo: placing the call (the first run loads the models)...", flush=True)
    result = asyncio.run(
        run_demo(
            input_path=args.input,
            output_path=args.output,
            realtime=True if args.realtime else None,
            offline=args.offline,
        )
    )
    print(format_timeline(result))
    return 0


def _load_dhara() -> ModuleType | None:
    try:
        return importlib.import_module("vani.dhara.cli")
    except ImportError:
        return None


def _add_dhara(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    module = _load_dhara()
    add = getattr(module, "add_subparser", None) if module is not None else None
    if callable(add):
        add(subparsers)
        return
    parser = subparsers.add_parser("dhara", help="check and run Dhara conversation flows")
    parser.add_argument("dhara_args", nargs=argparse.REMAINDER, help="arguments for dhara")
    run = getattr(module, "main", None) if module is not None else None

    def dhara(args: argparse.Namespace) -> int:
        if not callable(run):
            print("vani: the dhara command is not available in this install", file=sys.stderr)
            return 2
        code = run(list(args.dhara_args))
        return int(code or 0)

    parser.set_defaults(func=dhara)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vani", description="vani: real-time voice agents with a compiled audio core."
    )
    parser.add_argument("--version", action="version", version=f"vani {vani.__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = subparsers.add_parser(
        "demo",
        help="run a whole phone call offline and print its timeline",
        description=(
            "Play a caller WAV into a voice bot (Silero VAD, Whisper, a scripted pizza-ordering"
            " dialogue with a tool call, Piper) and write the call as a stereo WAV: caller left,"
            " bot right. With OPENAI_API_KEY set the dialogue comes from OpenAI; with"
            " SARVAM_API_KEY, speech goes through Sarvam."
        ),
    )
    demo.add_argument("--input", metavar="WAV", help="your own caller WAV (8–48 kHz, mono/stereo)")
    demo.add_argument(
        "--output", metavar="WAV", default="vani-call.wav", help="where to write the call"
    )
    demo.add_argument(
        "--realtime", action="store_true", help="play the call in real time (default: fast)"
    )
    demo.add_argument(
        "--offline", action="store_true", help="ignore API keys and run everything locally"
    )
    demo.set_defaults(func=_demo)

    _add_dhara(subparsers)
    from vani.server.cli import add_subparsers as add_server_commands

    add_server_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vani`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except VaniError as exc:
        print(f"vani: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
