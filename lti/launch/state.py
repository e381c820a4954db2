"""Login state (SF §5.1.1.2): a single-use server record bound to the browser by a cookie.

The ``state`` sent to the platform is a signed token carrying the login parameters; the database
row is keyed by its digest. Signing lets the launch page offer "open in a new window" (re-run the
login with the same parameters) when the browser dropped our cookie, without ever accepting a
state whose cookie did not come back.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from credbridge.connector.store.models import LtiLoginState
from credbridge.lti.launch.errors import LaunchError

STATE_LIFETIME = timedelta(minutes=10)
COOKIE_PREFIX = "lti_state_"


@dataclass(frozen=True)
class LoginState:
    state: str
    nonce: str
    key: str

    @property
    def cookie_name(self) -> str:
        return COOKIE_PREFIX + self.key[:20]


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="credbridge-lti-state")


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def begin(session: Session, *, secret: str, registration_id: int, target_link_uri: str,
          login_params: dict[str, str], now: datetime | None = None) -> LoginState:
    now = now or datetime.now(UTC)
    state = _serializer(secret).dumps({"r": secrets.token_urlsafe(24), "p": login_params})
    nonce = secrets.token_urlsafe(24)
    key = _digest(state)
    session.execute(delete(LtiLoginState).where(LtiLoginState.expires_at < now))
    session.add(LtiLoginState(state=key, nonce=nonce, registration_id=registration_id,
                              target_link_uri=target_link_uri, expires_at=now + STATE_LIFETIME))
    return LoginState(state=state, nonce=nonce, key=key)


def login_params(state: str, secret: str) -> dict[str, str] | None:
    """The login parameters a (signed) state carries, or None if it is not ours."""
    try:
        data: Any = _serializer(secret).loads(state)
    except BadSignature:
        return None
    return data.get("p") if isinstance(data, dict) else None


def consume(session: Session, state: str, *, cookie_value: str | None,
            now: datetime | None = None) -> LtiLoginState:
    """Check and delete the state (single use). Raises LaunchError ``state`` / ``state_cookie``."""
    now = now or datetime.now(UTC)
    if not state:
        raise LaunchError("state", "the launch has no state parameter", status=401)
    key = _digest(state)
    row = session.scalars(select(LtiLoginState).where(LtiLoginState.state == key)).first()
    if row is None:
        raise LaunchError("state", "unknown or already used state (replayed or expired launch)", status=401)
    if cookie_value is None:
        # keep the row: the cookie, not the state, proves this browser started the login
        raise LaunchError("state_cookie", "the browser did not send back the login cookie", status=401)
    if not secrets.compare_digest(cookie_value, key):
        raise LaunchError("state", "the state does not belong to this browser", status=401)
    if row.expires_at < now:
        session.delete(row)
        raise LaunchError("state", "the login took too long; the state expired", status=401)
    # DELETE … WHERE guards against two launches racing on the same state
    deleted = session.execute(delete(LtiLoginState).where(LtiLoginState.state == key)).rowcount
    if deleted != 1:
        raise LaunchError("state", "the state was already used", status=401)
    return row


def cookie_name_for(state: str) -> str:
    return COOKIE_PREFIX + _digest(state)[:20]
