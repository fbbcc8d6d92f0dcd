"""Settings read from REMINDERS_* environment variables and an optional .env file.

Both the .env file and var/ live at fixed places (the project directory by default), never
relative to the shell's current directory: `reminders` run from anywhere finds the same
database.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import time
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from reminders.delivery.rendering import TEMPLATE_DIR
from reminders.errors import SetupError

# The checkout holding the `reminders` package (its pyproject.toml beside it); an install
# without a checkout keeps its data in the user's data directory instead.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
# Which .env file to read: a path, or empty for none (the test suite sets it empty).
ENV_FILE_VARIABLE = "REMINDERS_ENV_FILE"


def project_dir() -> Path:
    """Where `make up` keeps var/ and reads .env: the checkout, or ~/.local/share/reminders."""
    if (PACKAGE_PARENT / "pyproject.toml").is_file():
        return PACKAGE_PARENT
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "reminders"


def env_file() -> Path | None:
    """The .env file settings read: $REMINDERS_ENV_FILE ('' for none), else the project's."""
    chosen = os.environ.get(ENV_FILE_VARIABLE)
    if chosen is None:
        return project_dir() / ".env"
    return Path(chosen) if chosen.strip() else None


class SettingsError(SetupError):
    """A setting has a bad value; the message names the environment variable."""


class Settings(BaseSettings):
    """Every knob of the service; entry points read it once and pass values down."""

    # No env_file here: load_settings passes env_file(), so Settings() alone reads no file.
    model_config = SettingsConfigDict(env_prefix="REMINDERS_", extra="ignore")

    var_dir: Path = Field(default_factory=lambda: project_dir() / "var")
    database_url: str = ""
    redis_url: str = ""
    redis_key_prefix: str = "reminders:"

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_api_key_sid: str = ""
    twilio_api_key_secret: str = ""
    twilio_from: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_api_base: str = ""
    twilio_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    smtp_url: str = ""
    smtp_from: str = "Aftercare <aftercare@localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    console_file: str = ""
    public_url: str = "http://localhost:8000"
    secret_key: str = ""
    # Fernet keys, comma-separated: the first encrypts clinic secrets at rest, all decrypt
    # (rotation: put a new key first, run `reminders secrets rotate-key`, then drop the old).
    # Unset on SQLite: one key made once under var/.
    encryption_keys: str = ""
    # Console mode prints message texts and clinic alerts only when asked (`reminders up` on
    # the embedded defaults asks); otherwise a line without personal data.
    console_show_bodies: bool = False
    # Every message, answer and page text; a copy of the packaged ones, checked by
    # `reminders templates lint --templates DIR`, replaces them.
    templates_dir: Path = TEMPLATE_DIR

    dispatch_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    dispatch_batch_size: int = Field(default=100, ge=1, le=5000)
    lease_seconds: int = Field(default=120, ge=5, le=3600)
    max_attempts: int = Field(default=6, ge=1, le=50)
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_cap_seconds: float = Field(default=3600.0, gt=0)
    sends_per_second: float = Field(default=50.0, gt=0)
    send_concurrency: int = Field(default=8, ge=1, le=64)
    reconcile_grace_seconds: float = Field(default=60.0, ge=0)
    sweep_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    reconcile_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Patients per transaction when a clinic's settings change re-plans its open rows.
    replan_batch_size: int = Field(default=200, ge=1, le=5000)
    # Beat folds finished rows into the message tally (ops/tally.py) and runs retention
    # (ops/retention.py) for at most retention_budget_seconds per tick.
    tally_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    retention_interval_seconds: float = Field(default=3600.0, gt=0, le=86400)
    retention_budget_seconds: float = Field(default=40.0, gt=0, le=3600)

    # Signed events to clinics' own systems (reminders/events): posted by beat, retried with
    # the same backoff as messages, dead after events_max_attempts.
    events_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    events_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    events_max_attempts: int = Field(default=8, ge=1, le=50)
    events_batch_size: int = Field(default=100, ge=1, le=1000)
    events_per_clinic: int = Field(default=10, ge=1, le=1000)
    # Plain http to localhost/127.0.0.1 only: for a receiver on the same machine (tests, dev).
    events_allow_local_http: bool = False

    default_window_start: time = time(8, 0)
    default_window_end: time = time(20, 0)
    operator_token: str = ""
    # The bearer token is read-only (pages, /metrics) unless this lets it retry/cancel/resolve.
    operator_token_can_act: bool = False
    # Signs dashboard session cookies; unset, a key derived from REMINDERS_SECRET_KEY (or the
    # random one under var/). Several API hosts need the same value.
    session_secret: str = ""
    session_max_seconds: int = Field(default=12 * 3600, ge=60, le=30 * 86400)
    session_idle_seconds: int = Field(default=30 * 60, ge=60, le=30 * 86400)
    # Failed logins allowed per account and per client address in each window.
    login_attempts: int = Field(default=5, ge=1, le=1000)
    login_window_seconds: int = Field(default=15 * 60, ge=1, le=86400)
    # Single sign-on: trust this header (e.g. X-Forwarded-User) naming an existing account,
    # only on requests whose peer address is one of sso_proxies (comma-separated IPs/networks).
    sso_user_header: str = ""
    sso_proxies: str = ""
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_event_threads: int = Field(default=2, ge=1, le=64)
    # Request bodies above these are refused with 413 as they stream in: clinic events, and
    # every other body (Twilio's forms, the login and dashboard forms).
    api_max_event_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    api_max_form_bytes: int = Field(default=32 * 1024, ge=1024, le=16 * 1024 * 1024)
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)

    @field_validator("database_url", "redis_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value:
            try:
                make_url(value)
            except ArgumentError:
                raise ValueError(
                    "not a database URL (postgresql+psycopg://user@host/db or sqlite:///file)"
                ) from None
        return value

    @field_validator("sso_proxies")
    @classmethod
    def _sso_proxies(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"{part.strip()!r} is not an IP address or network (10.0.0.5, 10.0.0.0/24)"
                    ) from None
        return value

    @model_validator(mode="after")
    def _sso_needs_proxies(self) -> Settings:
        # A trusted identity header from anyone would let every client name any account.
        if self.sso_user_header and not self.sso_proxies.strip():
            raise ValueError(
                "REMINDERS_SSO_USER_HEADER is set: also set REMINDERS_SSO_PROXIES to the "
                "addresses of the proxy allowed to send it"
            )
        return self

    @field_validator("templates_dir")
    @classmethod
    def _templates_dir(cls, value: Path) -> Path:
        if not (value / "sms").is_dir():
            raise ValueError(
                "not a templates directory (it needs sms/, email/, page/ and clinic_email/ "
                "like the packaged one; check it with `reminders templates lint --templates DIR`)"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and value.split("://")[0] not in ("redis", "rediss", "unix"):
            raise ValueError("not a Redis URL (redis://host:6379/0, rediss:// or unix://)")
        return value

    @model_validator(mode="after")
    def _whole_twilio_or_none(self) -> Settings:
        # Half a Twilio configuration must not quietly fall back to the console channel:
        # every SMS would be recorded as sent and reach nobody.
        missing = twilio_gaps(self)
        if missing:
            raise ValueError("Twilio is partly configured; also set " + " and ".join(missing))
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file under var_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'reminders.db').resolve()}"

    @property
    def on_embedded_defaults(self) -> bool:
        """True for `make up` with nothing configured: a local SQLite file, no deployment."""
        return not self.database_url

    @property
    def twilio_configured(self) -> bool:
        """True when there is enough to talk to Twilio; otherwise SMS go to the console."""
        has_auth = bool(self.twilio_auth_token or self.twilio_api_key_secret)
        has_sender = bool(self.twilio_from or self.twilio_messaging_service_sid)
        return bool(self.twilio_account_sid) and has_auth and has_sender


def twilio_gaps(settings: Settings) -> list[str]:
    """What a started Twilio configuration still lacks (nothing when it is whole or absent)."""
    # The auth token alone is whole for what it does without the rest: the API checks
    # Twilio's webhook signatures with it.
    given = [
        settings.twilio_account_sid,
        settings.twilio_api_key_sid,
        settings.twilio_api_key_secret,
        settings.twilio_from,
        settings.twilio_messaging_service_sid,
    ]
    if not any(given):
        return []
    missing = []
    if not settings.twilio_account_sid:
        missing.append("REMINDERS_TWILIO_ACCOUNT_SID")
    api_key = settings.twilio_api_key_sid and settings.twilio_api_key_secret
    if not (settings.twilio_auth_token or api_key):
        missing.append(
            "REMINDERS_TWILIO_AUTH_TOKEN (or REMINDERS_TWILIO_API_KEY_SID with "
            "REMINDERS_TWILIO_API_KEY_SECRET)"
        )
    if not (settings.twilio_from or settings.twilio_messaging_service_sid):
        missing.append("REMINDERS_TWILIO_FROM (or REMINDERS_TWILIO_MESSAGING_SERVICE_SID)")
    return missing


MIN_SECRET_LENGTH = 32


def weak_secrets(settings: Settings) -> list[str]:
    """What a deployment must fix before the API starts: secrets shorter than 32 characters.

    The embedded defaults (`make up` with nothing configured) are one person's machine: they
    make their own random keys under var/ and may use a short operator token.
    """
    if settings.on_embedded_defaults:
        return []
    problems = []
    given = {
        "REMINDERS_SECRET_KEY": settings.secret_key,  # required: links must verify everywhere
        "REMINDERS_OPERATOR_TOKEN": settings.operator_token or None,
        "REMINDERS_SESSION_SECRET": settings.session_secret or None,
    }
    for name, value in given.items():
        if value is not None and len(value) < MIN_SECRET_LENGTH:
            problems.append(
                f"{name} must be at least {MIN_SECRET_LENGTH} random characters "
                f'(it is {len(value)}; make one with `python -c "import secrets; '
                f'print(secrets.token_urlsafe(32))"`)'
            )
    return problems


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's error into one that names REMINDERS_<FIELD>."""
    try:
        return Settings(_env_file=env_file(), **overrides)  # type: ignore[arg-type, call-arg]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            if field:
                problems.append(f"REMINDERS_{field.upper()}: {error['msg']}")
            else:  # a rule across fields: its message names the variables
                problems.append(error["msg"].removeprefix("Value error, "))
        raise SettingsError("bad configuration: " + "; ".join(problems)) from None
