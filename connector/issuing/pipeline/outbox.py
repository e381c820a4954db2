"""Outbox rows: created with the award (same transaction), and the award status that follows them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.issuing.pipeline.idempotency import idempotency_key
from credbridge.connector.store.models import Award, OutboxItem, School, WorkItem

DEFAULT_TARGETS = ("embedded",)
KNOWN_TARGETS = ("embedded", "edc", "badgr", "credly", "accredible", "webhook")
#: award states in which its outbox rows may be sent
SENDABLE_AWARD_STATES = ("approved", "issuing", "failed")
NOTIFY_KIND = "notify"


class UnknownTarget(ValueError):
    pass


def targets_of(school: School) -> list[str]:
    """The school's issuing targets, from ``policy["targets"]`` (a list of names, or a mapping of
    name -> settings); the embedded signer when none is configured."""
    configured: Any = (school.policy or {}).get("targets")
    names = list(configured) if configured else list(DEFAULT_TARGETS)
    for name in names:
        if name not in KNOWN_TARGETS:
            raise UnknownTarget(f"school {school.slug}: unknown issuing target {name!r} "
                                f"(known: {', '.join(KNOWN_TARGETS)})")
    return names


def target_settings(school: School, target: str) -> dict[str, Any]:
    configured: Any = (school.policy or {}).get("targets")
    if isinstance(configured, dict):
        return dict(configured.get(target) or {})
    return {}


def enqueue(session: Session, award: Award, school: School, targets: Sequence[str] | None = None) -> list[OutboxItem]:
    """One outbox row per target; call in the transaction that inserts the award."""
    items = []
    for target in targets or targets_of(school):
        key = idempotency_key(school.slug, award.learner_id, award.template_code, award.template_version, target)
        item = OutboxItem(award_id=award.id, target=target, idempotency_key=key, status="pending", attempts=0)
        session.add(item)
        items.append(item)
    session.flush()
    for item in items:
        audit(session, school_id=school.id, actor="system:outbox", action="outbox.created",
              subject_type="outbox_item", subject_id=item.id, award_id=award.id, target=item.target,
              idempotency_key=item.idempotency_key)
    return items


def items_of(session: Session, award_id: int) -> list[OutboxItem]:
    return list(session.scalars(select(OutboxItem).where(OutboxItem.award_id == award_id).order_by(OutboxItem.id)))


def all_sent(session: Session, award_id: int) -> bool:
    items = items_of(session, award_id)
    return bool(items) and all(i.status == "sent" for i in items)


def may_have_issued(session: Session, award: Award) -> bool:
    """Whether a credential of the award may exist at some target: issued, being sent, or a send whose
    outcome was never learnt (a timeout after the target committed, a worker that died)."""
    if award.status in ("issued", "issuing"):
        return True
    return any(i.status in ("sent", "sending") or i.attempts > 0 for i in items_of(session, award.id))


def enqueue_notification(session: Session, award: Award) -> None:
    """A durable work item so the e-mail / AGS score survives a crash right after issuance."""
    key = f"award:{award.id}"
    exists = session.scalar(select(WorkItem.id).where(WorkItem.kind == NOTIFY_KIND, WorkItem.key == key))
    if exists is None:
        session.add(WorkItem(school_id=award.school_id, kind=NOTIFY_KIND, key=key, payload={"award_id": award.id}))
