"""What every entry point opens once: validated settings, the secrets vault, logging, the database."""

from __future__ import annotations

from dataclasses import dataclass

from credbridge.connector.logs import setup_logging
from credbridge.connector.settings import Settings, load_settings
from credbridge.connector.store import secrets
from credbridge.connector.store.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database

    def close(self) -> None:
        self.db.dispose()


def open_runtime(settings: Settings | None = None, *, configure_logging: bool = True) -> Runtime:
    settings = settings or load_settings()
    secret = settings.secret_key.get_secret_value()
    old = [s.get_secret_value() for s in settings.old_secret_keys]
    secrets.configure(secret, old)
    if configure_logging:
        setup_logging(settings.log_level, settings.log_format, secrets=[secret, *old])
    return Runtime(settings=settings, db=Database(settings.database_url))
