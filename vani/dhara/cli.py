"""``vani dhara check FILE``: validate a flow file and print every problem.

``vani/cli.py`` wires this in lazily through :func:`add_subparser`; each leaf parser sets
``func`` to a callable taking the parsed namespace and returning the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

from vani.dhara.load import load_flow
from vani.errors import FlowError, FlowValidationError

__all__ = ["add_subparser", "check"]


def add_subparser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dhara`` (with its ``check`` command) to the ``vani`` command's subparsers."""
    dhara = subparsers.add_parser("dhara", help="node-based conversation flows")
    commands = dhara.add_subparsers(dest="dhara_command", metavar="COMMAND", required=True)
    checker = commands.add_parser(
        "check",
        help="validate a flow file (JSON or YAML) and list every problem",
        description="Validate a flow file against the Dhara schema and its semantic rules. "
        "Exit status 0 when the flow is valid, 1 when it has problems, 2 when it cannot be read.",
    )
    checker.add_argument("file", help="flow file (.json, .yaml or .yml)")
    checker.add_argument(
        "--handlers",
        metavar="MODULE[:ATTR]",
        help="also check handler names against the mapping MODULE.ATTR (default ATTR: handlers)",
    )
    checker.add_argument(
        "--action-type",
        action="append",
        default=[],
        metavar="TYPE",
        help="accept this user-registered action type (repeatable)",
    )
    checker.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    return check(args.file, handlers_from=args.handlers, action_types=args.action_type)


def check(
    path: str,
    *,
    handlers_from: str | None = None,
    action_types: Iterable[str] = (),
    out: TextIO | None = None,
) -> int:
    """Validate the flow file at ``path``; print the verdict to ``out`` (default stdout).

    Returns 0 when valid, 1 when the flow has problems (each printed on its own line with its
    location), 2 when the file or the handlers module cannot be read.
    """
    stream = out if out is not None else sys.stdout
    handlers: Mapping[str, object] | None = None
    if handlers_from is not None:
        try:
            handlers = _import_handlers(handlers_from)
        except (ImportError, AttributeError, TypeError) as exc:
            print(f"{handlers_from}: cannot load handlers: {exc}", file=stream)
            return 2
    try:
        flow = load_flow(path, handlers=handlers, action_types=action_types)
    except FlowValidationError as exc:
        print(f"{path}: {len(exc.problems)} problem(s)", file=stream)
        for problem in exc.problems:
            print(f"  {problem}", file=stream)
        return 1
    except FlowError as exc:
        print(f"{path}: {exc}", file=stream)
        return 2
    functions = sum(len(node.functions) for node in flow.nodes) + len(flow.global_functions)
    print(
        f"{path}: ok ({len(flow.nodes)} nodes, {functions} functions, "
        f"starts at {flow.initial_node!r})",
        file=stream,
    )
    return 0


def _import_handlers(spec: str) -> Mapping[str, object]:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    handlers = getattr(module, attr or "handlers")
    if not isinstance(handlers, Mapping):
        raise TypeError(f"expected a mapping of handler names, got {type(handlers).__name__}")
    return handlers
