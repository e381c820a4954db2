"""One schedule for many daemons: the daemon holding the scheduler lease queues what is due.

Every daemon runs the same tick (``scheduler_tick_seconds``). A tick first takes or renews the
``scheduler`` row of :class:`~credbridge.connector.store.models.SchedulerLease` with one conditional
UPDATE (it succeeds for the holder, or for anyone once the lease has expired), so exactly one daemon
leads at a time on PostgreSQL and on SQLite alike. Only the leader then queues work; the workers of
every daemon run it through the work-item leases.

What is due is read from the database, not from timers in one process: a connection's sync is due
when its last request is older than its interval and no sync of it is pending or running. A leader
that dies and the one that takes over therefore keep one rhythm — a site is synced once per interval,
not once per interval per daemon, nor again at every change of leader. The nightly full reconciliation
and the daily retention pass are queued the same way. Timestamps are UTC from each daemon's clock
(keep the machines on NTP: a clock far ahead could take the lease early).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from credbridge.connector.settings import Settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, SchedulerLease, WorkItem
from credbridge.connector.sync.worker import SYNC_CONNECTION, enqueue, request_connection_sync

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
#: a connection's sync in these states is not queued again; ``stuck`` (set aside after its workers died
#: too often, connector/sync/worker.py) waits for an administrator's retry, not for the next interval
ACTIVE = ("pending", "running", "stuck")


class SchedulerLeader:
    """This daemon's claim on the schedule."""

    def __init__(self, db: Database, owner: str, *, lease_seconds: int = 60, name: str = LEASE_NAME) -> None:
        self.db = db
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.name = name
        self.leading = False
        self.term: int | None = None

    def hold(self, now: datetime | None = None) -> bool:
        """Take the lease if it is free or expired, renew it if it is ours; True while we lead."""
        now = now or utcnow()
        expires = now + timedelta(seconds=self.lease_seconds)
        with self.db.unit_of_work() as session:
            renewed = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.owner == self.owner,
                       SchedulerLease.expires_at >= now)
                .values(expires_at=expires)).rowcount
            if not renewed:
                taken = session.execute(
                    update(SchedulerLease)
                    .where(SchedulerLease.name == self.name,
                           or_(SchedulerLease.owner.is_(None), SchedulerLease.expires_at.is_(None),
                               SchedulerLease.expires_at < now, SchedulerLease.owner == self.owner))
                    .values(owner=self.owner, expires_at=expires, acquired_at=now,
                            term=SchedulerLease.term + 1)).rowcount
                if not taken and session.get(SchedulerLease, self.name) is None:
                    # a database whose row was deleted by hand: recreate it (the key makes this race-safe)
                    session.add(SchedulerLease(name=self.name, owner=None, term=0))
                    session.flush()
                    return self.hold(now)
            row = session.get(SchedulerLease, self.name)
            leading = row is not None and row.owner == self.owner
            term = row.term if row is not None else None
            holder = row.owner if row is not None else None
        if leading and not self.leading:
            log.info("daemon %s now keeps the schedule (term %s)", self.owner, term)
        elif self.leading and not leading:
            log.warning("daemon %s no longer keeps the schedule: %s holds it", self.owner, holder)
        self.leading, self.term = leading, term
        return leading

    def release(self) -> None:
        """Give the lease up at a clean stop, so another daemon takes over at its next tick."""
        try:
            with self.db.unit_of_work() as session:
                session.execute(update(SchedulerLease)
                                .where(SchedulerLease.name == self.name, SchedulerLease.owner == self.owner)
                                .values(expires_at=None, owner=None))
        except Exception:  # the database is gone: the lease then simply expires
            log.warning("daemon %s could not release the schedule; it passes on in %d s", self.owner,
                        self.lease_seconds, exc_info=True)
            self.leading = False
            return
        if self.leading:
            log.info("daemon %s released the schedule", self.owner)
        self.leading = False


def current_leader(session: Session, now: datetime | None = None) -> str | None:
    """The daemon that keeps the schedule now, or None (for the operations page and metrics)."""
    row = session.get(SchedulerLease, LEASE_NAME)
    now = now or utcnow()
    if row is None or row.owner is None or row.expires_at is None or row.expires_at < now:
        return None
    return row.owner


# ---------------------------------------------------------------------------------------------- periodic work
@dataclass(frozen=True)
class Periodic:
    """Work other areas want queued every ``every`` (once for the whole installation)."""

    kind: str
    key: str
    every: timedelta
    payload: dict[str, Any] = field(default_factory=dict)


_periodic: dict[tuple[str, str], Periodic] = {}


def register_periodic(kind: str, key: str, every: timedelta, payload: dict[str, Any] | None = None) -> None:
    """Ask the leader to queue a ``kind`` work item (its handler registered with ``register_handler``)
    every ``every``; e.g. the privacy package's retention pass, once a day."""
    _periodic[(kind, key)] = Periodic(kind, key, every, dict(payload or {}))


def _requested_at(item: WorkItem) -> datetime | None:
    value = (item.payload or {}).get("requested_at")
    if not value:
        return None
    stamp = datetime.fromisoformat(value)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _stamp(item: WorkItem, now: datetime) -> None:
    """The schedule counts from the tick's own instant (the same clock that judged it due)."""
    item.payload = {**(item.payload or {}), "requested_at": now.isoformat()}


def _last_reconcile_slot(now: datetime, hour: int) -> datetime:
    slot = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return slot if slot <= now else slot - timedelta(days=1)


@dataclass
class TickReport:
    leading: bool
    syncs: list[int] = field(default_factory=list)
    reconciliations: list[int] = field(default_factory=list)
    periodic: list[str] = field(default_factory=list)


def queue_due_work(session: Session, settings: Settings, now: datetime | None = None) -> TickReport:
    """Queue every sync, reconciliation and periodic item that is due (the leader's half of a tick)."""
    now = now or utcnow()
    report = TickReport(leading=True)
    items = {item.key: item for item in session.scalars(select(WorkItem).where(WorkItem.kind == SYNC_CONNECTION))}
    connections = session.execute(select(LmsConnection.id, LmsConnection.sync_interval_minutes)
                                  .where(LmsConnection.enabled.is_(True)).order_by(LmsConnection.id)).all()
    slot = _last_reconcile_slot(now, settings.reconcile_hour_utc)
    for connection_id, minutes in connections:
        incremental = items.get(f"connection:{connection_id}:incremental")
        full = items.get(f"connection:{connection_id}:full")
        busy = any(i is not None and i.status in ACTIVE for i in (incremental, full))
        if busy:
            continue
        last_full = _requested_at(full) if full is not None else None
        # the nightly slot: once after reconcile_hour_utc, and for a connection never reconciled only
        # within that hour (a daemon started at noon does not re-read every Moodle at once)
        if (last_full is None and now - slot < timedelta(hours=1)) or (last_full is not None and last_full < slot):
            _stamp(request_connection_sync(session, connection_id, full=True), now)
            report.reconciliations.append(connection_id)
            continue
        interval = timedelta(minutes=minutes or settings.sync_interval_minutes)
        last = _requested_at(incremental) if incremental is not None else None
        if last is None or last + interval <= now:
            _stamp(request_connection_sync(session, connection_id), now)
            report.syncs.append(connection_id)
    for periodic in _periodic.values():
        item = session.scalar(select(WorkItem).where(WorkItem.kind == periodic.kind, WorkItem.key == periodic.key))
        last = _requested_at(item) if item is not None else None
        if item is not None and item.status in ACTIVE:
            continue
        if last is None or last + periodic.every <= now:
            _stamp(enqueue(session, periodic.kind, periodic.key, periodic.payload), now)
            report.periodic.append(f"{periodic.kind}:{periodic.key}")
    return report


def tick(db: Database, settings: Settings, leader: SchedulerLeader, now: datetime | None = None) -> TickReport:
    """One scheduler tick of one daemon: lead or not, and if leading queue what is due."""
    now = now or utcnow()
    if not leader.hold(now):
        return TickReport(leading=False)
    with db.unit_of_work() as session:
        report = queue_due_work(session, settings, now)
    if report.syncs or report.reconciliations or report.periodic:
        log.info("schedule: queued %d syncs, %d full reconciliations%s", len(report.syncs),
                 len(report.reconciliations), f", {', '.join(report.periodic)}" if report.periodic else "")
    return report


def install_schedule(scheduler: Any, db: Database, settings: Settings,
                     owner: str | None = None) -> SchedulerLeader:
    """Add the tick to an APScheduler scheduler (the daemon's hook); returns this daemon's leader."""
    leader = SchedulerLeader(db, owner or settings.daemon_id, lease_seconds=settings.scheduler_lease_seconds)

    def run_tick() -> None:
        try:
            tick(db, settings, leader)
        except Exception:  # a database hiccup: the next tick tries again
            log.exception("schedule tick failed")

    scheduler.add_job(run_tick, "interval", seconds=settings.scheduler_tick_seconds, id="schedule",
                      next_run_time=datetime.now(UTC), coalesce=True, max_instances=1,
                      misfire_grace_time=max(1, settings.scheduler_tick_seconds))
    return leader

