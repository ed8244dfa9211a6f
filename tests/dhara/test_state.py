"""``{{key}}`` placeholders filled from the flow state."""

from __future__ import annotations

import logging

import pytest

from vani.dhara.state import render, render_message


def test_a_placeholder_is_replaced_by_its_value() -> None:
    assert render("Hello {{name}}!", {"name": "Asha"}) == "Hello Asha!"
    assert render("Hello {{ name }}!", {"name": "Asha"}) == "Hello Asha!"


def test_nested_keys_lists_and_numbers_are_rendered() -> None:
    state = {"order": {"size": "large", "total": 479}, "toppings": ["olive", "corn"], "ok": True}
    assert render("{{order.size}} for {{order.total}}", state) == "large for 479"
    assert render("with {{toppings}}", state) == "with olive, corn"
    assert render("{{ok}} {{order}}", state) == 'true {"size": "large", "total": 479}'


def test_a_missing_key_stays_in_the_text_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vani.dhara.state"):
        assert render("Hi {{who}} and {{name}}", {"name": "Ravi"}) == "Hi {{who}} and Ravi"
    assert "'who'" in caplog.text


def test_text_without_placeholders_is_returned_as_is() -> None:
    text = "No {braces} here, {not one}"
    assert render(text, {"braces": "x"}) is text


def test_messages_are_copied_with_their_text_rendered() -> None:
    message = {"role": "system", "content": "Size {{size}}"}
    out = render_message(message, {"size": "small"})  # type: ignore[arg-type]
    assert out == {"role": "system", "content": "Size small"}
    assert message["content"] == "Size {{size}}"
    parts = {"role": "user", "content": [{"type": "text", "text": "{{a}}"}, {"type": "image"}]}
    assert render_message(parts, {"a": "b"}) == {  # type: ignore[arg-type]
        "role": "user",
        "content": [{"type": "text", "text": "b"}, {"type": "image"}],
    }
