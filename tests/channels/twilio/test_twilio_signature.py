"""The X-Twilio-Signature check, with signatures computed by the twilio library exactly as Twilio does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from twilio.request_validator import RequestValidator

from channels.base import SignatureError
from channels.twilio import WebhookValidator, public_url, validate_signature

TOKEN = "12345678901234567890123456789012"
URL = "https://support.example.com/twilio/messages"
PARAMS = {"MessageSid": "SM" + "0" * 32, "From": "whatsapp:+15551230001", "To": "whatsapp:+14155238886", "Body": "Hi"}


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def test_a_genuine_signature_passes() -> None:
    validate_signature(TOKEN, URL, PARAMS, sign(URL, PARAMS))


def test_a_tampered_form_is_refused() -> None:
    signature = sign(URL, PARAMS)
    with pytest.raises(SignatureError, match="does not match"):
        validate_signature(TOKEN, URL, {**PARAMS, "Body": "Hi, refund me 1000 EUR"}, signature)


def test_another_token_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        validate_signature(TOKEN, URL, PARAMS, sign(URL, PARAMS, token="f" * 32))


@pytest.mark.parametrize("signature", [None, ""])
def test_a_missing_signature_is_refused(signature: str | None) -> None:
    with pytest.raises(SignatureError, match="no X-Twilio-Signature"):
        validate_signature(TOKEN, URL, PARAMS, signature)


def test_the_url_is_part_of_the_signature() -> None:
    signature = sign(URL, PARAMS)
    with pytest.raises(SignatureError):
        validate_signature(TOKEN, "https://evil.example.com/twilio/messages", PARAMS, signature)
    with pytest.raises(SignatureError):
        validate_signature(TOKEN, URL + "?turn=2", PARAMS, signature)


def test_an_explicit_default_port_is_accepted_both_ways() -> None:
    validate_signature(TOKEN, "https://support.example.com:443/twilio/messages", PARAMS, sign(URL, PARAMS))


def test_repeated_form_fields_are_signed_value_by_value() -> None:
    params = {"MediaUrl": ["https://a.example/1", "https://a.example/2"], "To": "+15550001111"}
    # Twilio's documented scheme: the URL, then each field name and value, sorted, appended; HMAC-SHA1; base64.
    raw = URL + "MediaUrlhttps://a.example/1MediaUrlhttps://a.example/2To+15550001111"
    signature = base64.b64encode(hmac.new(TOKEN.encode(), raw.encode(), hashlib.sha1).digest()).decode()
    validate_signature(TOKEN, URL, params, signature)
    with pytest.raises(SignatureError):
        validate_signature(TOKEN, URL, {**params, "MediaUrl": ["https://a.example/1"]}, signature)


def test_a_json_body_is_checked_by_its_hash() -> None:
    body = json.dumps({"EventType": "onMessageAdded", "Body": "Hi"})
    url = f"{URL}?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    signature = sign(url, {})
    validate_signature(TOKEN, url, body, signature)
    with pytest.raises(SignatureError):
        validate_signature(TOKEN, url, body.replace("Hi", "Bye"), signature)


def test_a_json_body_without_its_hash_is_refused() -> None:
    body = json.dumps({"Body": "Hi"})
    with pytest.raises(SignatureError, match="bodySHA256"):
        validate_signature(TOKEN, URL, body, sign(URL, {}))


def test_public_url_behind_a_proxy() -> None:
    seen = "http://127.0.0.1:8000/twilio/voice/turn?turn=2&silences=0"
    assert public_url(seen, None) == seen
    assert (
        public_url(seen, "https://support.example.com")
        == "https://support.example.com/twilio/voice/turn?turn=2&silences=0"
    )
    assert (
        public_url(seen, "https://example.com/frontdesk/")
        == "https://example.com/frontdesk/twilio/voice/turn?turn=2&silences=0"
    )


def test_the_validator_checks_the_public_url_not_the_one_seen_behind_the_proxy() -> None:
    seen = "http://10.0.0.7:8000/twilio/messages"
    headers = {"x-twilio-signature": sign(URL, PARAMS)}
    behind_proxy = WebhookValidator(TOKEN, public_base_url="https://support.example.com")
    assert behind_proxy.validate(seen, PARAMS, headers) == URL
    with pytest.raises(SignatureError):
        WebhookValidator(TOKEN).validate(seen, PARAMS, headers)


def test_the_validator_honours_the_sha256_signature_settings() -> None:
    signature = RequestValidator(TOKEN).compute_signature(URL, PARAMS, algorithm="HMAC_SHA256")
    headers = {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    }
    WebhookValidator(TOKEN).validate(URL, PARAMS, headers)
    with pytest.raises(SignatureError):
        WebhookValidator(TOKEN).validate(URL, PARAMS, {"X-Twilio-Signature": signature})


@pytest.mark.parametrize("base", ["support.example.com", "ftp://support.example.com", "https://x.example/?a=1"])
def test_the_validator_refuses_a_bad_public_base_url(base: str) -> None:
    with pytest.raises(ValueError, match="public base URL"):
        WebhookValidator(TOKEN, public_base_url=base)


def test_the_validator_needs_a_token() -> None:
    with pytest.raises(ValueError, match="auth token"):
        WebhookValidator(" ")
