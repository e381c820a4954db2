"""EDC Issuer (European Digital Credentials, Europass): seal our ELM v3 document with the school's
eSeal and get the sealed credential back.

Public API as documented by the EC for EDC Issuer v3 (``/api/v2/public/credentials/seal`` takes one
unsigned EDC credential file, ``/seal_batch`` several, multipart field ``file`` / ``files``; HTTP Basic
auth of the issuer's API user). Sealing is stateless at EDC: there is nothing to look up, and sealing
the same document twice yields the same credential (same id) sealed twice, not a second credential —
so ``lookup`` is unsupported and a retry simply seals again.

These sealing endpoints answer only on an EDC Issuer the school (or its ministry) installs itself:
the EDC team said that the Europass-hosted issuer does not expose them to other applications
(futurium.ec.europa.eu/en/node/17397). ``base_url`` is therefore the self-hosted issuer. The
multipart field names follow the EC's description and could not be checked against a running EDC
Issuer; the tests use our own HTTP stand-in.

Settings: ``base_url``, ``username``, ``password`` (``enc:…`` allowed), timeouts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from credbridge.connector.issuing.adapters import http
from credbridge.connector.issuing.adapters.base import (
    AwardPayload,
    IssueResult,
    LookupUnsupported,
    TransientIssueError,
)

SEAL_PATH = "/api/v2/public/credentials/seal"
SEAL_BATCH_PATH = "/api/v2/public/credentials/seal_batch"

#: award -> (credential id, unsigned ELM document), or None while the ELM is not built yet
ElmSource = Callable[[AwardPayload], tuple[str, dict[str, Any]] | None]


class EdcAdapter:
    name = "edc"

    def __init__(self, config: dict[str, Any], elm_source: ElmSource, *,
                 session: requests.Session | None = None) -> None:
        self.base_url = http.base_url(config, self.name)
        self.auth = (str(http.require(config, self.name, "username")),
                     http.secret_value(config, self.name, "password"))
        self.timeouts = http.timeouts(config)
        self.elm_source = elm_source
        self.session = session or requests.Session()

    def _elm(self, payload: AwardPayload) -> tuple[str, dict[str, Any]]:
        found = self.elm_source(payload)
        if found is None:
            # the embedded signer builds the ELM document; come back once it has
            raise TransientIssueError(f"edc: the ELM document of award {payload.award_id} is not built yet",
                                      retry_after=30)
        return found

    def issue(self, payload: AwardPayload, idempotency_key: str) -> IssueResult:
        credential_id, document = self._elm(payload)
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        response = http.send(self.session, self.name, "POST", self.base_url + SEAL_PATH, timeout=self.timeouts,
                             auth=self.auth, files={"file": (f"{credential_id}.jsonld", body, "application/ld+json")},
                             headers={"Idempotency-Key": idempotency_key})
        return IssueResult(external_id=credential_id, documents={"elm-sealed": response.text})

    def issue_batch(self, payloads: list[tuple[AwardPayload, str]]) -> list[IssueResult]:
        """Seal several awards in one request (end-of-year runs); EDC answers one document per file, in order."""
        files = []
        ids = []
        for payload, _key in payloads:
            credential_id, document = self._elm(payload)
            ids.append(credential_id)
            files.append(("files", (f"{credential_id}.jsonld", json.dumps(document).encode(), "application/ld+json")))
        response = http.send(self.session, self.name, "POST", self.base_url + SEAL_BATCH_PATH, timeout=self.timeouts,
                             auth=self.auth, files=files)
        data = response.json()
        sealed = data if isinstance(data, list) else data.get("credentials", [])
        return [IssueResult(external_id=i, documents={"elm-sealed": json.dumps(d)})
                for i, d in zip(ids, sealed, strict=False)]

    def lookup(self, idempotency_key: str, payload: AwardPayload) -> IssueResult | None:
        raise LookupUnsupported("edc: sealing is stateless; re-sealing the same document is harmless")

    def revoke(self, external_id: str, reason: str) -> None:
        """EDC-sealed credentials carry our status list entry; revoking flips our bit (nothing to call)."""
