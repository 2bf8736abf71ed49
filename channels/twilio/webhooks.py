"""Reading Twilio webhooks: the `X-Twilio-Signature` check, the public URL Twilio signed, and form fields.

Twilio signs every webhook with HMAC over the full URL it called (scheme, host, path and query) followed by
the sorted form parameters, keyed with the account's auth token. Behind a reverse proxy or a tunnel the URL
our server sees (`http://127.0.0.1:8000/...`) is not the one Twilio called (`https://support.example.com/...`),
so the public base URL is configured and the path and query of the request are appended to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator, get_signature_algorithm

from channels.base import ChannelError, SignatureError

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

Params = Mapping[str, str] | Mapping[str, Sequence[str]]


class MalformedWebhookError(ChannelError, ValueError):
    """A Twilio request that lacks a field its kind always carries, or holds an unreadable value (400)."""


class _MultiParams:
    """Form parameters as `RequestValidator` reads them: keys by iteration, every value of a key by `getall`."""

    def __init__(self, params: Params) -> None:
        self._params = params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def getall(self, name: str) -> list[str]:
        value = self._params[name]
        return [value] if isinstance(value, str) else list(value)


def validate_signature(
    auth_token: str, url: str, params: Params | str, signature: str | None, *, algorithm: str | None = None
) -> None:
    """Check a webhook's `X-Twilio-Signature`; raise `SignatureError` when it is missing or does not match.

    `url` is the full public URL Twilio called, query included. `params` are the form parameters, or, for a
    JSON-body webhook, the raw body text (its URL then carries `bodySHA256`, which must match the body).
    `algorithm` comes from the `X-Twilio-Webhooks-Signature-Settings` header (HMAC-SHA1 when absent).
    """
    if not auth_token:
        msg = "an auth token is needed to check Twilio signatures, got an empty one"
        raise ValueError(msg)
    if not signature:
        msg = f"the request to {url} has no {SIGNATURE_HEADER} header: it did not come from Twilio"
        raise SignatureError(msg)
    validator = RequestValidator(auth_token)
    if isinstance(params, str):
        if "bodySHA256" not in parse_qs(urlsplit(url).query):
            msg = f"the JSON request to {url} has no bodySHA256 query parameter, so its body cannot be verified"
            raise SignatureError(msg)
        valid = validator.validate(url, params, signature, algorithm)
    else:
        valid = validator.validate(url, _MultiParams(params), signature, algorithm)
    if not valid:
        msg = (
            f"the {SIGNATURE_HEADER} of the request to {url} does not match: forged, signed with another auth "
            "token, or Twilio called another URL (behind a proxy, configure the public base URL)"
        )
        raise SignatureError(msg)


def public_url(request_url: str, public_base_url: str | None) -> str:
    """The URL Twilio called: `public_base_url` (scheme, host and any path prefix the proxy strips) followed by
    the request's path and query; the request URL itself when no public base URL is configured."""
    if not public_base_url:
        return request_url
    base = urlsplit(public_base_url)
    request = urlsplit(request_url)
    path = base.path.rstrip("/") + (request.path or "/")
    return urlunsplit((base.scheme, base.netloc, path, request.query, ""))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by case-insensitive name (plain dicts and framework header objects alike)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class WebhookValidator:
    """Checks Twilio webhooks for one account: its auth token and, behind a proxy, the public base URL."""

    auth_token: str
    public_base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.auth_token.strip():
            msg = "WebhookValidator needs the Twilio auth token, got an empty string"
            raise ValueError(msg)
        if self.public_base_url is not None:
            parts = urlsplit(self.public_base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                msg = (
                    "the public base URL must look like https://host[:port][/prefix] without query or fragment, "
                    f"got {self.public_base_url!r}"
                )
                raise ValueError(msg)

    def url_for(self, request_url: str) -> str:
        """The public URL Twilio called for a request our server received at `request_url`."""
        return public_url(request_url, self.public_base_url)

    def validate(self, request_url: str, params: Params | str, headers: Mapping[str, str]) -> str:
        """Check one request (its URL as received, its form or raw JSON body, its headers) and return the
        public URL it was signed for; raise `SignatureError` when the signature is missing or wrong."""
        url = self.url_for(request_url)
        algorithm = get_signature_algorithm(header(headers, SIGNATURE_SETTINGS_HEADER))
        validate_signature(self.auth_token, url, params, header(headers, SIGNATURE_HEADER), algorithm=algorithm)
        return url


def required(form: Mapping[str, str], name: str, kind: str) -> str:
    """A field every `kind` request carries; `MalformedWebhookError` when it is missing or blank."""
    value = (form.get(name) or "").strip()
    if not value:
        present = ", ".join(sorted(form)) or "none"
        msg = f"a Twilio {kind} request must carry {name!r}; fields present: {present}"
        raise MalformedWebhookError(msg)
    return value


def optional(form: Mapping[str, str], name: str) -> str | None:
    """A field that may be absent; blank counts as absent."""
    value = (form.get(name) or "").strip()
    return value or None
