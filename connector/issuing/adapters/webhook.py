"""Signed webhook: the award is POSTed as JSON to a URL the school runs (its own issuer, a student
information system, a queue).

Protocol (what a receiver implements):

- ``POST <url>`` with the JSON body ``{"type": "award.issue", "idempotency_key": …, "award": {…}}``
  and the headers ``X-Credbridge-Timestamp`` (Unix seconds), ``X-Credbridge-Signature``
  (``v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``) and ``Idempotency-Key``. Answer 2xx with
  ``{"id": "<your id>", "url": "<optional>"}``.
- ``GET <url>?idempotency_key=<key>`` (signed over the empty body) answers 200 with the same JSON if
  that key was already processed, 404 otherwise. credbridge asks this before it retries a request
  whose outcome it did not learn (timeout, dropped connection, 5xx), so a slow receiver is never
  sent the same award twice.
- ``POST <url>`` with ``{"type": "award.revoke", "external_id": …, "reason": …}`` revokes.

Receivers verify the signature with :func:`verify_signature` (or its equivalent) and refuse a
timestamp older than the replay window (:data:`REPLAY_WINDOW_SECONDS`, five minutes, as Stripe
does) or in the future by more than that; together with the idempotency key this stops replays.
The comparison must be constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests

from credbridge.connector.issuing.adapters import http
from credbridge.connector.issuing.adapters.base import (
    AmbiguousIssueError,
    AwardPayload,
    IssueResult,
    PermanentIssueError,
)

TIMESTAMP_HEADER = "X-Credbridge-Timestamp"
SIGNATURE_HEADER = "X-Credbridge-Signature"
REPLAY_WINDOW_SECONDS = 300
SIGNATURE_VERSION = "v1"


class SignatureError(ValueError):
    """A webhook request's signature or timestamp is missing, wrong or outside the replay window."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify_signature(secret: str, timestamp_header: str | None, signature_header: str | None, body: bytes,
                     *, now: float | None = None, window: int = REPLAY_WINDOW_SECONDS) -> None:
    """What a receiver runs on every request; raises :class:`SignatureError` naming the problem."""
    if not timestamp_header or not signature_header:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} {timestamp_header!r} is not Unix seconds") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > window:
        raise SignatureError(f"{TIMESTAMP_HEADER} is outside the {window}s replay window")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature_header.strip().encode("ascii", "replace")):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


class WebhookAdapter:
    """Settings: ``url``, ``secret`` (``enc:…`` allowed), ``connect_timeout``, ``read_timeout``."""

    name = "webhook"

    def __init__(self, config: dict[str, Any], *, session: requests.Session | None = None) -> None:
        self.url = http.base_url(config, self.name, "url")
        self.secret = http.secret_value(config, self.name, "secret")
        self.timeouts = http.timeouts(config)
        self.session = session or requests.Session()

    def _headers(self, body: bytes, idempotency_key: str | None = None) -> dict[str, str]:
        timestamp = int(time.time())
        headers = {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(self.secret, timestamp, body),
                   "Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _post(self, document: dict[str, Any], idempotency_key: str | None = None) -> requests.Response:
        body = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
        return http.send(self.session, self.name, "POST", self.url, timeout=self.timeouts, data=body,
                         headers=self._headers(body, idempotency_key))

    @staticmethod
    def _result(data: dict[str, Any]) -> IssueResult:
        external_id = data.get("id")
        if not isinstance(external_id, str) or not external_id:
            raise AmbiguousIssueError(f"webhook: answer has no 'id': {json.dumps(data)[:300]}")
        return IssueResult(external_id=external_id, url=data.get("url"), raw=data)

    def issue(self, payload: AwardPayload, idempotency_key: str) -> IssueResult:
        response = self._post({"type": "award.issue", "idempotency_key": idempotency_key,
                               "award": payload.public_dict()}, idempotency_key)
        return self._result(http.json_body(response, self.name))

    def lookup(self, idempotency_key: str, payload: AwardPayload | None = None) -> IssueResult | None:
        try:
            response = http.send(self.session, self.name, "GET", self.url, timeout=self.timeouts,
                                 params={"idempotency_key": idempotency_key}, headers=self._headers(b""))
        except PermanentIssueError as exc:
            if exc.status == 404:
                return None
            raise
        return self._result(http.json_body(response, self.name))

    def revoke(self, external_id: str, reason: str) -> None:
        self._post({"type": "award.revoke", "external_id": external_id, "reason": reason})
