"""What teachers and administrators may do to an award: approve, hold, issue now, revoke, retry.

The awards service (``credbridge.connector.awards.service``) owns these transitions; while it has not
landed, the same transitions are written here on the store directly, each with an audit entry, inside
the caller's transaction. Once the service exposes a function of the same name, it is used instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.issuing.pipeline.outbox import enqueue, items_of
from credbridge.connector.issuing.status import AlreadyRevoked, revoke_credential
from credbridge.connector.store.models import Award, Credential, OutboxItem, School

ACTIONS = ("approve", "hold", "issue_now", "revoke")


class ActionRefused(Exception):
    """The award is not in a state that allows the action; the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _service(name: str) -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("credbridge.connector.awards.service")
    except ImportError:
        return None
    found = getattr(module, name, None)
    return found if callable(found) else None


def _require(award: Award, allowed: tuple[str, ...], action: str) -> None:
    if award.status not in allowed:
        raise ActionRefused("wrong_state", f"cannot {action.replace('_', ' ')} an award that is {award.status}")


def _make_sendable(session: Session, award: Award, now: datetime) -> None:
    """Outbox rows exist (created now if the award had none) and are due at once."""
    school = session.get(School, award.school_id)
    items = items_of(session, award.id)
    if not items and school is not None:
        items = enqueue(session, award, school)
    for item in items:
        if item.status == "dead":
            item.status, item.attempts = "pending", 0
        if item.status in ("pending", "failed"):
            item.next_attempt_at = now


def apply(session: Session, award: Award, action: str, *, actor: str, reason: str = "",
          now: datetime | None = None) -> None:
    """Perform one action on one award (in the caller's transaction) or raise :class:`ActionRefused`."""
    if action not in ACTIONS:
        raise ActionRefused("unknown_action", f"unknown action {action!r}")
    service = _service(action)
    if service is not None:
        kwargs: dict[str, Any] = {"actor": actor}
        if action == "revoke":
            kwargs["reason"] = reason
        service(session, award, **kwargs)
        return
    now = now or datetime.now(UTC)
    before = award.status
    if action == "approve":
        _require(award, ("pending_approval", "held", "flagged"), action)
        if before == "flagged":
            award.status = "issued"  # the teacher confirms the credential may stand
        else:
            award.status = "approved"
            _make_sendable(session, award, now)
    elif action == "hold":
        _require(award, ("pending_approval", "approved", "flagged"), action)
        award.status = "held"
    elif action == "issue_now":
        _require(award, ("pending_approval", "held", "approved", "failed", "dead"), action)
        award.status = "approved"
        _make_sendable(session, award, now)
    elif action == "revoke":
        if not reason.strip():
            raise ActionRefused("reason_required", "a revocation needs a reason")
        _require(award, ("issued", "flagged"), action)
        for credential in session.scalars(select(Credential).where(Credential.award_id == award.id)):
            try:
                revoke_credential(session, credential, reason=reason, actor=actor, now=now)
            except AlreadyRevoked:
                continue
        award.status = "revoked"
    award.decided_by = actor
    award.updated_at = now
    audit(session, school_id=award.school_id, actor=actor, action=f"award.{action}", subject_type="award",
          subject_id=award.id, before=before, after=award.status, **({"reason": reason} if reason else {}))


def retry_outbox_item(session: Session, item: OutboxItem, *, actor: str, now: datetime | None = None) -> None:
    """Send a dead (or failed) outbox row again from a clean slate."""
    service = _service("retry_dead")
    if service is not None:
        service(session, item, actor=actor)
        return
    if item.status not in ("dead", "failed"):
        raise ActionRefused("wrong_state", f"outbox item {item.id} is {item.status}, not failed or dead")
    before = item.status
    item.status, item.attempts, item.next_attempt_at = "pending", 0, now or datetime.now(UTC)
    award = item.award
    if award is not None and award.status in ("failed", "dead"):
        award.status = "approved"
    audit(session, school_id=award.school_id if award else None, actor=actor, action="outbox.retried",
          subject_type="outbox_item", subject_id=item.id, before=before)
