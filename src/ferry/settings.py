"""All configuration in one place: ``FERRY_*`` environment variables (or a ``.env`` file).

Nothing connects at import time; call :func:`get_settings` where a value is needed.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ferry.domain.errors import InvalidInput


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FERRY_", env_file=".env", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="where the embedded default keeps files")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means var/ferry.db")
    secret_key: str = Field(
        default="", description="signs links and hashes codes; empty: var/secret.key"
    )
    smtp_url: str = Field(default="", description="smtp://user:pass@host:port; empty: var/outbox/")
    mail_from: str = "Ferry <privacy@ferry.localhost>"
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    code_ttl_minutes: int = 15
    code_max_attempts: int = 5
    download_ttl_hours: int = 168
    delivery_attempts: int = 4
    delivery_backoff_s: float = 2.0
    allow_loopback_callbacks: bool = False  # OpenDSR callbacks to http://127.0.0.1 (tests only)
    subject_token_days: int = 30
    jobs_inline_workers: int = 2
    broker_url: str = Field(
        default="", description="Celery broker (redis://… or amqp://…); empty: jobs in-process"
    )
    broker_queue: str = Field(default="ferry", description="the Celery queue Ferry's jobs use")
    collect_every_s: int = Field(
        default=30,
        ge=0,
        description="seconds between sweeps that collect verified requests; 0: off",
    )
    collect_lease_s: int = Field(
        default=600,
        ge=0,
        description="seconds a collecting run's lease lasts (renewed every third of it while "
        "it runs); a request still collecting past its lease lost its run, and the sweep fails "
        "it; 0: never",
    )
    sms_provider: str = Field(default="outbox", description="outbox (var/sms-outbox/) or twilio")
    sms_url: str = Field(default="https://api.twilio.com", description="Twilio-style API base")
    sms_account: str = ""
    sms_token: str = ""
    sms_from: str = ""

    def sms_config(self) -> dict[str, object]:
        """Settings for the SMS provider named by ``sms_provider``."""
        if self.sms_provider == "twilio":
            return {
                "base_url": self.sms_url,
                "account": self.sms_account,
                "token": self.sms_token,
                "sender": self.sms_from,
            }
        return {"folder": self.var_dir / "sms-outbox"}

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'ferry.db').as_posix()}"

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def packages_dir(self) -> Path:
        return self.var_dir / "packages"

    def secret(self) -> str:
        """The signing secret: configured, or generated once and kept in var/secret.key."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


class SettingsError(InvalidInput):
    """A ``FERRY_*`` variable (or ``.env`` line) Ferry cannot use; the message names it."""

    code = "invalid_setting"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError("; ".join(_problem(e) for e in exc.errors())) from None


def _problem(error: Any) -> str:
    name = str(error["loc"][0]) if error.get("loc") else "?"
    field = Settings.model_fields.get(name)
    about = f" ({field.description})" if field and field.description else ""
    value = str(error.get("input"))[:60]
    return f"FERRY_{name.upper()}={value!r} is not valid: {error['msg'].lower()}{about}"


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
