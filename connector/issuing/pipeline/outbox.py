"""Outbox rows: created with the award (same transaction), and the award status that follows them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import SYSTEM_OUTBOX, audit_many, insert_rows
from credbridge.connector.issuing.pipeline.idempotency import idempotency_key
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import Award, OutboxItem, School, WorkItem

DEFAULT_TARGETS = ("embedded",)
KNOWN_TARGETS = ("embedded", "edc", "badgr", "credly", "accredible", "webhook")
#: award states in which its outbox rows may be sent
SENDABLE_AWARD_STATES = ("approved", "issuing", "failed")
NOTIFY_KIND = "notify"
log = logging.getLogger("credbridge.issuing.outbox")


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


def enqueue(session: Session, award: Award, school: School, targets: Sequence[str] | None = None, *,
            write: bool = True) -> list[OutboxItem]:
    """One outbox row per target; call in the transaction that inserts the award. With ``write=False``
    the rows are only added to the session (flushed with the award by the caller, which then writes
    :func:`created_audits` for them): how a batch of evaluations writes all its awards at once."""
    items = []
    for target in targets or targets_of(school):
        key = idempotency_key(school.slug, award.learner_id, award.template_code, award.template_version, target)
        item = OutboxItem(award=award, target=target, idempotency_key=key, status="pending", attempts=0, crashes=0)
        session.add(item)
        items.append(item)
    if write:
        session.flush()
        audit_many(session, created_audits(items, school.id))
    return items


def created_audits(items: Sequence[OutboxItem], school_id: int) -> list[dict[str, Any]]:
    return [{"school_id": school_id, "actor": "system:outbox", "action": "outbox.created",
             "subject_type": "outbox_item", "subject_id": item.id,
             "details": {"award_id": item.award_id, "target": item.target, "idempotency_key": item.idempotency_key}}
            for item in items]


def items_of(session: Session, award_id: int) -> list[OutboxItem]:
    return list(session.scalars(select(OutboxItem).where(OutboxItem.award_id == award_id).order_by(OutboxItem.id)))


def all_sent(session: Session, award_id: int) -> bool:
    items = items_of(session, award_id)
    return bool(items) and all(i.status == "sent" for i in items)


def lock_awards(session: Session, award_ids: Iterable[int]) -> list[Award]:
    """The awards, row-locked until the caller commits (PostgreSQL; SQLite has one writer anyway), always
    in id order so that two workers locking overlapping sets cannot deadlock. Their attributes are read
    again under the lock, not taken from the session's earlier reads."""
    ids = sorted(set(award_ids))
    if not ids:
        return []
    query = select(Award).where(Award.id.in_(ids)).order_by(Award.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return list(session.scalars(query))


def complete_awards(session: Session, award_ids: Iterable[int], *, notify: bool = True,
                    actor: str = SYSTEM_OUTBOX, locked: Sequence[Award] | None = None,
                    entries: list[dict[str, Any]] | None = None) -> list[int]:
    """Move every award of ``award_ids`` that is ``issuing`` and whose deliveries are all sent to ``issued``
    (and queue its notification); returns the ids moved.

    Two deliveries of one award may be recorded by two workers at the same moment: each must see the
    other's outcome, or neither would finish the award. So the award row is locked first and the
    deliveries are read after the lock (a new statement sees every commit made until then): whichever
    worker comes second sees both sent, and the move from ``issuing`` happens exactly once.

    ``locked``: the awards, already locked by :func:`lock_awards` in this transaction; ``entries``: a list
    the audit entries are added to (the caller writes them with its own), instead of writing them here."""
    wanted = set(award_ids)
    awards = [a for a in (locked if locked is not None else lock_awards(session, wanted))
              if a.id in wanted and a.status == "issuing"]
    if not awards:
        return []
    ids = [a.id for a in awards]
    states: dict[int, set[str]] = {}
    for award_id, status in session.execute(select(OutboxItem.award_id, OutboxItem.status)
                                            .where(OutboxItem.award_id.in_(ids))):
        states.setdefault(award_id, set()).add(status)
    done = [award for award in awards if states.get(award.id) == {"sent"}]
    for award in done:
        award.status = "issued"
    issued = [{"school_id": a.school_id, "actor": actor, "action": "award.issued", "subject_type": "award",
               "subject_id": a.id} for a in done]
    if entries is not None:
        entries += issued
    else:
        session.flush()
        audit_many(session, issued)
    if notify:
        enqueue_notifications(session, done)
    return [a.id for a in done]


def repair_awards(session: Session, *, limit: int = 1000) -> list[int]:
    """The sweep behind :func:`complete_awards`: awards left ``issuing`` although every delivery is sent
    (what a lost race or a crash between the two used to leave), issued now with their notification."""
    candidates = list(session.scalars(
        select(Award.id).where(Award.status == "issuing",
                               ~select(OutboxItem.id).where(OutboxItem.award_id == Award.id,
                                                            OutboxItem.status != "sent").exists(),
                               select(OutboxItem.id).where(OutboxItem.award_id == Award.id).exists())
        .order_by(Award.id).limit(limit)))
    repaired = complete_awards(session, candidates, actor="system:sweeper")
    if repaired:
        log.warning("%d award(s) were left issuing with every delivery sent; issued now: %s", len(repaired),
                    repaired[:20])
    return repaired


def may_have_issued(session: Session, award: Award) -> bool:
    """Whether a credential of the award may exist at some target: issued, being sent, or a send whose
    outcome was never learnt (a timeout after the target committed, a worker that died)."""
    if award.status in ("issued", "issuing"):
        return True
    return any(i.status in ("sent", "sending") or i.attempts > 0 for i in items_of(session, award.id))


def enqueue_notification(session: Session, award: Award) -> None:
    """A durable work item so the e-mail / AGS score survives a crash right after issuance."""
    enqueue_notifications(session, [award])


def enqueue_notifications(session: Session, awards: Sequence[Award]) -> None:
    """:func:`enqueue_notification` for many awards, with one query for those already queued."""
    keys = {f"award:{a.id}": a for a in awards}
    if not keys:
        return
    queued = set(session.scalars(select(WorkItem.key).where(WorkItem.kind == NOTIFY_KIND,
                                                            WorkItem.key.in_(list(keys)))))
    now = utcnow()
    rows = [{"school_id": award.school_id, "kind": NOTIFY_KIND, "key": key, "payload": {"award_id": award.id},
             "status": "pending", "run_after": now, "attempts": 0, "crashes": 0, "progress": {}, "created_at": now,
             "updated_at": now} for key, award in keys.items() if key not in queued]
    if rows:
        insert_rows(session, WorkItem, rows)
