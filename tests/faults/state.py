"""What the campaign compares: the state a run ends in, without database ids (learners are named by their
Moodle idnumber, evidence by the Moodle user id), and what must be left over: nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    Award,
    Credential,
    Evidence,
    Learner,
    LearnerIdentity,
    OutboxItem,
    StatusList,
    SyncRun,
    WorkItem,
)


def snapshot(db: Database) -> dict[str, Any]:
    """Awards, credentials per award and format, evidence versions, status-list entries, deliveries."""
    with db.unit_of_work() as s:
        learner = dict(s.execute(select(Learner.id, Learner.idnumber)).all())
        moodle_user = dict(s.execute(select(LearnerIdentity.learner_id, LearnerIdentity.external_id)).all())
        awards = {a.id: (learner[a.learner_id], a.template_code, a.template_version)
                  for a in s.scalars(select(Award))}
        award_states = {awards[a.id]: a.status for a in s.scalars(select(Award))}
        credentials = Counter((awards[c.award_id], c.format, c.target) for c in s.scalars(select(Credential)))
        entries: dict[tuple, set[tuple[int, int]]] = {}
        for c in s.scalars(select(Credential).where(Credential.status_index.is_not(None))):
            entries.setdefault(awards[c.award_id], set()).add((c.status_list_id, c.status_index))
        indexes = sorted(next(iter(e))[1] for e in entries.values() if len(e) == 1)
        lists = s.execute(select(func.count(), func.sum(StatusList.next_index))).one()
        evidence = sorted((moodle_user.get(e.learner_id), e.kind, e.source_key, e.version, e.content_hash,
                           e.withdrawn, e.is_current) for e in s.scalars(select(Evidence)))
        deliveries = {(awards[o.award_id], o.target): o.status for o in s.scalars(select(OutboxItem))}
        keys = Counter(o.idempotency_key for o in s.scalars(select(OutboxItem)))
        notified = s.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.kind == "notify",
                                                                             WorkItem.status == "done"))
    return {
        "awards": award_states,
        "credentials": dict(credentials),
        # each award's credentials share one status-list entry, entries are not shared, and none is wasted
        "status_entries": {"awards_with_one_entry": sum(len(e) == 1 for e in entries.values()),
                           "awards_with_several": sum(len(e) > 1 for e in entries.values()),
                           "indexes_are_0_to_n": indexes == list(range(len(indexes))),
                           "lists": lists[0], "allocated": lists[1] or 0},
        "evidence": evidence,
        "deliveries": deliveries,
        "one_row_per_idempotency_key": set(keys.values()) <= {1},
        "notified": notified,
    }


def leftovers(db: Database) -> dict[str, int]:
    """Everything that must be zero when the system is at rest after the campaign: nothing running,
    issuing, leased, failed, stuck or waiting."""
    with db.unit_of_work() as s:
        def count(model: Any, *where: Any) -> int:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        return {
            "work items not done": count(WorkItem, WorkItem.status != "done"),
            "work items leased": count(WorkItem, WorkItem.lease_owner.is_not(None)),
            "outbox rows not sent": count(OutboxItem, OutboxItem.status != "sent"),
            "outbox rows leased": count(OutboxItem, OutboxItem.lease_owner.is_not(None)),
            "awards not issued": count(Award, Award.status != "issued"),
            "sync runs running": count(SyncRun, SyncRun.status == "running"),
        }


def at_rest(db: Database) -> bool:
    """Quiescent: the last sync went through (a failed or interrupted one is retried: its work item is
    left pending), and nothing is left over."""
    with db.unit_of_work() as s:
        last = s.scalar(select(SyncRun.status).order_by(SyncRun.id.desc()).limit(1))
    return last == "ok" and not any(leftovers(db).values())
