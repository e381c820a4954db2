"""Finding the platform registration a login or launch belongs to, and where that platform lives."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.store.models import LtiRegistration
from credbridge.lti.launch.errors import LaunchError, shown


def find_registration(session: Session, issuer: str, client_id: str | None) -> LtiRegistration:
    """By (iss, client_id); without client_id only when the issuer has exactly one registration."""
    query = select(LtiRegistration).where(LtiRegistration.issuer == issuer)
    if client_id:
        registration = session.scalars(query.where(LtiRegistration.client_id == client_id)).first()
        if registration is None:
            raise LaunchError("registration", f"no registration for issuer {shown(issuer)} and client_id "
                              f"{shown(client_id)}", status=401)
    else:
        found = session.scalars(query).all()
        if len(found) != 1:
            raise LaunchError("client_id", f"the login has no client_id and issuer {shown(issuer)} has "
                              f"{len(found)} registrations", status=400)
        registration = found[0]
    if registration.status != "active":
        raise LaunchError("registration", f"the registration of {shown(issuer)} is {registration.status}", status=403)
    return registration


def origin(url: object) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower case; None for anything else (javascript:,
    data:, relative, with user:password@ or a malformed port)."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    default = {"http": 80, "https": 443}[scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def platform_origins(registration: LtiRegistration) -> set[str]:
    """Where the platform lives: the origins of its issuer and of the endpoints registered for it."""
    urls = [registration.issuer, registration.auth_login_url, registration.auth_token_url, registration.key_set_url]
    return {o for o in (origin(u) for u in urls) if o}
