"""Failures rendered as short HTML pages naming what went wrong, logged as one line, no stack trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from credbridge.lti.launch.errors import LaunchError

log = logging.getLogger("credbridge.lti")

_TITLES = {400: "Bad request", 401: "Not authorised", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 500: "Server error", 502: "Platform error"}


def render_error(status: int, message: str, *, check: str | None = None, hint: str | None = None,
                 title: str | None = None) -> tuple[str, int]:
    page = render_template("error.html", title=title or _TITLES.get(status, "Error"), message=message,
                           check=check, hint=hint)
    return page, status


def launch_error_page(error: LaunchError) -> tuple[str, int]:
    log.warning("LTI launch refused: check=%s reason=%s", error.check, error.message)
    return render_error(error.status, error.message, check=error.check, title="The launch was refused",
                        hint="Go back to Moodle and open the activity again; if it keeps failing, "
                             "show this page to your Moodle administrator.")


def install(app: Flask) -> None:
    app.register_error_handler(LaunchError, launch_error_page)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        if status >= 500:
            log.error("HTTP %s: %s", status, error.description)
        return render_error(status, error.description or _TITLES.get(status, "Error"))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[str, int]:
        # one line with the exception type; the details go to DEBUG so a page never shows a trace
        log.error("unexpected %s: %s", type(error).__name__, error)
        log.debug("traceback", exc_info=error)
        return render_error(500, "Something went wrong on our side; please try again.")
