"""The HTTP routes: /start, /health, /ready and the static root, on a real uvicorn."""

from __future__ import annotations

import httpx
import pytest

from tests.server.helpers import SECRET, running_server, start_call
from vani.server import TokenAuthority


async def test_start_returns_a_websocket_url_and_a_token_that_carries_the_body() -> None:
    async with running_server() as running:
        data = await start_call(running, {"transport": "websocket", "body": {"user": "asha"}})
    assert data["wsUrl"] == f"ws://127.0.0.1:{running.port}/ws"
    claims = TokenAuthority(SECRET.encode()).check(data["token"])
    assert dict(claims.body) == {"user": "asha"}


async def test_start_without_a_body_field_uses_the_request_fields() -> None:
    async with running_server() as running:
        data = await start_call(running, {"transport": "websocket", "lang": "hi-IN"})
    assert dict(TokenAuthority(SECRET.encode()).check(data["token"]).body) == {"lang": "hi-IN"}


async def test_start_uses_the_public_url_behind_a_proxy() -> None:
    async with running_server(public_url="wss://bots.example.com/") as running:
        data = await start_call(running)
    assert data["wsUrl"] == "wss://bots.example.com/ws"


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"[1, 2]", 400),
        (b"{not json", 400),
        (b'{"transport": "daily"}', 400),
        (b'{"body": {"blob": "' + b"x" * 5000 + b'"}}', 413),
    ],
)
async def test_start_refuses_bad_bodies(content: bytes, status: int) -> None:
    async with running_server() as running, httpx.AsyncClient() as client:
        response = await client.post(running.url + "/start", content=content)
    assert response.status_code == status
    assert response.json()["error"]


async def test_start_refuses_a_foreign_origin() -> None:
    async with running_server() as running, httpx.AsyncClient() as client:
        evil = await client.post(
            running.url + "/start", json={}, headers={"Origin": "https://evil.example"}
        )
        local = await client.post(
            running.url + "/start", json={}, headers={"Origin": "http://localhost:5173"}
        )
    assert evil.status_code == 403
    assert local.status_code == 200


async def test_an_origin_list_is_exact() -> None:
    async with (
        running_server(allowed_origins=["https://app.example"]) as running,
        httpx.AsyncClient() as client,
    ):
        good = await client.post(
            running.url + "/start", json={}, headers={"Origin": "https://app.example"}
        )
        other = await client.post(
            running.url + "/start", json={}, headers={"Origin": "http://localhost:5173"}
        )
    assert (good.status_code, other.status_code) == (200, 403)


async def test_start_answers_503_and_ready_turns_503_when_full() -> None:
    async with running_server(max_calls=1) as running, httpx.AsyncClient() as client:
        ready = await client.get(running.url + "/ready")
        assert ready.status_code == 200
        assert ready.json()["ready"] is True
        assert running.server.admission.try_admit()  # a call holds the only slot
        full = await client.post(running.url + "/start", json={})
        not_ready = await client.get(running.url + "/ready")
        health = await client.get(running.url + "/health")
        running.server.admission.release()
        again = await client.post(running.url + "/start", json={})
    assert full.status_code == 503
    assert full.headers["retry-after"] == "1"
    assert not_ready.status_code == 503
    assert health.status_code == 200
    assert health.json()["active_calls"] == 1
    assert health.json()["refused"] == {"capacity": 1}
    assert again.status_code == 200


async def test_the_root_serves_the_static_client() -> None:
    async with running_server() as running, httpx.AsyncClient() as client:
        page = await client.get(running.url + "/")
        missing = await client.get(running.url + "/no-such-file.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/start" in page.text
    assert missing.status_code == 404


async def test_a_page_on_an_allowed_origin_may_post_to_start_across_origins() -> None:
    preflight = {
        "Origin": "http://localhost:5173",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with running_server() as running, httpx.AsyncClient() as client:
        local = await client.options(running.url + "/start", headers=preflight)
        evil = await client.options(
            running.url + "/start", headers={**preflight, "Origin": "https://evil.example"}
        )
    assert local.status_code == 200
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "access-control-allow-origin" not in evil.headers
