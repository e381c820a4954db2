"""The pages people see: the teacher's course view, the learner's records, the school console and
the public verification page. ``register_pages(app)`` wires them into the Flask app."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"


def register_pages(app: Flask) -> None:
    """Blueprints (teacher, learner, admin, verify), translations, template helpers, security headers.

    Idempotent: a second call (the app factory and a test both calling it) changes nothing.
    """
    if "teacher" in app.blueprints:
        return
    from flask import Blueprint

    from credbridge.lti.i18n import init_i18n
    from credbridge.lti.pages import admin, learner, operations, teacher, verify
    from credbridge.lti.pages.common import init_template_helpers
    from credbridge.lti.pages.security import init_security

    init_i18n(app)
    init_security(app)
    init_template_helpers(app)
    assets = Blueprint("page_assets", __name__, static_folder=str(STATIC / "pages"),
                       static_url_path="/static/pages", template_folder=str(TEMPLATES))
    app.register_blueprint(assets)
    for module in (teacher, learner, admin, verify, operations):
        app.register_blueprint(module.bp)
