"""Security headers on every response: a Content-Security-Policy, framing rules, no sniffing.

The tool runs inside Moodle's iframe, so pages cannot say ``X-Frame-Options: DENY``. Instead
``frame-ancestors`` names the origins of the platforms of the school whose page it is: the school of
the launch session, or the school a view says it is serving (an LTI login or launch, before any
session exists). One school's administrator can register any platform for their own school, so
that platform may frame that school's pages and never another school's.

A few pages belong to no school and show nothing of one: the console's login form, the start page
and error pages without a session (an expired session inside Moodle's frame must still say "launch
again" rather than leave the frame blank). Any registered platform may frame those. Every other
page without a school may only be framed by credbridge itself (and says so with ``X-Frame-Options``
too, for old browsers). Responses that are not HTML may not be framed at all.

Inline scripts (the auto-posting form, the "close the registration dialog" message) run only with a
per-response nonce; a form may post only to credbridge and to the origins a view adds (the deep-link
return URL, already checked to be on the platform's own origin).
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, Response, current_app, g, request
from sqlalchemy import select

from credbridge.connector.store.models import LtiRegistration
from credbridge.lti.registrations import origin, platform_origins

log = logging.getLogger(__name__)

NOT_HTML_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def csp_nonce() -> str:
    """The nonce of this response's inline scripts (``<script nonce="{{ csp_nonce() }}">``)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def frame_for_school(school_id: int | None) -> None:
    """This response belongs to ``school_id``: its platforms may frame it."""
    if school_id is not None:
        g.setdefault("frame_schools", set()).add(school_id)


def frame_for_origin(url: str | None) -> None:
    """A platform that is not registered yet may frame this response (Moodle's registration dialog)."""
    found = origin(url)
    if found:
        g.setdefault("frame_origins", set()).add(found)


def allow_form_action(url: str) -> None:
    """A form of this page may post to ``url``'s origin (checked by the caller)."""
    found = origin(url)
    if found:
        g.setdefault("form_origins", set()).add(found)


#: pages of no school that every registered platform may frame (error pages without a session too)
SCHOOLLESS_FRAMED = frozenset({"admin.login_form", "admin.login", "pages.home"})


def school_platform_origins(school_ids: set[int] | None) -> set[str]:
    """Origins of the active platforms registered for these schools (None: for any school)."""
    if school_ids is not None and not school_ids:
        return set()
    query = select(LtiRegistration).where(LtiRegistration.status == "active")
    if school_ids is not None:
        query = query.where(LtiRegistration.school_id.in_(sorted(school_ids)))
    with current_app.extensions["credbridge"].db.unit_of_work() as db:
        return {o for row in db.scalars(query) for o in platform_origins(row)}


def _frame_origins(response: Response) -> set[str]:
    from credbridge.lti.auth import current_session

    schools: set[int] = set(g.get("frame_schools", set()))
    found: set[str] = set(g.get("frame_origins", set()))
    try:
        if not schools:
            session = current_session()
            if session is not None:
                schools.add(session.school_id)
        if schools:
            found |= school_platform_origins(schools)
        elif response.status_code >= 400 or request.endpoint in SCHOOLLESS_FRAMED:
            found |= school_platform_origins(None)
    except Exception as error:  # database down: refuse framing rather than fail the response
        log.warning("frame-ancestors: cannot read the school's platforms (%s); framing refused", error)
    return found


def _policy(ancestors: set[str]) -> str:
    scripts = "'self'" + (f" 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else "")
    forms = " ".join(["'self'", *sorted(g.get("form_origins", set()))])
    frames = " ".join(["'self'", *sorted(ancestors)])
    return (f"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src {scripts}; "
            f"object-src 'none'; base-uri 'none'; form-action {forms}; frame-ancestors {frames}")


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype != "text/html":
        response.headers.setdefault("Content-Security-Policy", NOT_HTML_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
    ancestors = _frame_origins(response)
    response.headers["Content-Security-Policy"] = _policy(ancestors)
    if not ancestors:
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def init_headers(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_headers)
