"""Credly (Pearson) Web Service API v1.

Following Credly's public developer documentation: HTTP Basic with the organisation's authorization
token as user name and an empty password; ``POST /v1/organizations/{org}/badges`` issues a badge of
a badge template to an e-mail address; ``issuer_earner_id`` is the issuer's own id for the earner,
which we set to our idempotency key so ``GET …/badges?filter=issuer_earner_id::<key>`` finds an
earlier issuance; ``PUT …/badges/{id}/revoke`` revokes with a reason. Answers wrap results in
``{"data": …}``; errors are ``{"data": {"message": …}}`` (422 for validation).

Settings: ``base_url`` (``https://api.credly.com`` or the sandbox), ``organization_id``,
``token`` (``enc:…`` allowed), ``badge_templates`` (template code -> Credly badge template id).
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


class CredlyAdapter:
    name = "credly"

    def __init__(self, config: dict[str, Any], *, session: requests.Session | None = None) -> None:
        self.base_url = http.base_url(config, self.name)
        self.org = str(http.require(config, self.name, "organization_id"))
        self.auth = (http.secret_value(config, self.name, "token"), "")
        self.templates: dict[str, str] = dict(http.require(config, self.name, "badge_templates"))
        self.timeouts = http.timeouts(config)
        self.session = session or requests.Session()

    def _url(self, suffix: str = "") -> str:
        return f"{self.base_url}/v1/organizations/{self.org}/badges{suffix}"

    def _template(self, payload: AwardPayload) -> str:
        template = self.templates.get(payload.template_code)
        if not template:
            raise PermanentIssueError(f"credly: no badge template configured for {payload.template_code}")
        return template

    @staticmethod
    def _result(badge: dict[str, Any]) -> IssueResult:
        if not badge.get("id"):
            raise AmbiguousIssueError(f"credly: answer has no badge id: {str(badge)[:300]}")
        return IssueResult(external_id=str(badge["id"]), url=badge.get("badge_url") or badge.get("accept_badge_url"),
                           raw=badge)

    def issue(self, payload: AwardPayload, idempotency_key: str) -> IssueResult:
        if not payload.learner_email:
            raise PermanentIssueError(f"credly: learner {payload.learner_id} has no e-mail address")
        body = {
            "badge_template_id": self._template(payload),
            "recipient_email": payload.learner_email,
            "issued_to_first_name": payload.learner_given_name,
            "issued_to_last_name": payload.learner_family_name,
            "issued_at": (payload.achieved_at or payload.decided_at).strftime("%Y-%m-%d %H:%M:%S %z"),
            "issuer_earner_id": idempotency_key,
            "locale": (payload.snapshot.get("languages") or ["en"])[0],
        }
        response = http.send(self.session, self.name, "POST", self._url(), timeout=self.timeouts, auth=self.auth,
                             json=body)
        return self._result(http.json_body(response, self.name).get("data") or {})

    def lookup(self, idempotency_key: str, payload: AwardPayload) -> IssueResult | None:
        response = http.send(self.session, self.name, "GET", self._url(), timeout=self.timeouts, auth=self.auth,
                             params={"filter": f"issuer_earner_id::{idempotency_key}"})
        badges = http.json_body(response, self.name).get("data") or []
        live = [b for b in badges if b.get("state") != "revoked"]
        return self._result(live[0]) if live else None

    def revoke(self, external_id: str, reason: str) -> None:
        http.send(self.session, self.name, "PUT", self._url(f"/{external_id}/revoke"), timeout=self.timeouts,
                  auth=self.auth, json={"reason": reason, "suppress_revoke_notification_email": False})
