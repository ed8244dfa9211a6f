"""Sub-tasks: node groups that collect one thing and return a typed result to the node that
started them (``docs/dhara.md``, "Sub-tasks").

A handler starts a task by returning it as the next node; the flow enters the task's first
node. When the task has its value, one of its handlers returns ``task.done(value, result)``:
the flow goes back to the node that started the task (its conversation kept, its pre-actions not
run again), the LLM reads ``result`` as the tool result, ``on_result(value, flow_manager)`` runs
and ``flow_manager.state[task.result_key]`` holds the value::

    async def book(args, flow_manager):
        return {"status": "collecting the phone number"}, CollectPhoneNumber(
            on_result=lambda phone, fm: fm.state.update(phone=phone.e164)
        )

Four ship here: :class:`CollectName`, :class:`CollectPhoneNumber` (Indian and international
numbers, read back digit by digit), :class:`CollectDate` and :class:`Confirm` (yes/no after a
read-back). A task is a node like any other while it runs: an interruption leaves the flow in
the task's node, and the next user turn continues the task.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from vani.dhara.model import FlowFunction, Node
from vani.errors import FlowError
from vani.frames import JSONObject, JSONValue

if TYPE_CHECKING:
    from vani.dhara.manager import FlowManager

__all__ = [
    "CollectDate",
    "CollectName",
    "CollectPhoneNumber",
    "Confirm",
    "FlowTask",
    "PersonName",
    "PhoneNumber",
    "TaskDone",
    "parse_phone_number",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TaskDone(Generic[T]):
    """What a task's handler returns as the next node when the task has its value."""

    task: FlowTask[T]
    value: T


class FlowTask(Generic[T]):
    """A node group that returns a value of type ``T`` (see the module docstring).

    Subclasses implement :meth:`entry` (the first node; build nodes fresh each call).
    ``result_key`` names the state entry the value is stored under (default: the task's name).
    """

    name = "task"

    def __init__(
        self,
        *,
        on_result: Callable[[T, FlowManager], None] | None = None,
        result_key: str | None = None,
    ) -> None:
        self.on_result = on_result
        self.result_key = result_key or self.name

    def entry(self) -> Node:
        raise NotImplementedError

    def done(self, value: T) -> TaskDone[T]:
        return TaskDone(self, value)

    def node_name(self, part: str) -> str:
        return f"{self.name}_{part}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _system(text: str) -> list[JSONObject]:
    return [{"role": "system", "content": text}]


def _params(properties: JSONObject, required: list[str]) -> JSONObject:
    return {"type": "object", "properties": properties, "required": list(required)}


# -- name ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonName:
    first: str
    last: str = ""

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}".strip()


class CollectName(FlowTask[PersonName]):
    """Ask for the caller's name; returns a :class:`PersonName`."""

    name = "collect_name"

    def __init__(self, *, purpose: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.purpose = purpose

    def entry(self) -> Node:
        async def record_name(args: dict[str, JSONValue]) -> tuple[JSONValue, object]:
            first = str(args.get("first_name") or "").strip()
            last = str(args.get("last_name") or "").strip()
            if not first:
                return {"error": "the first name is empty; ask again"}, None
            name = PersonName(first, last)
            return {"status": "done", "name": name.full}, self.done(name)

        why = f" It is needed {self.purpose}." if self.purpose else ""
        return Node(
            name=self.node_name("ask"),
            task_messages=_system(
                f"Ask for the caller's name.{why} If a spelling is unclear, ask them to spell "
                "it. Then call record_name."
            ),
            functions=[
                FlowFunction(
                    name="record_name",
                    description="Record the caller's name.",
                    parameters=_params(
                        {
                            "first_name": {"type": "string"},
                            "last_name": {"type": "string", "description": "Empty if none."},
                        },
                        ["first_name"],
                    ),
                    handler=record_name,
                )
            ],
        )


# -- phone number ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A phone number in E.164 (``+919876543210``) with its country calling code."""

    e164: str
    country_code: str

    @property
    def national(self) -> str:
        return self.e164[1 + len(self.country_code) :]

    def spoken(self) -> str:
        """Digit by digit, grouped as callers read it (Indian numbers 5 + 5)."""
        national = self.national
        if self.country_code == "91" and len(national) == 10:
            groups = [national[:5], national[5:]]
        else:
            groups = [national[i : i + 3] for i in range(0, len(national), 3)]
        digits = ", ".join(" ".join(group) for group in groups)
        return f"plus {' '.join(self.country_code)}, {digits}"


_SEPARATORS = re.compile(r"[\s\-().]")
_INDIAN_MOBILE = re.compile(r"^[6-9]\d{9}$")
_SPOKEN_DIGITS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


def parse_phone_number(text: str, *, default_country: str = "91") -> PhoneNumber:
    """Read a phone number as a caller (or an LLM) writes it.

    Indian forms: ``98765 43210``, ``098765-43210``, ``+91 98765 43210``, ``91 9876543210``
    (a mobile number: 10 digits starting 6-9). International: ``+`` then 8 to 15 digits
    (``+44 20 7946 0958``) or ``00`` instead of ``+``. Spoken digits (``nine eight ...``) are
    accepted. Raises :class:`FlowError` naming what is wrong.
    """
    words = [_SPOKEN_DIGITS.get(w, w) for w in text.lower().replace(",", " ").split()]
    raw = _SEPARATORS.sub("", "".join(words))
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.startswith("+"):
        digits = raw[1:]
        if not digits.isdigit() or not 8 <= len(digits) <= 15:
            raise FlowError(f"expected + and 8 to 15 digits, got {text!r}")
        if digits.startswith("91"):
            if not _INDIAN_MOBILE.match(digits[2:]):
                raise FlowError(f"expected an Indian number of 10 digits after +91, got {text!r}")
            return PhoneNumber("+" + digits, "91")
        code = _country_code(digits)
        return PhoneNumber("+" + digits, code)
    if not raw.isdigit():
        raise FlowError(f"expected digits, got {text!r}")
    if default_country == "91":
        if len(raw) == 11 and raw.startswith("0"):
            raw = raw[1:]
        elif len(raw) == 12 and raw.startswith("91"):
            raw = raw[2:]
        if _INDIAN_MOBILE.match(raw):
            return PhoneNumber("+91" + raw, "91")
        raise FlowError(
            f"expected a 10-digit Indian mobile number starting 6-9 (or +country code), "
            f"got {text!r}"
        )
    if 6 <= len(raw) <= 14:
        return PhoneNumber(f"+{default_country}{raw.lstrip('0')}", default_country)
    raise FlowError(f"expected a phone number, got {text!r}")


# Calling codes by length: the one-digit (1 NANP, 7), a few common two-digit ones; else three.
_TWO_DIGIT_CODES = frozenset(
    str(code)
    for code in (
        20,
        27,
        30,
        31,
        32,
        33,
        34,
        36,
        39,
        40,
        41,
        43,
        44,
        45,
        46,
        47,
        48,
        49,
        51,
        52,
        53,
        54,
        55,
        56,
        57,
        58,
        60,
        61,
        62,
        63,
        64,
        65,
        66,
        81,
        82,
        84,
        86,
        90,
        91,
        92,
        93,
        94,
        95,
        98,
    )
)


def _country_code(digits: str) -> str:
    if digits[0] in "17":
        return digits[0]
    if digits[:2] in _TWO_DIGIT_CODES:
        return digits[:2]
    return digits[:3]


class CollectPhoneNumber(FlowTask[PhoneNumber]):
    """Ask for a phone number, read it back digit by digit, and return it once the caller
    agrees (a rejected read-back asks again). ``default_country``: the calling code assumed
    for numbers given without one (India, ``"91"``, by default)."""

    name = "collect_phone_number"

    def __init__(self, *, default_country: str = "91", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.default_country = default_country

    def entry(self) -> Node:
        async def record_phone_number(args: dict[str, JSONValue]) -> tuple[JSONValue, object]:
            try:
                number = parse_phone_number(
                    str(args.get("number", "")), default_country=self.default_country
                )
            except FlowError as exc:
                return {"error": f"{exc}; ask the caller for the number again"}, None
            return {"status": "read it back", "number": number.e164}, self._read_back(number)

        return Node(
            name=self.node_name("ask"),
            task_messages=_system(
                "Ask for the caller's phone number, with the country code if it is not an "
                "Indian number. Call record_phone_number with the digits as heard."
            ),
            functions=[
                FlowFunction(
                    name="record_phone_number",
                    description="Record the phone number the caller gave.",
                    parameters=_params(
                        {"number": {"type": "string", "description": "As given, e.g. +91 ..."}},
                        ["number"],
                    ),
                    handler=record_phone_number,
                )
            ],
        )

    def _read_back(self, number: PhoneNumber) -> Node:
        async def confirm_phone_number(args: dict[str, JSONValue]) -> tuple[JSONValue, object]:
            if args.get("correct") is True:
                return {"status": "done", "number": number.e164}, self.done(number)
            return {"status": "the caller said no; ask for the number again"}, self.entry()

        return Node(
            name=self.node_name("read_back"),
            task_messages=_system(
                f"Read the number back digit by digit: {number.spoken()}. Ask whether it is "
                "right, then call confirm_phone_number."
            ),
            functions=[_yes_no("confirm_phone_number", "correct", confirm_phone_number)],
        )


def _yes_no(name: str, key: str, handler: Callable[..., object]) -> FlowFunction:
    return FlowFunction(
        name=name,
        description="The caller's answer: true for yes, false for no.",
        parameters=_params({key: {"type": "boolean"}}, [key]),
        handler=handler,  # type: ignore[arg-type]
    )


# -- date ------------------------------------------------------------------------------------------


class CollectDate(FlowTask[dt.date]):
    """Ask for a date; returns a :class:`datetime.date` within ``earliest``..``latest`` when
    given. ``today`` (default: the real one) is told to the LLM so "next Friday" resolves."""

    name = "collect_date"

    def __init__(
        self,
        *,
        purpose: str = "",
        today: dt.date | None = None,
        earliest: dt.date | None = None,
        latest: dt.date | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.purpose = purpose
        self.today = today
        self.earliest = earliest
        self.latest = latest

    def entry(self) -> Node:
        today = self.today or dt.date.today()

        async def record_date(args: dict[str, JSONValue]) -> tuple[JSONValue, object]:
            try:
                date = dt.date.fromisoformat(str(args.get("date", "")))
            except ValueError:
                return {"error": f"expected YYYY-MM-DD, got {args.get('date')!r}"}, None
            if self.earliest is not None and date < self.earliest:
                return {"error": f"{date} is before {self.earliest}; ask for another"}, None
            if self.latest is not None and date > self.latest:
                return {"error": f"{date} is after {self.latest}; ask for another"}, None
            return {"status": "done", "date": date.isoformat()}, self.done(date)

        why = f" for {self.purpose}" if self.purpose else ""
        return Node(
            name=self.node_name("ask"),
            task_messages=_system(
                f"Ask for the date{why}. Today is {today:%A} {today.isoformat()}. Work out "
                "relative dates yourself and call record_date with YYYY-MM-DD."
            ),
            functions=[
                FlowFunction(
                    name="record_date",
                    description="Record the date the caller gave.",
                    parameters=_params(
                        {"date": {"type": "string", "description": "YYYY-MM-DD"}}, ["date"]
                    ),
                    handler=record_date,
                )
            ],
        )


# -- confirmation ----------------------------------------------------------------------------------


class Confirm(FlowTask[bool]):
    """Read ``read_back`` to the caller and ask ``question``; returns True for yes."""

    name = "confirm"

    def __init__(self, read_back: str, *, question: str = "Is that right?", **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.read_back = read_back
        self.question = question

    def entry(self) -> Node:
        async def answer(args: dict[str, JSONValue]) -> tuple[JSONValue, object]:
            yes = args.get("confirmed") is True
            return {"status": "done", "confirmed": yes}, self.done(yes)

        return Node(
            name=self.node_name("ask"),
            task_messages=_system(
                f"Read this back to the caller: {self.read_back} Then ask: {self.question} "
                "Call confirm with their answer."
            ),
            functions=[_yes_no("confirm", "confirmed", answer)],
        )
