"""A fake Twilio REST server on 127.0.0.1 for tests: the real `twilio` client talks to it over HTTP.

It speaks the part of Twilio's 2010-04-01 API that the Messages resource uses:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form ``To``, ``From``, ``Body``, ``ContentSid``,
  ``ContentVariables``, ``StatusCallback``, ``MediaUrl``) answers 201 with Twilio's message JSON
  (``sid`` ``SM`` + 32 hex digits, ``status`` ``queued``, RFC 2822 dates);
- ``GET .../Messages.json`` lists messages newest first with Twilio's paging keys (``page``, ``page_size``,
  ``next_page_uri``...) and the filters ``To``, ``From``, ``DateSent``, ``DateSent<``, ``DateSent>``;
- ``GET .../Messages/{Sid}.json`` fetches one;
- HTTP Basic auth (account SID and auth token) is checked; errors are Twilio's JSON
  ``{"code", "message", "more_info", "status"}`` with the same HTTP status.

WhatsApp's 24-hour customer-care window is modelled: a free-form WhatsApp message to a customer who has not
written within ``whatsapp_window`` is refused with error 63016 (``customer_wrote`` records when they did;
``incoming_message`` does it for you). Tests can also script errors (``fail_next``), take the service down
(``go_down("503")`` answers 503, ``go_down("refuse")`` closes the port) and bring it back, read the recorded
requests, change a message's status and have the signed status callbacks posted (``set_status`` then
``flush_callbacks``), slow every answer down (``delay``, before the request is handled; ``answer_delay``,
after it is handled, as when a provider took a message but its answer never arrived), and sign and post
webhooks to our service exactly as Twilio does (``post_webhook``).

Usage::

    with FakeTwilio() as fake:
        client = create_client(fake.account_sid, fake.auth_token, api_base_url=fake.base_url)
        fake.customer_wrote("whatsapp:+15550001111")
        ...
        assert fake.messages[-1].body == "Hello"
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from twilio.request_validator import RequestValidator

API = "/2010-04-01"
WINDOW_CLOSED = 63016
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    20503: "Service Unavailable",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination.",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21655: "The ContentSid is Invalid.",
    21910: "Invalid 'From' and 'To' pair. 'From' and 'To' should be of the same channel.",
    WINDOW_CLOSED: (
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template."
    ),
}


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


def rfc2822(moment: dt.datetime) -> str:
    """A date as Twilio writes it in JSON (``Thu, 24 Aug 2023 05:01:45 +0000``)."""
    return format_datetime(moment.astimezone(dt.UTC))


def twilio_error(status: int, code: int, message: str | None = None) -> dict[str, Any]:
    """Twilio's error body."""
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class WebResponse(Protocol):
    """What the fake reads of a response from our service (httpx's and the test client's alike)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


class WebClient(Protocol):
    """Something that POSTs forms: an ``httpx.Client``, or Starlette's ``TestClient`` to reach an app in-process."""

    def post(self, url: str, *, data: Mapping[str, str], headers: Mapping[str, str]) -> WebResponse: ...


@dataclass(frozen=True)
class FakeError:
    """A scripted failure: the HTTP status and Twilio error code to answer."""

    status: int
    code: int
    message: str | None = None


@dataclass
class FakeMessage:
    """A message the fake holds (sent through the API, or received from a customer)."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status: str = "queued"
    direction: str = "outbound-api"
    date_created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    date_sent: dt.datetime | None = None
    error_code: int | None = None
    media_urls: tuple[str, ...] = ()
    content_sid: str | None = None
    content_variables: str | None = None
    status_callback: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The message resource as Twilio's API returns it."""
        uri = f"{API}/Accounts/{self.account_sid}/Messages/{self.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent) if self.date_sent else None,
            "date_updated": rfc2822(self.date_created),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": ERROR_MESSAGES.get(self.error_code) if self.error_code else None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": str(len(self.media_urls)),
            "num_segments": str(max(1, -(-len(self.body) // 153))),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": self.to,
            "uri": uri,
        }


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received (form and query values as lists, headers lower-cased)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    form: Mapping[str, list[str]]
    headers: Mapping[str, str]
    authorized: bool

    @property
    def params(self) -> dict[str, str]:
        """The form's last value per field."""
        return {key: values[-1] for key, values in self.form.items()}


@dataclass(frozen=True)
class Callback:
    """A signed status callback the fake posted (or will post)."""

    url: str
    params: Mapping[str, str]
    signature: str


class FakeTwilio:
    """A Twilio-shaped HTTP server in a background thread, bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        callback_client: WebClient | None = None,
    ) -> None:
        """``callback_client`` posts status callbacks and webhooks (a Starlette ``TestClient`` reaches an app
        in-process); a plain ``httpx.Client`` otherwise."""
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or uuid.uuid4().hex
        self.callback_client = callback_client
        self.whatsapp_window = dt.timedelta(hours=24)
        self._lock = threading.Lock()
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        """Bind 127.0.0.1 (the same port again after ``go_down("refuse")``) and serve in a daemon thread."""
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the client's API base URL (``client.api.base_url``)."""
        if not self._port:
            msg = "the fake Twilio server is not started; call start() or use it as a context manager"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self._port}"

    # -- scripting -------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget messages, requests, scripted errors, windows, templates and callbacks; come back up."""
        with self._lock:
            self._messages: list[FakeMessage] = []
            self._requests: list[RecordedRequest] = []
            self._errors: deque[FakeError | None] = deque()
            self._last_inbound: dict[str, dt.datetime] = {}
            self._templates: dict[str, str] = {}
            self._pending: list[Callback] = []
            self.posted: list[tuple[Callback, WebResponse]] = []
            self.numbers: set[str] = set()
            self._down: Literal["503"] | None = None
            self.delay = 0.0
            self.answer_delay = 0.0
        if self._port and self._server is None:
            self.start()

    def go_down(self, how: Literal["503", "refuse"] = "503") -> None:
        """Fail every request: answer 503 Service Unavailable, or close the port (connection refused)."""
        if how == "refuse":
            self.stop()
        else:
            with self._lock:
                self._down = "503"

    def come_back(self) -> None:
        """Serve normally again after ``go_down``."""
        with self._lock:
            self._down = None
        self.start()

    def fail_next(self, status: int, code: int, message: str | None = None, *, times: int = 1, after: int = 0) -> None:
        """Refuse ``times`` message creations with this HTTP status and Twilio error code, once ``after`` more
        creations have succeeded."""
        with self._lock:
            self._errors.extend([None] * after + [FakeError(status, code, message)] * times)

    def customer_wrote(self, address: str, at: dt.datetime | None = None) -> None:
        """Record that ``address`` (``whatsapp:+...``) wrote to us at ``at`` (now): it opens the 24-hour window."""
        with self._lock:
            self._last_inbound[address] = at or dt.datetime.now(dt.UTC)

    def add_template(self, content_sid: str, body: str) -> None:
        """Register an approved template; ``{{1}}``-style placeholders are filled from ``ContentVariables``."""
        with self._lock:
            self._templates[content_sid] = body

    @property
    def messages(self) -> list[FakeMessage]:
        """Every message, oldest first (copies)."""
        with self._lock:
            return [replace(message) for message in self._messages]

    @property
    def sent(self) -> list[FakeMessage]:
        """The messages created through the API, oldest first (copies)."""
        return [message for message in self.messages if message.direction == "outbound-api"]

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    # -- status callbacks and webhooks -----------------------------------------------------------------------------

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        """Move a message to ``status`` (``sent``, ``delivered``, ``failed``...) and queue its status callback."""
        with self._lock:
            message = next((message for message in self._messages if message.sid == sid), None)
            if message is None:
                msg = f"the fake holds no message {sid!r}"
                raise KeyError(msg)
            message.status = status
            message.error_code = error_code
            self._queue_callback(message)

    def _queue_callback(self, message: FakeMessage) -> None:
        if not message.status_callback:
            return
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.from_,
            "To": message.to,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
        }
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        if message.to.startswith("whatsapp:"):
            params["ChannelPrefix"] = "whatsapp"
        url = message.status_callback
        self._pending.append(Callback(url, params, self.sign(url, params)))

    def flush_callbacks(self) -> list[WebResponse]:
        """Post the queued status callbacks, signed, in order; return the responses."""
        with self._lock:
            pending, self._pending = self._pending, []
        responses: list[WebResponse] = []
        for callback in pending:
            response = self._post(callback.url, callback.params, callback.signature)
            self.posted.append((callback, response))
            responses.append(response)
        return responses

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """``X-Twilio-Signature`` for a request to ``url`` with these form parameters."""
        return RequestValidator(self.auth_token).compute_signature(url, dict(params))

    def post_webhook(
        self,
        url: str,
        params: Mapping[str, str],
        *,
        signature: str | None | Literal["sign"] = "sign",
        send_to: str | None = None,
        client: WebClient | None = None,
    ) -> WebResponse:
        """POST a form to our service as Twilio does: ``signature="sign"`` signs it for ``url`` (the public URL
        Twilio calls), None sends no signature, any other string is sent as it is (a forgery). ``send_to`` is
        where the request really arrives when a proxy sits in front of the service (default: ``url``)."""
        value = self.sign(url, params) if signature == "sign" else signature
        return self._post(send_to or url, params, value, client=client)

    def _post(
        self, url: str, params: Mapping[str, str], signature: str | None, *, client: WebClient | None = None
    ) -> WebResponse:
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        http = client or self.callback_client
        if http is not None:
            return http.post(url, data=dict(params), headers=headers)
        with httpx.Client(timeout=10) as fresh:
            return fresh.post(url, data=dict(params), headers=headers)

    def incoming_message(
        self,
        from_: str,
        to: str,
        body: str = "",
        *,
        media: Sequence[tuple[str, str]] = (),
        profile_name: str | None = None,
        at: dt.datetime | None = None,
    ) -> dict[str, str]:
        """The webhook form of a customer's message (``media`` as (url, content type) pairs); the fake keeps
        it as an inbound message and, on WhatsApp, it opens the 24-hour window."""
        sid = new_sid("SM")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": str(len(media)),
            "NumSegments": "1",
            "SmsStatus": "received",
        }
        for index, (url, content_type) in enumerate(media):
            params[f"MediaUrl{index}"] = url
            params[f"MediaContentType{index}"] = content_type
        if from_.startswith("whatsapp:"):
            params["WaId"] = from_.removeprefix("whatsapp:+")
            params["MessageType"] = "image" if media and not body else "text"
            if profile_name:
                params["ProfileName"] = profile_name
        moment = at or dt.datetime.now(dt.UTC)
        inbound = FakeMessage(
            sid=sid,
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status="received",
            direction="inbound",
            date_created=moment,
            date_sent=moment,
            media_urls=tuple(url for url, _ in media),
        )
        with self._lock:
            self._messages.append(inbound)
            self._last_inbound[from_] = moment
        return params

    def call_params(
        self,
        call_sid: str,
        from_: str,
        to: str,
        *,
        speech: str | None = None,
        confidence: float | None = None,
        digits: str | None = None,
        call_status: str = "in-progress",
    ) -> dict[str, str]:
        """The form of a Voice webhook (incoming call, or a ``<Gather>`` result when speech or digits are given)."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call_sid,
            "From": from_,
            "To": to,
            "Caller": from_,
            "Called": to,
            "CallStatus": call_status,
            "Direction": "inbound",
        }
        if speech is not None:
            params["SpeechResult"] = speech
            params["Confidence"] = f"{confidence if confidence is not None else 0.9:.8f}"
        if digits is not None:
            params["Digits"] = digits
        return params

    # -- the API, used by the handler ------------------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._requests.append(request)
            if self._down:
                return 503, twilio_error(503, 20503)
            if not request.authorized:
                return 401, twilio_error(401, 20003)
            match = re.fullmatch(rf"{API}/Accounts/(\w+)/Messages(?:/(\w+))?\.json", request.path)
            if match is None or match.group(1) != self.account_sid:
                return 404, twilio_error(404, 20404, f"The requested resource {request.path} was not found")
            sid = match.group(2)
            if request.method == "POST" and sid is None:
                return self._create(request.params)
            if request.method == "GET" and sid is None:
                return self._list(request)
            if request.method == "GET":
                found = next((message for message in self._messages if message.sid == sid), None)
                if found is None:
                    return 404, twilio_error(404, 20404, f"The requested resource {request.path} was not found")
                return 200, found.to_json()
            return 405, twilio_error(405, 20004, "Method not allowed")

    def _create(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        error = self._errors.popleft() if self._errors else None
        if error is not None:
            return error.status, twilio_error(error.status, error.code, error.message)
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        content_sid, media = form.get("ContentSid"), form.get("MediaUrl")
        if not to:
            return 400, twilio_error(400, 21604)
        if not from_:
            return 400, twilio_error(400, 21603)
        if not (body or content_sid or media):
            return 400, twilio_error(400, 21602)
        if len(body) > 1600:
            return 400, twilio_error(400, 21617)
        if to.startswith("whatsapp:") != from_.startswith("whatsapp:"):
            return 400, twilio_error(400, 21910)
        if not re.fullmatch(r"(whatsapp:)?\+\d{6,15}", to):
            return 400, twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if self.numbers and from_ not in self.numbers:
            return 400, twilio_error(400, 21606)
        now = dt.datetime.now(dt.UTC)
        if content_sid is not None:
            template = self._templates.get(content_sid)
            if template is None:
                return 400, twilio_error(400, 21655)
            variables = json.loads(form.get("ContentVariables") or "{}")
            body = re.sub(r"\{\{(\w+)\}\}", lambda m: str(variables.get(m.group(1), m.group(0))), template)
        elif to.startswith("whatsapp:"):
            last = self._last_inbound.get(to)
            if last is None or now - last > self.whatsapp_window:
                return 400, twilio_error(400, WINDOW_CLOSED)
        message = FakeMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            date_created=now,
            date_sent=now,
            media_urls=(media,) if media else (),
            content_sid=content_sid,
            content_variables=form.get("ContentVariables"),
            status_callback=form.get("StatusCallback"),
        )
        self._messages.append(message)
        return 201, message.to_json()

    def _list(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        query = {key: values[-1] for key, values in request.query.items()}
        found = [message for message in reversed(self._messages) if _matches(message, query)]
        page = int(query.get("Page", "0"))
        size = min(int(query.get("PageSize", "50")), 1000)
        start = page * size
        chunk = found[start : start + size]

        def uri(number: int) -> str:
            return f"{request.path}?{urlencode({**query, 'Page': str(number), 'PageSize': str(size)})}"

        return 200, {
            "messages": [message.to_json() for message in chunk],
            "page": page,
            "page_size": size,
            "start": start,
            "end": start + max(len(chunk) - 1, 0),
            "uri": uri(page),
            "first_page_uri": uri(0),
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "next_page_uri": uri(page + 1) if start + size < len(found) else None,
        }


def _parse_when(value: str) -> tuple[dt.datetime, bool]:
    """A filter date: (moment, date-only?)."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC), True
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC), False


def _matches(message: FakeMessage, query: Mapping[str, str]) -> bool:
    if "To" in query and message.to != query["To"]:
        return False
    if "From" in query and message.from_ != query["From"]:
        return False
    sent = message.date_sent
    for key, check in (("DateSent", "=="), ("DateSent<", "<="), ("DateSent>", ">=")):
        if key not in query:
            continue
        if sent is None:
            return False
        when, date_only = _parse_when(query[key])
        left, right = (sent.date(), when.date()) if date_only else (sent.replace(microsecond=0), when)
        if (check == "==" and left != right) or (check == "<=" and left > right) or (check == ">=" and left < right):
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTwilio
    protocol_version = "HTTP/1.0"  # one request per connection, so going down cuts pooled connections too

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded requests instead."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        request = RecordedRequest(
            method=method,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            form=parse_qs(raw, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            authorized=self._authorized(),
        )
        if self.fake.delay:
            time.sleep(self.fake.delay)
        status, payload = self.fake._handle(request)
        if self.fake.answer_delay:  # the work is done, the answer is late: a client may die waiting for it
            time.sleep(self.fake.answer_delay)
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except ValueError:
            return False
        return user == self.fake.account_sid and password == self.fake.auth_token
