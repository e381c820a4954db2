"""Canvas Credentials (formerly Badgr) API v2.

Following the public Badgr / Canvas Credentials API documentation: OAuth2 password grant at
``POST /o/token`` (``grant_type=password``, ``username``, ``password``, ``client_id``) answering
``access_token``, ``refresh_token``, ``expires_in``; the refresh grant renews it; a 401 on an API
call triggers one refresh. ``POST /v2/badgeclasses/{entityId}/assertions`` awards a badge
(``recipient: {identity, type: "email", hashed: true}``, ``issuedOn``, ``narrative``, ``evidence``);
answers are ``{"status": {"success", "description"}, "result": [ … ]}``. Our idempotency key goes in
an evidence narrative, and ``GET /v2/badgeclasses/{entityId}/assertions?recipient=<email>`` finds it
again. ``DELETE /v2/assertions/{entityId}`` with ``revocation_reason`` revokes.

Settings: ``base_url`` (e.g. ``https://api.eu.badgr.io``), ``username``, ``password`` (``enc:…``),
``client_id`` (default ``public``), ``badgeclasses`` (template code -> BadgeClass entityId).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from credbridge.connector.issuing.adapters import http
from credbridge.connector.issuing.adapters.base import (
    AmbiguousIssueError,
    AwardPayload,
    IssueResult,
    PermanentIssueError,
    TransientIssueError,
)

KEY_PREFIX = "credbridge-idempotency-key: "


class BadgrAdapter:
    name = "badgr"

    def __init__(self, config: dict[str, Any], *, session: requests.Session | None = None) -> None:
        self.base_url = http.base_url(config, self.name)
        self.username = str(http.require(config, self.name, "username"))
        self.password = http.secret_value(config, self.name, "password")
        self.client_id = str(config.get("client_id") or "public")
        self.badgeclasses: dict[str, str] = dict(http.require(config, self.name, "badgeclasses"))
        self.timeouts = http.timeouts(config)
        self.session = session or requests.Session()
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires = 0.0

    # -- OAuth2 -----------------------------------------------------------------------------------

    def _token(self, data: dict[str, str]) -> None:
        try:
            response = http.send(self.session, self.name, "POST", self.base_url + "/o/token", timeout=self.timeouts,
                                 data={**data, "client_id": self.client_id})
        except AmbiguousIssueError as exc:  # a token request changes nothing: safe to retry later
            raise TransientIssueError(exc.message, retry_after=exc.retry_after) from exc
        token = http.json_body(response, self.name)
        if "access_token" not in token:
            raise TransientIssueError(f"badgr: token answer without access_token: {str(token)[:200]}")
        self._access = token["access_token"]
        self._refresh = token.get("refresh_token")
        self._expires = time.monotonic() + float(token.get("expires_in", 3600)) - 30

    def _bearer(self, force: bool = False) -> str:
        with self._lock:
            if force or self._access is None or time.monotonic() >= self._expires:
                if self._refresh and not force:
                    try:
                        self._token({"grant_type": "refresh_token", "refresh_token": self._refresh})
                    except PermanentIssueError:
                        self._token({"grant_type": "password", "username": self.username, "password": self.password})
                else:
                    self._token({"grant_type": "password", "username": self.username, "password": self.password})
            assert self._access is not None
            return self._access

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self._bearer(force=attempt == 1)}"}
            try:
                return http.send(self.session, self.name, method, self.base_url + path, timeout=self.timeouts,
                                 headers=headers, **kwargs)
            except PermanentIssueError as exc:
                if exc.status != 401 or attempt == 1:
                    raise
        raise AssertionError("unreachable")

    # -- issuing ----------------------------------------------------------------------------------

    def _badgeclass(self, payload: AwardPayload) -> str:
        entity = self.badgeclasses.get(payload.template_code)
        if not entity:
            raise PermanentIssueError(f"badgr: no BadgeClass configured for {payload.template_code}")
        return entity

    @staticmethod
    def _result(assertion: dict[str, Any]) -> IssueResult:
        if not assertion.get("entityId"):
            raise AmbiguousIssueError(f"badgr: answer has no assertion entityId: {str(assertion)[:300]}")
        return IssueResult(external_id=assertion["entityId"], url=assertion.get("openBadgeId"), raw=assertion)

    def issue(self, payload: AwardPayload, idempotency_key: str) -> IssueResult:
        if not payload.learner_email:
            raise PermanentIssueError(f"badgr: learner {payload.learner_id} has no e-mail address")
        body = {
            "recipient": {"identity": payload.learner_email, "type": "email", "hashed": True},
            "issuedOn": (payload.achieved_at or payload.decided_at).isoformat(),
            "narrative": payload.title,
            "evidence": [{"narrative": KEY_PREFIX + idempotency_key}],
            "notify": True,
        }
        response = self._call("POST", f"/v2/badgeclasses/{self._badgeclass(payload)}/assertions", json=body)
        results = http.json_body(response, self.name).get("result") or [{}]
        return self._result(results[0])

    def lookup(self, idempotency_key: str, payload: AwardPayload) -> IssueResult | None:
        response = self._call("GET", f"/v2/badgeclasses/{self._badgeclass(payload)}/assertions",
                              params={"recipient": payload.learner_email or ""})
        for assertion in http.json_body(response, self.name).get("result") or []:
            narratives = [e.get("narrative") for e in assertion.get("evidence") or []]
            if KEY_PREFIX + idempotency_key in narratives and not assertion.get("revoked"):
                return self._result(assertion)
        return None

    def revoke(self, external_id: str, reason: str) -> None:
        self._call("DELETE", f"/v2/assertions/{external_id}", json={"revocation_reason": reason})
