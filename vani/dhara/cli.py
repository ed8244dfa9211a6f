"""``vani dhara check FILE``: validate a flow file and print every problem.

Errors (the flow cannot run: unknown targets, missing handlers, bad schemas) set exit status 1;
warnings (it may not do what was meant: nodes no declared transition reaches) are printed and
leave the status at 0 unless ``--strict``. Each line starts with ``FILE:LINE:`` where the
location can be found in the file, then the location inside the flow.

``vani/cli.py`` wires this in lazily through :func:`add_subparser`; each leaf parser sets
``func`` to a callable taking the parsed namespace and returning the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from vani.dhara.load import load_flow
from vani.dhara.validate import flow_warnings
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
        "Exit status 0 when the flow is valid (warnings are printed), 1 when it has errors "
        "(or warnings with --strict), 2 when it cannot be read.",
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
    checker.add_argument(
        "--strict", action="store_true", help="treat warnings as errors (exit status 1)"
    )
    checker.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    return check(
        args.file,
        handlers_from=args.handlers,
        action_types=args.action_type,
        strict=args.strict,
    )


def check(
    path: str,
    *,
    handlers_from: str | None = None,
    action_types: Iterable[str] = (),
    out: TextIO | None = None,
    strict: bool = False,
) -> int:
    """Validate the flow file at ``path``; print the verdict to ``out`` (default stdout).

    Returns 0 when valid, 1 when the flow has errors (each printed on its own line with its
    location; warnings too with ``strict``), 2 when the file or the handlers module cannot be
    read. Warnings are printed after the verdict line.
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
        text = _text_of(path)
        print(f"{path}: {len(exc.problems)} problem(s)", file=stream)
        for problem in exc.problems:
            print(f"  {_where(path, text, problem)}error: {problem}", file=stream)
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
    warnings = flow_warnings(flow)
    text = _text_of(path)
    for warning in warnings:
        print(f"  {_where(path, text, warning)}warning: {warning}", file=stream)
    return 1 if strict and warnings else 0


def _text_of(path: str) -> str:
    try:
        return Path(path).read_text("utf-8")
    except OSError:
        return ""


def _where(path: str, text: str, problem: str) -> str:
    """``"FILE:LINE: "`` for the location a problem starts with, or ``""`` when not found.

    The location's named parts (``nodes.order.functions[1].transition_to``: ``nodes``,
    ``order``, ``functions``, ``transition_to``) are looked up as keys in the file in order, each
    after the previous one; list indexes skip that many further items of the same key."""
    location = problem.split(": ", 1)[0]
    if not text or location.startswith(path):
        return ""
    position = 0
    found = False
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", location):
        if part.startswith("["):
            continue
        match = re.compile(
            rf'(?m)(?:"{re.escape(part)}"\s*:|^\s*-?\s*{re.escape(part)}\s*:)'
        ).search(text, position)
        if match is None:
            break
        position, found = match.start(), True
    if not found:
        return ""
    return f"{path}:{text.count(chr(10), 0, position) + 1}: "


def _import_handlers(spec: str) -> Mapping[str, object]:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    handlers = getattr(module, attr or "handlers")
    if not isinstance(handlers, Mapping):
        raise TypeError(f"expected a mapping of handler names, got {type(handlers).__name__}")
    return handlers
