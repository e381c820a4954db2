"""Headers and CSRF for the pages.

The tool runs inside Moodle's iframe, so instead of ``X-Frame-Options: DENY`` the pages send
``Content-Security-Policy: frame-ancestors`` listing the origins of the school platforms that are
registered (and nothing else). CSRF tokens come from Flask-WTF, checked by every page blueprint
itself (the app may also run CSRFProtect; exempting the platform's cross-site launch POSTs is its
business); its session cookie has to travel in a cross-site iframe, hence SameSite=None + Secure +
Partitioned (CHIPS) when cookies are secure.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy import select

from credbridge.connector.store.models import LtiRegistration
from credbridge.lti.pages.runtime import unit_of_work

_OWN_PREFIXES = ("/teacher", "/learner", "/admin", "/credentials", "/schools", "/static/pages")


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def platform_origins() -> list[str]:
    """Origins allowed to frame the pages: every active registration's issuer and login URL."""
    with unit_of_work() as session:
        rows = session.execute(
            select(LtiRegistration.issuer, LtiRegistration.auth_login_url).where(LtiRegistration.status == "active")
        ).all()
    origins = {o for row in rows for o in (_origin(row[0]), _origin(row[1])) if o}
    return sorted(origins)


def _headers(response: Response) -> Response:
    if not request.path.startswith(_OWN_PREFIXES):
        return response
    try:
        ancestors = " ".join(["'self'", *platform_origins()])
    except Exception:  # database down: refuse framing rather than fail the response
        ancestors = "'self'"
    policy = (f"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
              f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}")
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_security(app: Flask) -> None:
    secure = bool(app.config.get("LTI_COOKIE_SECURE", True))
    app.config.setdefault("SESSION_COOKIE_SECURE", secure)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "None" if secure else "Lax")
    app.config.setdefault("SESSION_COOKIE_PARTITIONED", secure)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    # the referrer check breaks inside iframes with Referrer-Policy trimming; the token is the guard
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.after_request(_headers)


def check_csrf() -> None:
    """``before_request`` of every page blueprint: unsafe methods need a valid token (form or header)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    try:
        validate_csrf(token)
    except (CSRFError, Exception) as error:  # ValidationError from wtforms: same answer
        # the app's CSRFError page says in the reader's language what happened and what to do
        raise CSRFError(f"the form has expired or was not sent from this page ({error})") from None
