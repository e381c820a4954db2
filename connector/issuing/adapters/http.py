"""HTTP plumbing shared by the external adapters: one ``requests`` session per adapter, timeouts,
and the translation of what went wrong into the three outcomes the worker understands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from credbridge.connector.http import retry_after
from credbridge.connector.issuing.adapters.base import (
    AdapterConfigError,
    AmbiguousIssueError,
    PermanentIssueError,
    TransientIssueError,
)
from credbridge.connector.store import secrets

USER_AGENT = "credbridge-issuer/0.1"
ENCRYPTED_PREFIX = "enc:"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect, self.read)


def require(config: dict[str, Any], target: str, key: str) -> Any:
    value = config.get(key)
    if value in (None, ""):
        raise AdapterConfigError(f"{target}: setting {key!r} is missing")
    return value


def secret_value(config: dict[str, Any], target: str, key: str) -> str:
    """A secret setting; ``enc:<fernet token>`` values are decrypted with the configured vault so that
    the school's policy JSON never holds a password in clear."""
    value = str(require(config, target, key))
    if value.startswith(ENCRYPTED_PREFIX):
        return secrets.decrypt(value[len(ENCRYPTED_PREFIX):].encode("ascii")).decode("utf-8")
    return value


def encrypt_setting(plaintext: str) -> str:
    return ENCRYPTED_PREFIX + secrets.encrypt(plaintext.encode("utf-8")).decode("ascii")


def base_url(config: dict[str, Any], target: str, key: str = "base_url") -> str:
    value = str(require(config, target, key)).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AdapterConfigError(f"{target}: {key} {value!r} is not an absolute http(s) URL")
    return value


def timeouts(config: dict[str, Any]) -> Timeouts:
    return Timeouts(float(config.get("connect_timeout", 5.0)), float(config.get("read_timeout", 30.0)))


def _excerpt(response: requests.Response) -> str:
    return response.text[:500]


def send(session: requests.Session, target: str, method: str, url: str, *, timeout: Timeouts,
         **kwargs: Any) -> requests.Response:
    """One request; raises the outcome class for anything but a 2xx answer."""
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        response = session.request(method, url, headers=headers, timeout=timeout.as_tuple(), **kwargs)
    except requests.ConnectTimeout as exc:
        raise TransientIssueError(f"{target}: cannot connect to {url} (timeout)") from exc
    except requests.ReadTimeout as exc:
        # the request went out: the target may have issued and we did not hear back
        raise AmbiguousIssueError(f"{target}: no answer from {url} within {timeout.read}s") from exc
    except requests.ConnectionError as exc:
        if _refused(exc):
            raise TransientIssueError(f"{target}: connection to {url} refused") from exc
        raise AmbiguousIssueError(f"{target}: connection to {url} broke: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return response
    body = _excerpt(response)
    if status in (408, 425, 429):
        raise TransientIssueError(f"{target}: {method} {url} answered {status}: {body}",
                                  retry_after=retry_after(response), status=status, body=body)
    if status == 503 and response.headers.get("Retry-After"):
        # an explicit "come back later" from a front that did not process the request
        raise TransientIssueError(f"{target}: {method} {url} answered 503: {body}",
                                  retry_after=retry_after(response), status=status, body=body)
    if status >= 500:
        raise AmbiguousIssueError(f"{target}: {method} {url} answered {status}: {body}", status=status, body=body,
                                  retry_after=retry_after(response))
    raise PermanentIssueError(f"{target}: {method} {url} answered {status}: {body}", status=status, body=body)


def _refused(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "Errno 111" in text


def json_body(response: requests.Response, target: str) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise AmbiguousIssueError(f"{target}: answer is not JSON: {_excerpt(response)}") from exc
    if not isinstance(data, dict):
        raise AmbiguousIssueError(f"{target}: answer is not a JSON object: {_excerpt(response)}")
    return data
