"""Failures rendered as pages in the reader's language that say what happened and what to do next,
logged as one line, no stack trace.

Every error page has the look of the other pages (``error.html`` extends the page layout). The
sentence a person reads is always one of ours, translated; what a developer or an administrator
searches logs and specifications for (the failed check's name, the technical reason, which is
English) sits behind a "Technical details" toggle.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from flask import Flask, render_template, request, url_for
from flask_babel import get_locale, get_translations, gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from credbridge.lti.launch.errors import MAX_MESSAGE, LaunchError

log = logging.getLogger("credbridge.lti")

_TITLES = {400: lazy_gettext("Bad request"), 401: lazy_gettext("You are not signed in"),
           403: lazy_gettext("This page is not for you"), 404: lazy_gettext("Not found"),
           405: lazy_gettext("Method not allowed"), 406: lazy_gettext("Not available in this format"),
           500: lazy_gettext("Server error"), 502: lazy_gettext("Platform error")}
#: in place of werkzeug's own English descriptions
_DEFAULT_MESSAGES = {400: lazy_gettext("The request was not understood."),
                     403: lazy_gettext("You may not see this page."),
                     404: lazy_gettext("There is nothing at this address."),
                     405: lazy_gettext("This page cannot be used that way."),
                     406: lazy_gettext("This document is not available in the format that was asked for.")}


def audience() -> str:
    """Who is most likely reading an error page, from where it happened: the console's pages are for
    administrators (who log in), everything else is opened from Moodle (teachers, learners)."""
    path = request.path if request else ""
    if path.startswith("/admin"):
        return "admin"
    if path.startswith(("/credentials", "/schools")):
        return "public"
    return "moodle"


def render_error(status: int, message: str, *, check: str | None = None, hint: str | None = None,
                 title: str | None = None, detail: str | None = None,
                 actions: list[tuple[str, str]] | None = None) -> tuple[str, int]:
    context: dict[str, Any] = {"title": title or _TITLES.get(status, gettext("Error")), "message": message,
                               "check": check, "hint": hint, "detail": detail, "actions": actions or [],
                               "status": status}
    try:
        page = render_template("error.html", **context)
    except Exception as error:  # the page frame itself failed (e.g. the database is down): still answer
        log.error("error page could not be rendered: %s", error)
        page = (f"<!doctype html><html lang=\"en\"><title>{status}</title><h1>{status}</h1>"
                "<p>Something went wrong; please try again later.</p></html>")
    return page, status


@lru_cache(maxsize=16)
def _catalogue_texts(locale: str) -> frozenset[str]:
    """The sentences of our catalogue as a reader of ``locale`` sees them (English: the msgids)."""
    from babel.support import Translations

    from credbridge.lti.i18n import TRANSLATIONS_DIR

    if locale == "en":
        catalog = getattr(Translations.load(str(TRANSLATIONS_DIR), ["hr"]), "_catalog", {}) or {}
        return frozenset(k for k in catalog if isinstance(k, str) and k)
    catalog = getattr(get_translations(), "_catalog", {}) or {}
    return frozenset(v for k, v in catalog.items() if k and isinstance(v, str))


def _is_ours(description: str) -> bool:
    """Whether an ``abort()`` description is a sentence of our catalogue in the reader's language
    (then it is the message); any other description is technical and goes to the details."""
    return description in _catalogue_texts(str(get_locale() or "en"))


def _login_again() -> list[tuple[str, str]]:
    return [(gettext("Log in again"), url_for("admin.login_form"))] if "admin" in _blueprints() else []


def _blueprints() -> set[str]:
    from flask import current_app

    return set(current_app.blueprints)


def _signed_in() -> bool:
    from credbridge.lti.auth import current_session

    try:
        return current_session() is not None
    except Exception:  # no database: nobody is known to be signed in
        return False


def session_lost_page(status: int, detail: str | None) -> tuple[str, int]:
    """No valid session (it expired, the browser dropped the cookie, or the page was opened directly)."""
    if audience() == "admin":
        return render_error(status, gettext("Your session has ended, or you have not logged in to the school "
                                            "console in this browser."),
                            title=gettext("Please log in again"),
                            hint=gettext("Log in again with your e-mail address and password, or open credbridge "
                                         "from Moodle as a site administrator. Nothing was changed."),
                            detail=detail, actions=_login_again())
    return render_error(status, gettext("Your session has ended, so credbridge no longer knows who you are."),
                        title=gettext("Please open credbridge from Moodle again"),
                        hint=gettext("Go back to your Moodle course and open the credbridge activity again. "
                                     "Nothing was changed."), detail=detail)


def form_expired_page(error: CSRFError) -> tuple[str, int]:
    """A form came back without its security token, or with an old one: say so, and what to do."""
    log.info("form refused (CSRF): %s %s: %s", request.method, request.path, error.description)
    referrer = request.referrer or ""
    # still signed in: the way on is the page the form came from (our own pages only)
    back = [(gettext("Back to the page"), referrer)] if _signed_in() and referrer.startswith(request.host_url) else []
    if audience() == "admin":
        hint = gettext("Reload the page and send the form again. If it happens again, log in again.")
        actions = back or _login_again()
    else:
        hint = gettext("Go back to your Moodle course and open the credbridge activity again, then repeat "
                       "what you were doing.")
        actions = back
    return render_error(400, gettext("The page was open for a long time, or your browser did not keep the "
                                     "session, so credbridge could not be sure the form came from you. "
                                     "Nothing was changed."),
                        title=gettext("This form has expired"), hint=hint, detail=str(error.description),
                        actions=actions)


def launch_error_page(error: LaunchError) -> tuple[str, int]:
    log.warning("LTI launch refused: check=%s reason=%s", error.check, error.message)
    return render_error(error.status, gettext("credbridge could not confirm that this launch came from your "
                                              "Moodle, so it did not open."),
                        check=error.check, detail=error.message, title=gettext("The launch was refused"),
                        hint=gettext("Go back to Moodle and open the activity again; if it keeps failing, "
                                     "show this page to your Moodle administrator."))


def install(app: Flask) -> None:
    app.register_error_handler(LaunchError, launch_error_page)
    app.register_error_handler(CSRFError, form_expired_page)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        if status >= 500:
            log.error("HTTP %s: %s", status, error.description)
        description = str(error.description or "")
        default = description == type(error).description
        if len(description) > MAX_MESSAGE:  # a refusal may quote what was sent: never all of it
            description = description[: MAX_MESSAGE - 1] + "…"
        if status == 401:
            return session_lost_page(status, None if default else description)
        if description and not default and _is_ours(description):
            return render_error(status, description)
        message = str(_DEFAULT_MESSAGES.get(status) or _TITLES.get(status) or gettext("Error"))
        return render_error(status, message, detail=None if default or not description else description)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[str, int]:
        # one line with the exception type; the details go to DEBUG so a page never shows a trace
        log.error("unexpected %s: %s", type(error).__name__, error)
        log.debug("traceback", exc_info=error)
        return render_error(500, gettext("Something went wrong on our side; please try again."))
