"""Web sessions after a verified launch: a ``LaunchSession`` row on the server, and a cookie that
carries only its random id, signed with the app secret (itsdangerous) so a guessed or edited id is
refused before any database read."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SESSION_COOKIE = "credbridge_session"
SESSION_LIFETIME = timedelta(hours=8)


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.secret_key, salt="credbridge-launch-session")  # type: ignore[arg-type]


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def expiry(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) + SESSION_LIFETIME


def cookie_kwargs(app: Flask) -> dict[str, Any]:
    """SameSite=None + Partitioned so the cookie works inside the platform's iframe (CHIPS)."""
    secure = bool(app.config.get("LTI_COOKIE_SECURE", True))
    return {"httponly": True, "secure": secure, "samesite": "None" if secure else "Lax",
            "partitioned": secure, "path": "/"}


def set_session_cookie(response: Response, session_id: str) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    value = _serializer(app).dumps(session_id)
    response.set_cookie(SESSION_COOKIE, value, max_age=int(SESSION_LIFETIME.total_seconds()), **cookie_kwargs(app))


def session_id_from_cookie(value: str | None) -> str | None:
    if not value:
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        session_id = _serializer(app).loads(value, max_age=int(SESSION_LIFETIME.total_seconds()))
    except (SignatureExpired, BadSignature):
        return None
    return session_id if isinstance(session_id, str) else None
