"""Accredible Credential API v1.

Following Accredible's public API documentation: ``Authorization: Token token=<api key>``;
``POST /v1/credentials`` with ``{"credential": {"recipient": {"name", "email"}, "group_id",
"issued_on", "expired_on", "custom_attributes"}}``; ``POST /v1/credentials/bulk_create`` with
``{"credentials": [...]}`` for end-of-year runs; ``POST /v1/credentials/search`` (by group and
recipient e-mail) to find earlier credentials — ours carry the idempotency key in
``custom_attributes.credbridge_key``; ``DELETE /v1/credentials/{id}`` removes (revokes) one.

Settings: ``base_url`` (``https://api.accredible.com`` or the sandbox), ``api_key`` (``enc:…``
allowed), ``groups`` (template code -> Accredible group id).
"""

from __future__ import annotations

from typing import Any

import requests

from credbridge.connector.issuing.adapters import http
from credbridge.connector.issuing.adapters.base import (
    AmbiguousIssueError,
    AwardPayload,
    IssueResult,
    PermanentIssueError,
)

KEY_ATTRIBUTE = "credbridge_key"


class AccredibleAdapter:
    name = "accredible"

    def __init__(self, config: dict[str, Any], *, session: requests.Session | None = None) -> None:
        self.base_url = http.base_url(config, self.name)
        self.headers = {"Authorization": f"Token token={http.secret_value(config, self.name, 'api_key')}"}
        self.groups: dict[str, Any] = dict(http.require(config, self.name, "groups"))
        self.timeouts = http.timeouts(config)
        self.session = session or requests.Session()

    def _credential(self, payload: AwardPayload, idempotency_key: str) -> dict[str, Any]:
        group = self.groups.get(payload.template_code)
        if group is None:
            raise PermanentIssueError(f"accredible: no group configured for {payload.template_code}")
        if not payload.learner_email:
            raise PermanentIssueError(f"accredible: learner {payload.learner_id} has no e-mail address")
        return {
            "recipient": {"name": payload.learner_name, "email": payload.learner_email},
            "group_id": group,
            "issued_on": (payload.achieved_at or payload.decided_at).date().isoformat(),
            "complete": True,
            "custom_attributes": {KEY_ATTRIBUTE: idempotency_key,
                                  "template_version": str(payload.template_version)},
        }

    @staticmethod
    def _result(credential: dict[str, Any]) -> IssueResult:
        if not credential.get("id"):
            raise AmbiguousIssueError(f"accredible: answer has no credential id: {str(credential)[:300]}")
        return IssueResult(external_id=str(credential["id"]), url=credential.get("url"), raw=credential)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return http.send(self.session, self.name, method, self.base_url + path, timeout=self.timeouts,
                         headers=self.headers, **kwargs)

    def issue(self, payload: AwardPayload, idempotency_key: str) -> IssueResult:
        body = {"credential": self._credential(payload, idempotency_key)}
        response = self._send("POST", "/v1/credentials", json=body)
        return self._result(http.json_body(response, self.name).get("credential") or {})

    def issue_bulk(self, items: list[tuple[AwardPayload, str]]) -> list[IssueResult]:
        """Up to a few hundred credentials per request; results come back in request order."""
        body = {"credentials": [self._credential(p, k) for p, k in items]}
        data = http.json_body(self._send("POST", "/v1/credentials/bulk_create", json=body), self.name)
        return [self._result(c) for c in data.get("credentials") or []]

    def lookup(self, idempotency_key: str, payload: AwardPayload) -> IssueResult | None:
        body = {"group_id": self.groups.get(payload.template_code), "recipient": {"email": payload.learner_email}}
        data = http.json_body(self._send("POST", "/v1/credentials/search", json=body), self.name)
        for credential in data.get("credentials") or []:
            if (credential.get("custom_attributes") or {}).get(KEY_ATTRIBUTE) == idempotency_key:
                return self._result(credential)
        return None

    def revoke(self, external_id: str, reason: str) -> None:
        self._send("DELETE", f"/v1/credentials/{external_id}")
