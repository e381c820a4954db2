"""Work that waits for an administrator, or for a worker to take over from a dead one.

One list for the console and the command line (``credbridge work list``): work items that failed
their attempts or were set aside as stuck (they killed their workers too often), work whose worker
died and that another worker will take over when its lease runs out, and outbox rows that are dead
or whose sender died mid-send. Each line says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import Award, OutboxItem, WorkItem


@dataclass(frozen=True)
class Attention:
    """One line of the list: ``source`` is ``work`` or ``outbox``; ``state`` one of the states below."""

    source: str
    id: int
    school_id: int | None
    what: str  # e.g. "sync_connection connection:3:incremental", "outbox webhook for award 17"
    state: str  # failed | stuck | dead | abandoned (its worker died; another takes it over when the lease ends)
    attempts: int
    crashes: int
    since: datetime | None
    error: str
    action: str  # what to do about it


def needs_attention(session: Session, *, school_id: int | None = None, now: datetime | None = None,
                    limit: int = 200) -> list[Attention]:
    now = now or utcnow()
    rows: list[Attention] = []
    query = select(WorkItem).where(or_(
        WorkItem.status.in_(("failed", "stuck")),
        and_(WorkItem.status == "running", WorkItem.lease_expires_at < now))).order_by(WorkItem.id).limit(limit)
    if school_id is not None:
        query = query.where(WorkItem.school_id == school_id)
    for item in session.scalars(query):
        if item.status == "running":
            state, action = "abandoned", f"its worker ({item.lease_owner}) stopped; another worker takes it over now"
        elif item.status == "stuck":
            state, action = "stuck", f"credbridge work retry {item.id} (after finding why it kills its workers)"
        else:
            state, action = "failed", f"credbridge work retry {item.id}, or wait for the next request"
        rows.append(Attention("work", item.id, item.school_id, f"{item.kind} {item.key}", state, item.attempts,
                              item.crashes, item.updated_at, item.last_error or "", action))
    query = (select(OutboxItem, Award.school_id).join(Award, Award.id == OutboxItem.award_id)
             .where(or_(OutboxItem.status == "dead",
                        and_(OutboxItem.status == "sending", OutboxItem.lease_expires_at < now)))
             .order_by(OutboxItem.id).limit(limit))
    if school_id is not None:
        query = query.where(Award.school_id == school_id)
    for item, item_school in session.execute(query):
        if item.status == "dead":
            state, action = "dead", f"credbridge outbox retry {item.id} (after fixing the target or the data)"
        else:
            state, action = "abandoned", f"its worker ({item.lease_owner}) stopped mid-send; another worker " \
                                         "asks the target what landed, then takes it over"
        rows.append(Attention("outbox", item.id, item_school, f"outbox {item.target} for award {item.award_id}",
                              state, item.attempts, item.crashes, item.updated_at, item.last_error or "", action))
    return rows

