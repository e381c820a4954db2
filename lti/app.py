"""The web application: LTI endpoints and the pages teachers and learners land on."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from credbridge.connector.runtime import Runtime, open_runtime
from credbridge.connector.settings import Settings
from credbridge.lti import errors
from credbridge.lti.headers import init_headers
from credbridge.lti.i18n import init_i18n
from credbridge.lti.launch.platform_keys import KeySetRegistry
from credbridge.lti.limits import init_limits


def create_app(runtime: Runtime | None = None, *, settings: Settings | None = None,
               config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app. ``config`` overrides Flask config keys, notably ``LTI_COOKIE_SECURE``:
    True by default (browsers need Secure for SameSite=None cookies and accept it on http://localhost);
    set it False only for HTTP clients without a browser's localhost exception (Python's cookie jar
    never returns Secure cookies over plain http)."""
    runtime = runtime or open_runtime(settings)
    app = Flask(__name__)
    init_limits(app)  # first: the id converter applies to routes added later, the body limit to every read
    # a `lti_cookie_secure` setting (when the settings grow one) drops Secure for plain-http development
    secure = bool(getattr(runtime.settings, "lti_cookie_secure", True))
    app.config.update(
        SECRET_KEY=runtime.settings.secret_key.get_secret_value(),
        LTI_COOKIE_SECURE=secure,
        WTF_CSRF_TIME_LIMIT=None,
        # the referrer of a form inside the platform's iframe is our own page; keep the check
        WTF_CSRF_SSL_STRICT=True,
    )
    app.config.update(config or {})
    secure = bool(app.config["LTI_COOKIE_SECURE"])
    # Flask's own session cookie holds only the CSRF token; it must survive the iframe too
    app.config.update(SESSION_COOKIE_NAME="credbridge_csrf", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SECURE=secure, SESSION_COOKIE_SAMESITE="None" if secure else "Lax",
                      SESSION_COOKIE_PARTITIONED=secure)
    app.extensions["credbridge"] = runtime
    hops = int(getattr(runtime.settings, "proxy_hops", 0))
    if hops:  # the client address (the login brake counts per client) is the one the proxy saw
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]
    app.extensions["credbridge.platform_keys"] = KeySetRegistry()
    csrf = CSRFProtect(app)

    from credbridge.lti.views import lti as lti_views
    from credbridge.lti.views import ops, pages

    csrf.exempt(lti_views.login)
    csrf.exempt(lti_views.launch)
    app.register_blueprint(lti_views.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ops.bp)  # /healthz, /readyz, /metrics
    ops.install_request_ids(app)
    errors.install(app)
    init_headers(app)
    init_i18n(app)  # launch, deep-linking and error pages are translated too, with or without the full pages
    if app.config.get("CREDBRIDGE_FULL_PAGES", True):
        # the teacher, learner, admin and verification pages (credbridge.lti.pages) build on this app
        from credbridge.lti.pages import register_pages

        register_pages(app)
    return app
