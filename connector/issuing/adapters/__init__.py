"""Issuing targets behind one interface (:class:`base.IssuerAdapter`): the embedded signer and the
external services. :func:`adapter_for` builds the adapter of one school's target from its settings
(``School.policy["targets"][<name>]``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from credbridge.connector.issuing.adapters.accredible import AccredibleAdapter
from credbridge.connector.issuing.adapters.badgr import BadgrAdapter
from credbridge.connector.issuing.adapters.base import AwardPayload, IssuerAdapter
from credbridge.connector.issuing.adapters.credly import CredlyAdapter
from credbridge.connector.issuing.adapters.edc import EdcAdapter
from credbridge.connector.issuing.adapters.embedded import EmbeddedAdapter
from credbridge.connector.issuing.adapters.webhook import WebhookAdapter
from credbridge.connector.issuing.pipeline.outbox import UnknownTarget, target_settings
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Credential, School


class AdapterRegistry:
    """An adapter factory for the outbox worker; adapters are cached per (school, target)."""

    def __init__(self, db: Database, base_url: str) -> None:
        self.db = db
        self.base_url = base_url
        self._cache: dict[tuple[int, str], IssuerAdapter] = {}

    def _elm_source(self, payload: AwardPayload) -> tuple[str, dict[str, Any]] | None:
        with self.db.unit_of_work() as session:
            row = session.scalars(select(Credential).where(Credential.award_id == payload.award_id,
                                                           Credential.format == "elm")).first()
            return (row.uuid, json.loads(row.document)) if row else None

    def build(self, school: School, target: str) -> IssuerAdapter:
        config = target_settings(school, target)
        if target == "embedded":
            return EmbeddedAdapter(self.db, self.base_url)
        if target == "webhook":
            return WebhookAdapter(config)
        if target == "edc":
            return EdcAdapter(config, self._elm_source)
        if target == "badgr":
            return BadgrAdapter(config)
        if target == "credly":
            return CredlyAdapter(config)
        if target == "accredible":
            return AccredibleAdapter(config)
        raise UnknownTarget(f"unknown issuing target {target!r}")

    def __call__(self, school: School, target: str) -> IssuerAdapter:
        key = (school.id, target)
        if key not in self._cache:
            self._cache[key] = self.build(school, target)
        return self._cache[key]


__all__ = ["AdapterRegistry", "AwardPayload", "IssuerAdapter"]
