"""Call tokens: signed, expiring, one use, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani.server.tokens import MAX_BODY_BYTES, TokenAuthority, TokenError

SECRET = b"s" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_carries_the_calls_body_and_verifies_once() -> None:
    tokens = TokenAuthority(SECRET)
    token = tokens.issue({"user": "asha", "lang": "hi-IN"})
    claims = tokens.verify(token)
    assert dict(claims.body) == {"user": "asha", "lang": "hi-IN"}
    with pytest.raises(TokenError) as refused:
        tokens.verify(token)
    assert refused.value.reason == "used"


def test_any_instance_with_the_secret_validates_a_token() -> None:
    token = TokenAuthority(SECRET).issue()
    assert TokenAuthority(SECRET).verify(token).jti
    with pytest.raises(TokenError) as refused:
        TokenAuthority(b"t" * 32).verify(token)
    assert refused.value.reason == "signature"


def test_a_token_expires_after_its_ttl() -> None:
    clock = Clock()
    tokens = TokenAuthority(SECRET, ttl_secs=300, clock=clock)
    token = tokens.issue()
    clock.now += 299
    tokens.check(token)
    clock.now += 2
    with pytest.raises(TokenError) as refused:
        tokens.check(token)
    assert refused.value.reason == "expired"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("nodot", "malformed"),
        ("a.b.c", "malformed"),
        ("x" * 9000 + ".y", "malformed"),
    ],
)
def test_malformed_tokens_are_refused_with_a_reason(token: str | None, reason: str) -> None:
    with pytest.raises(TokenError) as refused:
        TokenAuthority(SECRET).check(token)
    assert refused.value.reason == reason


def test_a_tampered_payload_breaks_the_signature() -> None:
    tokens = TokenAuthority(SECRET)
    payload, signature = tokens.issue({"role": "user"}).split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    with pytest.raises(TokenError) as refused:
        tokens.check(f"{forged}.{signature}")
    assert refused.value.reason == "signature"


def test_a_body_too_large_for_a_url_is_refused() -> None:
    with pytest.raises(TokenError, match=f"at most {MAX_BODY_BYTES} bytes"):
        TokenAuthority(SECRET).issue({"blob": "x" * MAX_BODY_BYTES})


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(TokenError, match="at least 16 bytes"):
        TokenAuthority(b"short")


def test_checking_does_not_use_a_token_up() -> None:
    tokens = TokenAuthority(SECRET)
    token = tokens.issue()
    tokens.check(token)
    tokens.check(token)
    tokens.verify(token)
    assert tokens.seen_count == 1


def test_the_seen_set_forgets_expired_tokens_and_fails_closed_when_full() -> None:
    clock = Clock()
    tokens = TokenAuthority(SECRET, ttl_secs=10, max_seen=3, clock=clock)
    for _ in range(3):
        tokens.verify(tokens.issue())
    fourth = tokens.issue()
    with pytest.raises(TokenError) as refused:
        tokens.verify(fourth)
    assert refused.value.reason == "busy"
    clock.now += 11  # the three used ones (and the fourth) expired
    assert tokens.seen_count == 0
    tokens.verify(tokens.issue())
    assert tokens.seen_count == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_is_refused_with_a_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        TokenAuthority(SECRET).check(text)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["issue", "use", "reuse", "tick"]), st.integers(0, 400)),
        max_size=60,
    )
)
def test_no_schedule_lets_a_token_in_twice_or_grows_the_set_past_live_tokens(
    steps: list[tuple[str, int]],
) -> None:
    clock = Clock()
    tokens = TokenAuthority(SECRET, ttl_secs=300, clock=clock)
    issued: list[str] = []
    used: set[str] = set()
    for op, n in steps:
        if op == "issue":
            issued.append(tokens.issue())
        elif op == "tick":
            clock.now += n
        elif issued:
            token = issued[n % len(issued)]
            try:
                tokens.verify(token)
            except TokenError:
                continue
            assert token not in used
            used.add(token)
        assert tokens.seen_count <= len(used)
