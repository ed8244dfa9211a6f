"""Splitting a WebSocket request's target into its path and query, without urllib's cache."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vani.transports.websocket.connection import split_request_target


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ws", ("/ws", "")),
        ("/ws?token=a.b&format=raw", ("/ws", "token=a.b&format=raw")),
        ("/ws/a.b", ("/ws/a.b", "")),
        ("/ws?", ("/ws", "")),
        ("/ws?a=1#frag", ("/ws", "a=1")),
        ("/ws#frag?not=query", ("/ws", "")),
        ("//ws?x=1", ("//ws", "x=1")),  # an origin-form path, not an authority
        ("/a?b?c", ("/a", "b?c")),
        ("ws://host:8765/ws?token=t", ("/ws", "token=t")),
        ("wss://host?token=t", ("", "token=t")),
        ("http://host", ("", "")),
        ("", ("", "")),
        ("*", ("*", "")),
    ],
)
def test_a_target_splits_into_its_path_and_query(target: str, expected: tuple[str, str]) -> None:
    assert split_request_target(target) == expected


# What a client puts in an origin-form target (RFC 3986's unreserved and sub-delims, ":", "@",
# "/", "?", "#" and percent escapes).
_TARGET_CHARS = st.sampled_from([*"abcXYZ019-._~!$&'()*+,;=:@/?#%", "%20", "%2F", "?", "#"])


@given(st.lists(_TARGET_CHARS, max_size=40).map("".join))
def test_origin_form_targets_split_as_urllib_splits_them(rest: str) -> None:
    target = "/" + rest
    if target.startswith("//"):  # urllib reads an authority there; a request target has none
        target = "/x" + target
    parts = urlsplit(target)
    assert split_request_target(target) == (parts.path, parts.query)
