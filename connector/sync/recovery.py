"""What a crash leaves behind in the sync history, and how it is closed.

A sync writes a ``SyncRun`` row when it starts and closes it when it ends. A worker that is killed
(or loses its lease) never closes it, so the row would say ``running`` for ever. It is closed as
``interrupted`` when the connection's next sync is claimed (at that moment no other sync of the
connection holds a lease, so every run still ``running`` is dead), and by the daemon's sweep for runs
whose worker no longer holds the lease of any sync (a daemon that died and whose connection has not
been synced since).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session

from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import SyncRun, WorkItem

log = logging.getLogger(__name__)

SYNC_KINDS = ("sync_connection", "sync_course")
INTERRUPTED = "interrupted"


def _close(session: Session, condition: object, now: datetime, why: str) -> int:
    runs = session.execute(select(SyncRun.id, SyncRun.connection_id, SyncRun.worker)
                           .where(SyncRun.status == "running", condition)).all()  # type: ignore[arg-type]
    if not runs:
        return 0
    session.execute(update(SyncRun).where(SyncRun.id.in_([r.id for r in runs]), SyncRun.status == "running")
                    .values(status=INTERRUPTED, finished_at=now, error=why)
                    .execution_options(synchronize_session=False))
    for run in runs:
        log.warning("sync run %s of connection %s (worker %s) closed as interrupted: %s", run.id, run.connection_id,
                    run.worker or "command line", why)
    return len(runs)


def close_interrupted_runs(session: Session, connection_id: int, *, now: datetime | None = None,
                           keep_worker: str | None = None) -> int:
    """Close the connection's runs still marked running: call it while holding the connection's sync
    (no other sync of it is running), so none of them can still be alive."""
    now = now or utcnow()
    condition = SyncRun.connection_id == connection_id
    if keep_worker is not None:
        condition = and_(condition, SyncRun.worker.is_distinct_from(keep_worker))
    return _close(session, condition, now, "the sync stopped before the end (its worker was killed, crashed or "
                                           "lost its lease); the next sync went on from its last committed course")


def sweep_interrupted_runs(session: Session, *, now: datetime | None = None) -> int:
    """Close runs whose worker holds no current lease on any sync any more (it died). Runs of the
    ``credbridge sync`` command (no worker) are left to :func:`close_interrupted_runs`."""
    now = now or utcnow()
    alive = exists().where(WorkItem.kind.in_(SYNC_KINDS), WorkItem.status == "running",
                           WorkItem.lease_owner == SyncRun.worker, WorkItem.lease_expires_at >= now)
    return _close(session, and_(SyncRun.worker.is_not(None), ~alive), now,
                  "the worker running this sync stopped (killed, crashed or lost its lease) before the end")
