"""OpenAILLMService: streaming Chat Completions, OpenAI's wire as its SDK speaks it.

Works with OpenAI and with any server that speaks Chat Completions (Ollama, vLLM, llama.cpp's
``llama-server``, the fake in :mod:`vani.testing`): give its ``base_url``.

Wire handling (``docs/services.md``):

* requests stream with ``stream_options.include_usage`` (turn it off for servers that reject
  it); the max-tokens field name is configurable (``max_completion_tokens`` for OpenAI,
  ``max_tokens`` for Ollama and older servers);
* tool-call fragments are joined per ``index``; a fragment carrying a new ``id`` at an index
  already in use starts a new call (Ollama-compatible servers reuse index 0 for parallel calls);
* retries follow the SDK's rules (``max_retries``, default 2): connection failures and
  408/409/429/5xx, honouring ``retry-after``/``retry-after-ms`` up to 60 s and
  ``x-should-retry``, else an exponential backoff from 0.5 s to 8 s with jitter; after that a
  401/403 or ``insufficient_quota`` is a fatal ``ErrorFrame`` with a clear message, anything
  else non-fatal;
* an error event or a dropped connection mid-stream ends the response cleanly with a non-fatal
  ``ErrorFrame``; the pipeline goes back to listening;
* on interruption the HTTP stream is closed at once (the server sees the connection drop);
* on a kept connection the request leaves before the response's ``LLMFullResponseStartFrame``
  is pushed (``LLMService._send_early``), so the server works while that frame's work
  downstream runs; the body is the context as it was then;
* the request goes out on vani's own keep-alive HTTP/1.1 connection (``vani.services._http``,
  responses parsed by ``httptools``) and the stream is read as plain server-sent events: the
  SDK's typed call costs milliseconds per turn and its HTTP stack about 1 ms more, most of the
  framework's time between a transcript and the first audio. A ``client`` given by the caller,
  or a proxy set in the environment for the server's host (``HTTPS_PROXY`` and the rest, with
  ``NO_PROXY``), sends the same request through the SDK's client instead.

Everything else (frames, tool calls, interruptions) is :class:`~vani.services.llm.LLMService`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import importlib
import json
import logging
import os
import random
import ssl
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, cast
from urllib.parse import quote, urlsplit

from vani import __version__
from vani.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitError,
    ServiceConnectionError,
    ServiceError,
)
from vani.frames import CancelFrame, EndFrame, FunctionCallFromLLM, JSONObject, JSONValue
from vani.processors.aggregators.llm_context import LLMContext
from vani.services._http import Exchange, HTTPClient, HTTPError, Origin, Response
from vani.services.llm.base import (
    LLMEvent,
    LLMFinish,
    LLMService,
    LLMTextChunk,
    LLMToolCalls,
    LLMUsage,
)

if TYPE_CHECKING:
    import openai

__all__ = ["OpenAILLMService"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _CallBuilder:
    id: str
    name: str = ""
    arguments: str = ""


class OpenAILLMService(LLMService):
    """An LLM service on OpenAI Chat Completions (see the module docstring).

    ``api_key`` defaults to the SDK's (``OPENAI_API_KEY``); servers that need no key accept
    any string. ``temperature``, ``max_tokens`` (sent under ``max_tokens_field``),
    ``parallel_tool_calls`` and ``extra_body`` go into every request when set.
    ``timeout_secs`` bounds each HTTP request; ``keepalive_secs`` is how long an idle connection
    to the server is kept for the next turn (a server that closes it sooner is noticed before
    reuse). ``client``: an SDK client of the caller's (its HTTP client, proxies and hooks);
    the requests then go through it instead of vani's own connection.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_tokens_field: str = "max_completion_tokens",
        parallel_tool_calls: bool | None = None,
        include_usage: bool = True,
        extra_body: Mapping[str, JSONValue] | None = None,
        max_retries: int = 2,
        timeout_secs: float = 60.0,
        keepalive_secs: float = 120.0,
        default_headers: Mapping[str, str] | None = None,
        client: openai.AsyncOpenAI | None = None,
        max_tool_rounds: int = 5,
        **kwargs: object,
    ) -> None:
        super().__init__(model=model, max_tool_rounds=max_tool_rounds, **kwargs)
        if not max_tokens_field:
            raise ConfigurationError("expected a max_tokens_field name, got an empty string")
        if not keepalive_secs >= 0:
            raise ConfigurationError(f"expected keepalive_secs >= 0, got {keepalive_secs!r}")
        if not timeout_secs > 0:
            raise ConfigurationError(f"expected timeout_secs > 0, got {timeout_secs!r}")
        if max_retries < 0:
            raise ConfigurationError(f"expected max_retries >= 0, got {max_retries!r}")
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._max_tokens_field = max_tokens_field
        self._parallel_tool_calls = parallel_tool_calls
        self._include_usage = include_usage
        self._extra_body: dict[str, JSONValue] = dict(extra_body or {})
        self._owns_client = client is None
        self._client_options = {
            "api_key": api_key if api_key is not None else _env_key(),
            "base_url": base_url,
            "max_retries": max_retries,
            "timeout": timeout_secs,
            "keepalive": keepalive_secs,
            "default_headers": dict(default_headers or {}),
        }
        self._client: openai.AsyncOpenAI | None = client
        self._max_retries = max_retries
        self._timeout = timeout_secs
        # vani's own connection unless the caller brought an SDK client or a proxy is needed;
        # the SDK client is then built on first use of ``client`` only.
        self._direct = _direct_target(base_url) if client is None else None
        if self._direct is None:
            self._make_client()  # fail fast on a bad option, at construction
        self._head = _request_head(cast(str, self._client_options["api_key"]), default_headers)
        self._http: HTTPClient | None = None
        self._early: _Early | None = None

    def _make_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai  # lazy: keeps `import vani` free of the SDK

            options = self._client_options
            # The SDK's pool limits, with idle connections kept far longer than its 5 s: a
            # caller's turns are often further apart than that, and a fresh connection costs
            # every such turn a TCP (and TLS) handshake before the request can leave.
            limits = _http_module().Limits(
                max_connections=1000,
                max_keepalive_connections=100,
                keepalive_expiry=cast(float, options["keepalive"]),
            )
            self._client = openai.AsyncOpenAI(
                api_key=cast(str, options["api_key"]),
                base_url=cast("str | None", options["base_url"]),
                max_retries=cast(int, options["max_retries"]),
                timeout=cast(float, options["timeout"]),
                default_headers=cast("dict[str, str]", options["default_headers"]),
                http_client=openai.DefaultAsyncHttpxClient(
                    verify=_shared_ssl_context(), limits=limits
                ),
            )
        return self._client

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client (built here unless one was given)."""
        return self._make_client()

    async def stop(self, frame: EndFrame) -> None:
        await self._close_client()

    async def cancel(self, frame: CancelFrame) -> None:
        await self._close_client()

    async def _close_client(self) -> None:
        # Release the connections when the pipeline ends; a client given by the caller may
        # be shared with other sessions, so it is left open. A later run builds a new one.
        self._abandon_early()
        if self._http is not None:
            http_client, self._http = self._http, None
            await http_client.aclose()
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            # In a task of its own: the SDK's HTTP client closes inside an anyio cancel scope,
            # which must exit in the task it was entered in (see LLMService._run).
            try:
                await asyncio.get_running_loop().create_task(client.close())
            except Exception:
                logger.warning("%s: closing the openai client failed", self, exc_info=True)

    def build_request(self, context: LLMContext, tool_choice: JSONValue = None) -> JSONObject:
        """The Chat Completions request body for ``context`` (without transport options)."""
        return self._body(context, tool_choice, context.get_messages())

    def _body(
        self, context: LLMContext, tool_choice: JSONValue, messages: list[JSONObject]
    ) -> JSONObject:
        body: JSONObject = {
            "model": self.model_name,
            "messages": cast(JSONValue, messages),
            "stream": True,
        }
        if self._include_usage:
            body["stream_options"] = {"include_usage": True}
        tools = context.tools_for_request()
        if tools:
            body["tools"] = cast(JSONValue, tools)
            choice = tool_choice if tool_choice is not None else context.tool_choice
            if choice is not None:
                body["tool_choice"] = choice
            if self._parallel_tool_calls is not None:
                body["parallel_tool_calls"] = self._parallel_tool_calls
        if self._temperature is not None:
            body["temperature"] = self._temperature
        if self._max_tokens is not None:
            body[self._max_tokens_field] = self._max_tokens
        body.update(self._extra_body)
        return body

    def _apply_settings(self, settings: Mapping[str, JSONValue]) -> None:
        if "temperature" in settings:
            value = settings["temperature"]
            self._temperature = float(value) if isinstance(value, int | float) else None
        if "max_tokens" in settings:
            value = settings["max_tokens"]
            self._max_tokens = int(value) if isinstance(value, int) else None

    async def _stream(
        self, context: LLMContext, tool_choice: JSONValue
    ) -> AsyncGenerator[LLMEvent, None]:
        if self._direct is not None:
            early, self._early = self._early, None
            if early is not None and early.context is context and early.tool_choice == tool_choice:
                direct = await self._post(early.body, early.exchange)
            else:
                if early is not None:
                    early.exchange.abandon()
                direct = await self._post(self._encode(context, tool_choice))
            events = self._events(direct.aiter_line_batches(), direct.aclose, HTTPError)
        else:
            events = await self._sdk_events(context, tool_choice)
        # Closed here, not left to the event loop's finalizer (see _events).
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    async def _sdk_events(
        self, context: LLMContext, tool_choice: JSONValue
    ) -> AsyncGenerator[LLMEvent, None]:
        """The events of the request sent through the SDK's client (a ``client`` given, or a
        proxy needed)."""
        import openai

        client = self._make_client()
        http = _http_module()
        try:
            # The SDK's raw ``post`` (its documented way to reach any endpoint): its headers,
            # timeout, retries and status errors, without ``chat.completions.create``'s request
            # validation and per-chunk models, which cost ~4 ms before the request leaves and
            # ~0.2 ms per chunk on a small machine. The body is exactly build_request()'s.
            answer: object = await client.post(
                "/chat/completions",
                body=self.build_request(context, tool_choice),
                cast_to=http.Response,
                stream=True,
            )
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        except openai.APIError as exc:  # connection refused, timeout
            raise ServiceConnectionError(f"could not reach the llm server: {exc}") from exc

        # SDKs that wrap a streamed raw response in their stream class keep it in ``.response``.
        raw = answer if isinstance(answer, http.Response) else getattr(answer, "response")  # noqa: B009
        return self._events(_one_by_one(raw.aiter_lines()), raw.aclose, http.HTTPError)

    def _encode(self, context: LLMContext, tool_choice: JSONValue) -> bytes:
        # Serialized at once from the live messages: build_request's deep copy (which grows
        # with the call) is only needed by a body that outlives this moment.
        payload = self._body(context, tool_choice, context.messages)
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def _http_client(self) -> HTTPClient:
        if self._http is None:
            self._http = HTTPClient(
                keepalive_secs=cast(float, self._client_options["keepalive"]),
                ssl_context=_shared_ssl_context,
            )
        return self._http

    def _send_early(self, context: LLMContext, tool_choice: JSONValue) -> Callable[[], None] | None:
        # On a kept connection the request is written at once (see LLMService._send_early);
        # without one there is nothing to gain, the connect waits for _stream.
        target = self._direct
        if target is None or self._http is None:
            return None
        if self._early is not None:
            self._early.exchange.abandon()
        body = self._encode(context, tool_choice)
        exchange = self._http.start(target.origin, target.path, self._head, body)
        self._early = _Early(context, tool_choice, body, exchange)
        return self._abandon_early

    def _abandon_early(self) -> None:
        early, self._early = self._early, None
        if early is not None:
            early.exchange.abandon()

    async def _post(self, body: bytes, exchange: Exchange | None = None) -> Response:
        """The request on vani's own connection, retried as the SDK would; the response once
        its head says 2xx or 3xx. ``exchange``: its first try, already under way."""
        target = self._direct
        assert target is not None
        http_client = self._http_client()
        attempt = 0
        while True:
            retries_left = self._max_retries - attempt
            if exchange is None:
                exchange = http_client.start(target.origin, target.path, self._head, body)
            try:
                response = await exchange.response(self._timeout)
            except HTTPError as exc:
                if retries_left <= 0:
                    raise ServiceConnectionError(f"could not reach the llm server: {exc}") from exc
                delay = _retry_delay({}, attempt)
            else:
                if 200 <= response.status < 300:
                    return response
                if response.status < 400:
                    await response.aclose()
                    where = response.headers.get("location", "elsewhere")
                    raise ServiceError(
                        f"the llm server redirects ({response.status}) to {where}: redirects "
                        "are not followed, give that address as base_url",
                        retryable=False,
                    )
                try:
                    detail = await response.aread(64 * 1024)
                except HTTPError:
                    detail = b""
                finally:
                    await response.aclose()
                if retries_left <= 0 or not _should_retry(response.status, response.headers):
                    raise _status_error_from(response.status, detail)
                delay = _retry_delay(response.headers, attempt)
            logger.info("%s: retrying the llm request in %.2f s", self, delay)
            exchange = None
            await asyncio.sleep(delay)
            attempt += 1

    async def _events(
        self,
        batches: AsyncIterator[list[str]],
        close: Callable[[], Awaitable[None]],
        broken: type[Exception],
    ) -> AsyncGenerator[LLMEvent, None]:
        """The service's events from a streamed response's lines, a batch at a time; ``close``
        releases the response, ``broken`` is how its transport says the body broke off.

        The text of the chunks in one batch (those read together) is one event: a burst of
        tokens (a fast server, or a loop busy with other calls) becomes one ``LLMTextFrame``
        instead of one per token, with the same text."""
        builders: list[_CallBuilder] = []
        by_index: dict[int, _CallBuilder] = {}
        finish_reason: str | None = None
        done = False
        # Closed here, not left to the event loop's finalizer: an unfinished generator would
        # keep the response (and this service) alive until the garbage collector got to it.
        chunk_batches = _sse_chunks(batches)
        try:
            async for chunks in chunk_batches:
                text: list[str] = []
                after: list[LLMEvent] = []  # usage and the end: after the batch's text
                for chunk in chunks:
                    if done:
                        continue
                    if chunk is None:  # [DONE]
                        done = True
                        # The response is whole: its end goes out now, and the rest of the
                        # body (the chunked terminator, a separate write of the server) is
                        # read after, so the connection goes back to the pool.
                        after += _final_events(builders, finish_reason)
                        continue
                    usage = chunk.get("usage")
                    if isinstance(usage, dict):
                        after.append(_usage(usage))
                    choices = chunk.get("choices")
                    for choice in choices if isinstance(choices, list) else ():
                        if not isinstance(choice, dict):
                            continue
                        delta = choice.get("delta")
                        if not isinstance(delta, dict):
                            delta = {}
                        content = delta.get("content")
                        if content and isinstance(content, str):
                            text.append(content)
                        reason = choice.get("finish_reason")
                        if reason and isinstance(reason, str):
                            finish_reason = reason
                        fragments = delta.get("tool_calls")
                        for fragment in fragments if isinstance(fragments, list) else ():
                            if isinstance(fragment, dict):
                                _add_fragment(fragment, builders, by_index)
                if text:
                    yield LLMTextChunk("".join(text))
                for event in after:
                    yield event
        except broken as exc:  # the connection dropped or the body was cut short
            raise ServiceConnectionError(f"the llm stream broke off: {exc}") from exc
        finally:
            await chunk_batches.aclose()
            await close()
        if done:
            return
        if finish_reason is None:
            raise ServiceConnectionError("the llm stream broke off before its end")
        for event in _final_events(builders, finish_reason):  # a server that sends no [DONE]
            yield event


def _final_events(builders: list[_CallBuilder], finish_reason: str | None) -> list[LLMEvent]:
    """A response's last events: its complete tool calls, then why it finished."""
    events: list[LLMEvent] = []
    calls = tuple(
        FunctionCallFromLLM(
            function_name=b.name,
            tool_call_id=b.id or f"call_{uuid.uuid4().hex[:24]}",
            arguments=b.arguments,
        )
        for b in builders
    )
    if calls:
        events.append(LLMToolCalls(calls))
    if finish_reason is not None:
        events.append(LLMFinish(finish_reason))
    return events


@functools.cache
def _http_module() -> ModuleType:
    """The HTTP library the SDK's client is built on (``httpx``, or ``httpx2`` in newer SDKs)."""
    import openai

    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    return importlib.import_module(base.__module__.split(".")[0])


async def _one_by_one(lines: AsyncIterator[str]) -> AsyncGenerator[list[str], None]:
    """Lines from a reader that cannot say what arrived together: a batch each."""
    async for line in lines:
        yield [line]


async def _sse_chunks(
    batches: AsyncIterator[list[str]],
) -> AsyncGenerator[list[dict[str, JSONValue] | None], None]:
    """The JSON objects of a server-sent event stream (``None`` for ``[DONE]``), a list per
    batch of lines that completed any (never an empty list). Comments and event names are
    skipped; an event carrying ``error`` raises, as the SDK's stream does, after the chunks
    before it in its batch have gone out."""
    data: list[str] = []
    async for lines in batches:
        chunks: list[dict[str, JSONValue] | None] = []
        for line in lines:
            if line:
                if line.startswith("data:"):
                    value = line[5:]
                    data.append(value[1:] if value.startswith(" ") else value)
                continue  # a comment (": keepalive"), an event name or an unknown field
            if not data:
                continue
            text = "\n".join(data)
            data.clear()
            if text.startswith("[DONE]"):
                chunks.append(None)
                continue
            failure: ServiceError | None = None
            try:
                chunk = json.loads(text)
            except ValueError as exc:
                failure = ServiceError(f"the llm server sent an unreadable chunk: {exc}")
                failure.__cause__ = exc
                chunk = None
            error = chunk.get("error") if isinstance(chunk, dict) else None
            if error:
                message = error.get("message") if isinstance(error, dict) else None
                if not isinstance(message, str) or not message:
                    message = "an error occurred during streaming"
                failure = ServiceConnectionError(f"the llm stream broke off: {message}")
            if failure is not None:
                if chunks:  # what came before the failure in this batch still goes out
                    yield chunks
                raise failure
            if isinstance(chunk, dict):
                chunks.append(chunk)
        if chunks:
            yield chunks
    if data:  # the last event lacked its blank line
        raise ServiceConnectionError("the llm stream broke off inside an event")


def _usage(usage: dict[str, JSONValue]) -> LLMUsage:
    def count(value: JSONValue) -> int:
        return value if isinstance(value, int) else 0

    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return LLMUsage(
        count(usage.get("prompt_tokens")),
        count(usage.get("completion_tokens")),
        count(usage.get("total_tokens")),
        cached if isinstance(cached, int) else None,
    )


def _add_fragment(
    fragment: dict[str, JSONValue], builders: list[_CallBuilder], by_index: dict[int, _CallBuilder]
) -> None:
    """Join one streamed tool-call fragment into its call (see the module docstring)."""
    index = fragment.get("index")
    key = index if isinstance(index, int) else 0
    raw_id = fragment.get("id")
    call_id = raw_id if isinstance(raw_id, str) else ""
    current = by_index.get(key)
    if current is None or (call_id and current.id and call_id != current.id):
        current = _CallBuilder(call_id)
        by_index[key] = current
        builders.append(current)
    elif call_id and not current.id:
        current.id = call_id
    function = fragment.get("function")
    if isinstance(function, dict):
        name = function.get("name")
        if name and isinstance(name, str) and not current.name:
            current.name = name
        arguments = function.get("arguments")
        if arguments and isinstance(arguments, str):
            current.arguments += arguments


_SSL_CONTEXT: ssl.SSLContext | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every session's client. Building one loads the CA bundle (~45 ms of
    blocking CPU), which the SDK otherwise does for every client, i.e. for every call; a context
    is safe to share between connections (the environment's SSL_CERT_FILE/DIR still apply)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        import httpx

        _SSL_CONTEXT = httpx.create_ssl_context()
    return _SSL_CONTEXT


def _env_key() -> str:
    # The SDK refuses to build a client without a key; local servers do not need one.
    return os.environ.get("OPENAI_API_KEY", "") or "no-key"


def _status_error(exc: openai.APIStatusError) -> ServiceError:
    body = exc.body if isinstance(exc.body, dict) else {}
    return _error_for(exc.status_code, exc.code or "", body, exc.message)


def _status_error_from(status: int, raw: bytes) -> ServiceError:
    """The error for a status and body read on vani's own connection (the SDK's reading: the
    body's ``error`` object when it has one)."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    body = parsed if isinstance(parsed, dict) else {}
    inner = body.get("error")
    if isinstance(inner, dict):
        body = inner
    code = body.get("code")
    fallback = text[:300] if text and parsed is None else f"HTTP {status}"
    return _error_for(status, code if isinstance(code, str) else "", body, fallback)


def _error_for(status: int, code: str, body: Mapping[str, object], fallback: str) -> ServiceError:
    detail = body.get("message")
    message = detail if isinstance(detail, str) and detail else fallback
    if status == 401:
        return AuthenticationError(f"the llm server refused the api key (401): {message}")
    if status == 403:
        return AuthenticationError(f"the llm server denied this api key access (403): {message}")
    if status == 429:
        if code == "insufficient_quota" or body.get("type") == "insufficient_quota":
            return RateLimitError(
                f"the account is out of quota (429 insufficient_quota): {message}",
                retryable=False,
            )
        return RateLimitError(f"rate limited, still after retries (429): {message}")
    retryable = status in (408, 409) or status >= 500
    return ServiceError(f"the llm request failed ({status}): {message}", retryable=retryable)


def _should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """The SDK's rule: the server's ``x-should-retry`` wins; else 408, 409, 429 and 5xx."""
    told = headers.get("x-should-retry", "").strip().lower()
    if told in ("true", "false"):
        return told == "true"
    return status in (408, 409, 429) or status >= 500


def _retry_delay(headers: Mapping[str, str], attempt: int) -> float:
    """Seconds before retry ``attempt + 1``: the server's ``retry-after-ms`` or ``retry-after``
    (seconds or an HTTP date) when within 60 s, else 0.5 s doubling to at most 8 s, less up to
    a quarter of it at random so that many calls do not come back at once."""
    wait: float | None = None
    with contextlib.suppress(ValueError):
        if "retry-after-ms" in headers:
            wait = float(headers["retry-after-ms"]) / 1000
        elif "retry-after" in headers:
            value = headers["retry-after"].strip()
            try:
                wait = float(value)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                wait = when.timestamp() - time.time()
    if wait is not None and 0 < wait <= 60:
        return wait
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * random.random())


@dataclass(frozen=True, slots=True)
class _Early:
    """A request sent before its response's start frame was pushed (``_send_early``)."""

    context: LLMContext
    tool_choice: JSONValue
    body: bytes
    exchange: Exchange


@dataclass(frozen=True, slots=True)
class _Target:
    origin: Origin
    path: str  # the request target of Chat Completions on that origin


def _direct_target(base_url: str | None) -> _Target | None:
    """Where the requests go on vani's own connection, or None when a proxy is set for the
    host (the SDK's client, built on httpx, speaks proxies; vani's connection does not)."""
    import urllib.request

    url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"expected an http(s) base_url with a host, got {url!r}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigurationError(f"base_url {url!r} has a bad port") from exc
    proxies = urllib.request.getproxies_environment()
    if (scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(parts.hostname):
        return None
    path = parts.path.rstrip("/") + "/chat/completions"
    if parts.query:
        path += f"?{parts.query}"
    return _Target(Origin(scheme, parts.hostname, port), quote(path, safe="/?&=%:@!$'()*+,;~-._"))


def _request_head(api_key: str, extra: Mapping[str, str] | None) -> bytes:
    """The header lines of every request (after Host), checked once: a header that would split
    the request (a CR or LF in it) is a configuration error, not a request smuggled through."""
    headers = {
        "User-Agent": f"vani/{__version__}",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {api_key}",
    }
    # As the SDK does: the organization and project from the environment, when set.
    for variable, name in (
        ("OPENAI_ORG_ID", "OpenAI-Organization"),
        ("OPENAI_PROJECT_ID", "OpenAI-Project"),
    ):
        if os.environ.get(variable):
            headers[name] = os.environ[variable]
    for name, value in (extra or {}).items():
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        headers[name] = value
    lines = []
    for name, value in headers.items():
        if not name or any(c in name for c in "\r\n:") or "\r" in value or "\n" in value:
            raise ConfigurationError(f"header {name!r} cannot be sent: CR, LF or ':' in it")
        if name.lower() in ("host", "content-length", "transfer-encoding", "connection"):
            raise ConfigurationError(f"header {name!r} is set by the HTTP connection itself")
        lines.append(f"{name}: {value}\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(f"headers must be Latin-1 text: {exc}") from exc
