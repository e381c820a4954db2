"""Retention: delete what is kept only for a while, once a day (queued by the scheduler leader).

| setting | default | deletes |
|---|---|---|
| ``retention_sync_runs_days`` | 180 | sync history (``sync_run``) finished before then |
| ``retention_work_items_days`` | 30 | work items done before then (failed ones stay for the admin) |
| ``retention_evidence_days`` | unset (keep) | evidence versions superseded before then |

Only *superseded* evidence versions go: the current version of every fact (withdrawn or not) is what
evaluation judges, and deleting it would look like a lost grade. Expired LTI login states, used
nonces and sessions are deleted too (they are useless once expired). The audit log is append-only
and kept: it names learners by id only, and an erased learner's row no longer says who that was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from credbridge.connector.settings import Settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Evidence, LaunchSession, LtiLoginState, LtiUsedNonce, SyncRun, WorkItem

log = logging.getLogger(__name__)

RETENTION = "retention"
#: kinds never deleted by age: the scheduler's own bookkeeping (its requested_at is the schedule)
SCHEDULE_KINDS = ("sync_connection", RETENTION)


@dataclass
class RetentionReport:
    deleted: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        parts = [f"{n} {what}" for what, n in self.deleted.items() if n]
        return "retention: deleted " + (", ".join(parts) if parts else "nothing")


def apply_retention(session: Session, settings: Settings, now: datetime | None = None) -> RetentionReport:
    now = now or utcnow()
    report = RetentionReport()

    def run(what: str, statement: object) -> None:
        report.deleted[what] = int(session.execute(statement).rowcount or 0)  # type: ignore[arg-type]

    if settings.retention_sync_runs_days:
        cutoff = now - timedelta(days=settings.retention_sync_runs_days)
        run("sync runs", delete(SyncRun).where(SyncRun.started_at < cutoff, SyncRun.status != "running"))
    if settings.retention_work_items_days:
        cutoff = now - timedelta(days=settings.retention_work_items_days)
        run("work items", delete(WorkItem).where(WorkItem.status == "done", WorkItem.updated_at < cutoff,
                                                 WorkItem.kind.not_in(SCHEDULE_KINDS)))
    if settings.retention_evidence_days:
        cutoff = now - timedelta(days=settings.retention_evidence_days)
        run("superseded evidence versions", delete(Evidence).where(Evidence.is_current.is_(False),
                                                                    Evidence.observed_at < cutoff))
    run("expired sessions", delete(LaunchSession).where(LaunchSession.expires_at < now))
    run("expired login states", delete(LtiLoginState).where(LtiLoginState.expires_at < now))
    run("expired nonces", delete(LtiUsedNonce).where(LtiUsedNonce.expires_at < now))
    return report


def run_retention(db: Database, settings: Settings) -> RetentionReport:
    with db.unit_of_work() as session:
        report = apply_retention(session, settings)
    log.info("%s", report.line())
    return report


def register() -> None:
    """The daily pass: a ``retention`` work item queued by the scheduler leader, run by any worker."""
    from credbridge.connector.sync.leader import register_periodic
    from credbridge.connector.sync.worker import WorkContext, register_handler

    def handle(ctx: WorkContext, _item: WorkItem) -> None:
        if ctx.settings is None:
            raise RuntimeError("the retention pass needs the daemon's settings")
        run_retention(ctx.db, ctx.settings)

    register_handler(RETENTION, handle)
    register_periodic(RETENTION, RETENTION, timedelta(days=1))
