"""Bounds on what a request may carry: its size, and the integer ids in its path, query and forms.

A 30 MB POST to ``/lti/login`` would otherwise be read whole; an id beyond what a database integer
holds would reach the database and fail there (SQLite: "Python int too large"; PostgreSQL, whose INTEGER
has 32 bits: "integer out of range"; a 500). With these,
an oversized body is a 413 before it is parsed and an impossible id is a 404, like any unknown id; a NUL
character anywhere in the path, query or form is a 400 (PostgreSQL text cannot hold one).
Ids in a query string or a form are read with :func:`database_id` (``request.args.get(…, type=database_id)``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

#: every form and JSON body of the app is small; uploads are the exception
MAX_BODY = 256 * 1024
#: a mapping file may have 5,000,000 characters (mappings.loader.MAX_FILE_CHARS), up to 4 bytes each
#: in UTF-8, plus the form around it
MAX_MAPPING_BODY = 21 * 1024 * 1024
#: the school's logo may be 512 KB (the console says so itself when it is larger): room for a few times that
MAX_LOGO_BODY = 4 * 1024 * 1024
#: the platform's requests: their refusals are launch errors (lti/errors.py)
LAUNCH_ENDPOINTS = {"lti.login", "lti.launch"}
LARGE_BODIES = {"admin.mapping_edit": MAX_MAPPING_BODY, "admin.school_update": MAX_LOGO_BODY}
#: the id columns are INTEGER: 64 bits in SQLite but 32 in PostgreSQL, so the smaller bound holds for both
MAX_ID = 2**31 - 1
#: a page number of a paged list whose offset still fits a database integer (at 1,000 rows a page)
MAX_PAGE = MAX_ID // 1000


def database_id(value: str) -> int:
    """A query or form value as a row id: ``ValueError`` for anything a database id cannot be (werkzeug's
    ``type=`` then gives the default), so "no such row" is answered without asking the database."""
    number = int(value)
    if not 0 <= number <= MAX_ID:
        raise ValueError(f"{value[:30]!r} is not an id")
    return number


def page_number(value: str) -> int:
    """A page number (``type=`` of ``request.args.get``): 1 … MAX_PAGE, a page beyond any list is empty."""
    return min(max(1, int(value)), MAX_PAGE)


class IdConverter(IntegerConverter):
    """``<int:…>`` that matches only ids a database can hold (0 … 2**31-1)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 0)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _body_limit() -> None:
    if request.endpoint in LARGE_BODIES:
        request.max_content_length = LARGE_BODIES[request.endpoint]
    _no_nul()


def _no_nul() -> None:
    """PostgreSQL text cannot hold a NUL character, so one in any field would fail in the database (a 500)
    wherever it is compared or stored; no link or form of ours carries one. Uploaded files are read
    by their own checks."""
    for where, fields in (("query", request.args), ("form", request.form)):
        for name, value in fields.items(multi=True):
            if "\x00" in name or "\x00" in value:
                field = name.replace("\x00", "")[:40]
                _refuse(field, f"the {where} field {field!r} contains a NUL character")
    if "\x00" in request.path:
        _refuse("path", "the address contains a NUL character")


def _refuse(field: str, message: str) -> None:
    if request.endpoint in LAUNCH_ENDPOINTS:  # a launch's refusal names the check, like every other
        from credbridge.lti.launch.errors import LaunchError

        raise LaunchError(field or "request", message, status=400)
    abort(400, description=message)


def init_limits(app: Flask) -> None:
    """Call before any route is added (the converter is looked up when a rule is added) and before
    any other ``before_request`` reads the body (CSRFProtect does)."""
    app.url_map.converters["int"] = IdConverter
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_MAPPING_BODY
    app.before_request(_body_limit)
