"""Typed failures of the Advantage services: which service, which HTTP status, what Moodle said."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A service call failed; ``error`` is the OAuth/Moodle error code when the body had one."""

    def __init__(self, service: str, status: int | None, body: Any, *, url: str = "", detail: str = "") -> None:
        self.service = service
        self.status = status
        self.body = body
        self.url = url
        self.error = _error_code(body)
        where = f" {url}" if url else ""
        said = detail or (f"Moodle said {body!r}" if body not in (None, "") else "empty body")
        super().__init__(f"{service}{where}: HTTP {status}: {said}")


class TokenError(ServiceError):
    """The platform's token endpoint refused the client assertion or the scopes (OAuth ``error``)."""


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict):
        value = body.get("error") or body.get("reason")
        return str(value) if value is not None else None
    return None
