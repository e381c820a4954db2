"""The one thing every page needs from the application: its database and public base URL.

``create_app`` keeps a :class:`credbridge.connector.runtime.Runtime` in ``app.extensions["credbridge"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session


def _runtime():
    return current_app.extensions["credbridge"]


@contextmanager
def unit_of_work() -> Iterator[Session]:
    with _runtime().db.unit_of_work() as session:
        yield session


def base_url() -> str:
    return str(_runtime().settings.base_url).rstrip("/")


def evaluation_sources():
    """Where progress reads evidence: the sync store, unless the app was given other sources."""
    found = current_app.extensions.get("credbridge.evaluation_sources")
    if found is not None:
        return found
    from credbridge.connector.awards.sources import store_sources

    return store_sources()
