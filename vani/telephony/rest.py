"""Provider REST calls a phone bot needs: hang up a call, and dial out (Twilio, Telnyx, Plivo).

Credentials come from :class:`TelephonyCredentials` (fields, or :meth:`~TelephonyCredentials.
from_env`); every base URL can be pointed elsewhere (a fake in tests: ``vani.testing``'s
``FakeTelephonyAPI``). A hang-up that finds the call already over (Twilio 404/20404, Telnyx
422/90018, Plivo 404) counts as success. Exotel has no hang-up API for a streamed call: closing the
stream ends the bot's part. Errors raise :class:`~vani.errors.ServiceError` (``retryable`` for
timeouts and 5xx). See ``docs/telephony.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vani.errors import AuthenticationError, ConfigurationError, ServiceError
from vani.frames import JSONValue

if TYPE_CHECKING:
    import httpx

__all__ = ["DialResult", "TelephonyCredentials", "dial", "hang_up"]

DEFAULT_BASE_URLS = {
    "twilio": "https://api.twilio.com",
    "telnyx": "https://api.telnyx.com",
    "plivo": "https://api.plivo.com",
}


@dataclass(slots=True)
class TelephonyCredentials:
    """Account credentials and API base URLs for the providers that have a REST API.

    Environment names (:meth:`from_env`): ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``,
    ``TELNYX_API_KEY``, ``TELNYX_CONNECTION_ID`` (for dialling), ``TELNYX_PUBLIC_KEY`` (the
    account's Ed25519 public key, base64: webhook signatures), ``PLIVO_AUTH_ID``,
    ``PLIVO_AUTH_TOKEN``; base URLs ``VANI_TWILIO_API_URL``, ``VANI_TELNYX_API_URL``,
    ``VANI_PLIVO_API_URL``.
    """

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    telnyx_api_key: str = ""
    telnyx_connection_id: str = ""
    telnyx_public_key: str = ""
    plivo_auth_id: str = ""
    plivo_auth_token: str = ""
    twilio_base_url: str = DEFAULT_BASE_URLS["twilio"]
    telnyx_base_url: str = DEFAULT_BASE_URLS["telnyx"]
    plivo_base_url: str = DEFAULT_BASE_URLS["plivo"]
    timeout_secs: float = 5.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> TelephonyCredentials:
        env = dict(os.environ) if environ is None else environ
        return cls(
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            telnyx_api_key=env.get("TELNYX_API_KEY", ""),
            telnyx_connection_id=env.get("TELNYX_CONNECTION_ID", ""),
            telnyx_public_key=env.get("TELNYX_PUBLIC_KEY", ""),
            plivo_auth_id=env.get("PLIVO_AUTH_ID", ""),
            plivo_auth_token=env.get("PLIVO_AUTH_TOKEN", ""),
            twilio_base_url=env.get("VANI_TWILIO_API_URL", DEFAULT_BASE_URLS["twilio"]),
            telnyx_base_url=env.get("VANI_TELNYX_API_URL", DEFAULT_BASE_URLS["telnyx"]),
            plivo_base_url=env.get("VANI_PLIVO_API_URL", DEFAULT_BASE_URLS["plivo"]),
        )

    def has(self, provider: str) -> bool:
        """Whether the credentials needed to hang up a ``provider`` call are set."""
        if provider == "twilio":
            return bool(self.twilio_account_sid and self.twilio_auth_token)
        if provider == "telnyx":
            return bool(self.telnyx_api_key)
        if provider == "plivo":
            return bool(self.plivo_auth_id and self.plivo_auth_token)
        return False


def _need(value: str, name: str, provider: str) -> str:
    if not value:
        raise ConfigurationError(f"{provider} needs {name}; set it on TelephonyCredentials or env")
    return value


def _error_code(response: httpx.Response) -> str:
    """The error code in a JSON error body (Twilio ``code``, Telnyx ``errors[].code``)."""
    try:
        body: JSONValue = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        if "code" in body:
            return str(body["code"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("code", ""))
    return ""


def _raise_for(provider: str, what: str, response: httpx.Response) -> None:
    status = response.status_code
    detail = f"{provider} {what} failed: http {status}: {response.text[:200]}"
    if status in (401, 403):
        raise AuthenticationError(detail)
    raise ServiceError(detail, retryable=status >= 500 or status == 429)


async def _send(
    client: httpx.AsyncClient | None,
    creds: TelephonyCredentials,
    method: str,
    url: str,
    **kwargs: object,
) -> httpx.Response:
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            "the telephony REST calls need httpx: pip install 'vani[telephony]'"
        ) from exc
    try:
        if client is not None:
            return await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        async with httpx.AsyncClient(timeout=creds.timeout_secs) as own:
            return await own.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise ServiceError(f"{method} {url} failed: {exc!r}", retryable=True) from exc


async def hang_up(
    provider: str,
    call_id: str,
    creds: TelephonyCredentials,
    *,
    client: httpx.AsyncClient | None = None,
) -> bool:
    """End ``call_id`` through the provider's REST API.

    Returns True when the call was ended by this request, False when it had already ended.
    Exotel (no API) raises :class:`~vani.errors.ConfigurationError`.
    """
    if not call_id:
        raise ConfigurationError(f"cannot hang up a {provider} call without its call id")
    if provider == "twilio":
        sid = _need(creds.twilio_account_sid, "twilio_account_sid", provider)
        token = _need(creds.twilio_auth_token, "twilio_auth_token", provider)
        url = f"{creds.twilio_base_url}/2010-04-01/Accounts/{sid}/Calls/{call_id}.json"
        r = await _send(client, creds, "POST", url, data={"Status": "completed"}, auth=(sid, token))
        if r.status_code == 404 or _error_code(r) == "20404":
            return False
        if r.status_code >= 400:
            _raise_for(provider, "hang-up", r)
        return True
    if provider == "telnyx":
        key = _need(creds.telnyx_api_key, "telnyx_api_key", provider)
        url = f"{creds.telnyx_base_url}/v2/calls/{call_id}/actions/hangup"
        r = await _send(
            client, creds, "POST", url, json={}, headers={"Authorization": f"Bearer {key}"}
        )
        if r.status_code == 404 or (r.status_code == 422 and _error_code(r) == "90018"):
            return False
        if r.status_code >= 400:
            _raise_for(provider, "hang-up", r)
        return True
    if provider == "plivo":
        auth_id = _need(creds.plivo_auth_id, "plivo_auth_id", provider)
        token = _need(creds.plivo_auth_token, "plivo_auth_token", provider)
        url = f"{creds.plivo_base_url}/v1/Account/{auth_id}/Call/{call_id}/"
        r = await _send(client, creds, "DELETE", url, auth=(auth_id, token))
        if r.status_code == 404:
            return False
        if r.status_code >= 400:
            _raise_for(provider, "hang-up", r)
        return True
    raise ConfigurationError(
        f"{provider!r} has no hang-up api; expected one of twilio, telnyx, plivo"
    )


@dataclass(slots=True)
class DialResult:
    """An outbound call the provider accepted: its id (CallSid, call_control_id, request_uuid)."""

    provider: str
    call_id: str


async def dial(
    provider: str,
    *,
    to: str,
    from_: str,
    answer_url: str,
    creds: TelephonyCredentials,
    client: httpx.AsyncClient | None = None,
) -> DialResult:
    """Ask ``provider`` to call ``to`` from ``from_`` and fetch its instructions from
    ``answer_url`` (vani's ``/telephony/<provider>`` webhook; for Telnyx, the media-stream URL).
    """
    if provider == "twilio":
        sid = _need(creds.twilio_account_sid, "twilio_account_sid", provider)
        token = _need(creds.twilio_auth_token, "twilio_auth_token", provider)
        url = f"{creds.twilio_base_url}/2010-04-01/Accounts/{sid}/Calls.json"
        form = {"To": to, "From": from_, "Url": answer_url, "Method": "POST"}
        r = await _send(client, creds, "POST", url, data=form, auth=(sid, token))
        key = "sid"
    elif provider == "telnyx":
        api_key = _need(creds.telnyx_api_key, "telnyx_api_key", provider)
        conn = _need(creds.telnyx_connection_id, "telnyx_connection_id", provider)
        url = f"{creds.telnyx_base_url}/v2/calls"
        body = {
            "connection_id": conn,
            "to": to,
            "from": from_,
            "stream_url": answer_url,
            "stream_track": "inbound_track",
            "stream_bidirectional_mode": "rtp",
            "stream_bidirectional_codec": "PCMU",
        }
        headers = {"Authorization": f"Bearer {api_key}"}
        r = await _send(client, creds, "POST", url, json=body, headers=headers)
        key = "call_control_id"
    elif provider == "plivo":
        auth_id = _need(creds.plivo_auth_id, "plivo_auth_id", provider)
        token = _need(creds.plivo_auth_token, "plivo_auth_token", provider)
        url = f"{creds.plivo_base_url}/v1/Account/{auth_id}/Call/"
        body = {"from": from_, "to": to, "answer_url": answer_url, "answer_method": "POST"}
        r = await _send(client, creds, "POST", url, json=body, auth=(auth_id, token))
        key = "request_uuid"
    else:
        raise ConfigurationError(
            f"{provider!r} cannot dial through vani; expected one of twilio, telnyx, plivo"
        )
    if r.status_code >= 400:
        _raise_for(provider, "dial", r)
    try:
        data: JSONValue = r.json()
    except ValueError as exc:
        raise ServiceError(f"{provider} dial answered non-json: {r.text[:200]}") from exc
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    call_id = data.get(key) if isinstance(data, dict) else None
    if isinstance(call_id, list) and call_id:
        call_id = call_id[0]
    if not isinstance(call_id, str) or not call_id:
        raise ServiceError(f"{provider} dial answer has no {key}: {r.text[:200]}")
    return DialResult(provider=provider, call_id=call_id)
