"""Failures rendered as short HTML pages naming what went wrong, logged as one line, no stack trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_babel import gettext, lazy_gettext
from werkzeug.exceptions import HTTPException

from credbridge.lti.launch.errors import LaunchError

log = logging.getLogger("credbridge.lti")

# titles and hints are translated; the failed check's name and the technical reason stay English,
# since that is what an administrator searches logs and specifications for
_TITLES = {400: lazy_gettext("Bad request"), 401: lazy_gettext("Not authorised"), 403: lazy_gettext("Forbidden"),
           404: lazy_gettext("Not found"), 405: lazy_gettext("Method not allowed"),
           500: lazy_gettext("Server error"), 502: lazy_gettext("Platform error")}
#: in place of werkzeug's own English descriptions (an abort() with a message of ours keeps it)
_DEFAULT_MESSAGES = {400: lazy_gettext("The request was not understood."),
                     403: lazy_gettext("You may not see this page."),
                     404: lazy_gettext("There is nothing at this address."),
                     405: lazy_gettext("This page cannot be used that way.")}


def render_error(status: int, message: str, *, check: str | None = None, hint: str | None = None,
                 title: str | None = None) -> tuple[str, int]:
    page = render_template("error.html", title=title or _TITLES.get(status, gettext("Error")), message=message,
                           check=check, hint=hint)
    return page, status


def launch_error_page(error: LaunchError) -> tuple[str, int]:
    log.warning("LTI launch refused: check=%s reason=%s", error.check, error.message)
    return render_error(error.status, error.message, check=error.check, title=gettext("The launch was refused"),
                        hint=gettext("Go back to Moodle and open the activity again; if it keeps failing, "
                                     "show this page to your Moodle administrator."))


def install(app: Flask) -> None:
    app.register_error_handler(LaunchError, launch_error_page)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        if status >= 500:
            log.error("HTTP %s: %s", status, error.description)
        message = error.description
        if not message or message == type(error).description:
            message = str(_DEFAULT_MESSAGES.get(status) or _TITLES.get(status) or gettext("Error"))
        return render_error(status, message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[str, int]:
        # one line with the exception type; the details go to DEBUG so a page never shows a trace
        log.error("unexpected %s: %s", type(error).__name__, error)
        log.debug("traceback", exc_info=error)
        return render_error(500, gettext("Something went wrong on our side; please try again."))
