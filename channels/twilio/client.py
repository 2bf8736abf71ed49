"""The Twilio REST client, built once by the composition root, and its failures as `DeliveryError`s."""

from __future__ import annotations

import json

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from channels.base import DeliveryError

# Twilio error codes that may pass on a later try: rate limits, internal errors, a full sending queue.
_RETRYABLE_CODES = frozenset({"20429", "20500", "20503", "21611", "14107"})


def create_client(
    account_sid: str, auth_token: str, *, api_base_url: str | None = None, timeout: float = 10.0
) -> Client:
    """A Twilio REST client with a request timeout; `api_base_url` points the Messages API elsewhere (the fake
    server in tests, `http://127.0.0.1:PORT`)."""
    if not account_sid.startswith("AC") or not auth_token:
        msg = f"a Twilio client needs an account SID starting with 'AC' and an auth token, got {account_sid!r}"
        raise ValueError(msg)
    client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
    if api_base_url:
        client.api.base_url = api_base_url.rstrip("/")
    return client


def _error_details(exc: Exception) -> tuple[int, str, str]:
    """(HTTP status, Twilio error code, message) of a twilio exception; 0 and "" when it does not say."""
    status = int(getattr(exc, "status", 0) or 0)
    code = str(getattr(exc, "code", "") or "")
    detail = str(getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", None) or "")
    response = next((arg for arg in exc.args if hasattr(arg, "status_code")), None)
    if not status and response is not None:  # a list page that failed: TwilioException("...", response)
        status = int(response.status_code)
        detail = str(exc.args[0])
        try:
            body = json.loads(response.text)
        except (TypeError, ValueError):
            body = {}
        if isinstance(body, dict):
            code = str(body.get("code") or "")
            detail = f"{detail}: {body.get('message', '')}"
    return status, code or str(status or ""), detail or str(exc)


def delivery_error(exc: Exception, what: str) -> DeliveryError:
    """A Twilio failure as a `DeliveryError`: rate limits, 5xx and network errors may pass later, other 4xx not."""
    if isinstance(exc, TwilioException):
        status, code, detail = _error_details(exc)
        retryable = status == 429 or status >= 500 or status == 0 or code in _RETRYABLE_CODES
        reason = f"Twilio refused {what}: HTTP {status}, error {code or 'none'}: {detail}"
        return DeliveryError(reason, retryable=retryable, code=code or None)
    reason = f"Twilio could not be reached for {what}: {type(exc).__name__}: {exc}"
    return DeliveryError(reason, retryable=True, code="network")
