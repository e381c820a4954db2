"""CSRF and cookies for the pages; their security headers come from ``credbridge.lti.headers``, which
sets them on every response of the app.

CSRF tokens come from Flask-WTF, checked by every page blueprint itself (the app may also run
CSRFProtect; exempting the platform's cross-site launch POSTs is its business); its session cookie
has to travel in a cross-site iframe, hence SameSite=None + Secure + Partitioned (CHIPS) when cookies
are secure.
"""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf


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
