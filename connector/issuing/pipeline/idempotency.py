"""Deterministic idempotency keys: the same award to the same target always yields the same key, in
every process and after every restart, so a target (or our lookup) can recognise a repeat."""

from __future__ import annotations

import hashlib
import uuid

# a fixed namespace so keys are stable across installations' upgrades (never change it)
NAMESPACE = uuid.UUID("6f0f3c43-8a59-5d4e-9a7e-2f1c0b6a4d11")


def idempotency_key(school_slug: str, learner_id: int, template_code: str, template_version: int,
                    target: str) -> str:
    digest = hashlib.sha256(
        f"{school_slug}\x1f{learner_id}\x1f{template_code}\x1f{template_version}\x1f{target}".encode()
    ).hexdigest()
    return str(uuid.uuid5(NAMESPACE, digest))
