"""One validated settings object for every entry point (web, daemon, command line).

Values come from ``CREDBRIDGE_*`` environment variables, then from an optional TOML file named by
``CREDBRIDGE_CONFIG`` (or ``credbridge.toml`` in the working directory), then from defaults.
A wrong or missing setting raises :class:`SettingsError` with one line naming it; the command
line turns that into exit code 2.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_FILE = "credbridge.toml"
MIN_SECRET_LENGTH = 32
#: a century: the retention pass subtracts the days from today, which a million days would take before year 1
MAX_RETENTION_DAYS = 36_500


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line that names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDBRIDGE_", extra="forbid", frozen=True)

    database_url: str = Field(
        default="sqlite:///credbridge.db",
        description="SQLAlchemy URL: a SQLite file by default, postgresql+psycopg://… in production",
    )
    secret_key: SecretStr = Field(
        description="at least 32 characters; encrypts secrets at rest and signs web sessions",
    )
    old_secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="previous secret keys, still accepted for decryption while secrets are re-encrypted",
    )
    base_url: str = Field(default="http://127.0.0.1:5000", description="the tool's public URL")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    lti_leeway_seconds: int = Field(default=60, ge=0, le=300)
    lti_private_networks: list[str] = Field(
        default_factory=list,
        description="private networks (CIDR, e.g. 10.20.0.0/16) where LTI Dynamic Registration may reach an "
                    "on-premises Moodle; loopback, private and link-local addresses are refused otherwise",
    )
    proxy_hops: int = Field(default=0, ge=0, le=5,
                            description="reverse proxies in front of the web process that set X-Forwarded-For")
    sync_interval_minutes: int = Field(default=15, ge=1, le=1440)
    reconcile_hour_utc: int = Field(default=2, ge=0, le=23)
    daemon_id: str = Field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    lease_seconds: int = Field(
        default=60, ge=2,
        description="a killed daemon's work is taken over within this time (leases are renewed while work runs)",
    )
    poll_seconds: float = Field(default=2.0, gt=0, le=60,
                                description="how often an idle daemon worker looks for work")
    max_crashes: int = Field(default=100, ge=1, le=100_000,
                             description="a work item or delivery whose workers died this many times in a row while "
                                         "running it is set aside as stuck (shown to administrators) instead of "
                                         "being started again")
    retry_seconds: float = Field(default=30.0, gt=0, le=3600,
                                 description="first delay before a failed work item (a sync, an evaluation) or "
                                             "delivery is retried; doubled after each failure")
    mappings_dir: Path | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "credbridge@localhost"
    smtp_starttls: bool = False
    # operations: the scheduler leader, metrics, retention (README, Deployment and Privacy)
    scheduler_tick_seconds: int = Field(default=15, ge=1, le=600,
                                        description="how often each daemon checks what the schedule says is due")
    scheduler_lease_seconds: int = Field(default=60, ge=3,
                                         description="how long the scheduling daemon's lease lasts without renewal")
    metrics_token: SecretStr | None = Field(default=None, description="bearer token that may read /metrics")
    metrics_allow: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"],
                                     description="addresses (CIDR) that may read /metrics without the token")
    daemon_metrics_port: int | None = Field(default=None, ge=1, le=65535,
                                            description="port of the daemon's own /metrics (on daemon_metrics_host)")
    daemon_metrics_host: str = "127.0.0.1"
    retention_evidence_days: int | None = Field(
        default=None, ge=30, le=MAX_RETENTION_DAYS,
        description="delete superseded evidence versions older than this (unset: keep)")
    retention_sync_runs_days: int | None = Field(default=180, ge=1, le=MAX_RETENTION_DAYS,
                                                 description="delete sync history older than this")
    retention_work_items_days: int | None = Field(default=30, ge=1, le=MAX_RETENTION_DAYS,
                                                  description="delete finished work items older than this")

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters (run `credbridge init`)")
        return value

    @field_validator("lti_private_networks", "metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network such as 10.20.0.0/16 or 192.168.1.5/32") from None
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://credbridge.school.example")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; SQLAlchemy would otherwise look for psycopg2
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file; keys are the setting names without the prefix."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._values = _read_config_file()

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._values.items() if v is not None}


def config_file_path() -> Path:
    return Path(os.environ.get("CREDBRIDGE_CONFIG", DEFAULT_CONFIG_FILE))


def _read_config_file() -> dict[str, Any]:
    path = config_file_path()
    explicit = "CREDBRIDGE_CONFIG" in os.environ
    if not path.exists():
        if explicit:
            raise SettingsError(f"CREDBRIDGE_CONFIG: file {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise SettingsError(f"CREDBRIDGE_CONFIG: cannot read {path}: {exc}") from exc
    return data.get("credbridge", data)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise SettingsError with a single line naming the first problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        env = f"CREDBRIDGE_{name.upper()}"
        if error["type"] == "missing":
            raise SettingsError(f"{env} is not set: {_describe(name)}") from None
        if error["type"] == "extra_forbidden":
            raise SettingsError(f"{name}: unknown setting in {config_file_path()}") from None
        message = error["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{env} is wrong: {message}") from None


def _describe(name: str) -> str:
    field = Settings.model_fields.get(name)
    return (field.description if field and field.description else "required") or "required"
