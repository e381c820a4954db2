"""`credbridge daemon`: schedules syncs and runs work items until SIGTERM/SIGINT.

APScheduler (3.x, BackgroundScheduler) only *enqueues*: an interval job per connection queues a
``sync_connection`` item, a daily cron job at ``reconcile_hour_utc`` queues the full reconciliation.
Worker threads claim items with row leases and run the registered handler, so several daemons on one
PostgreSQL share the work and never run the same item (or two syncs of one connection) at once.
Between items each worker thread also takes the other areas' steps (:meth:`Daemon.add_step`: the
issuance outbox), and now and then runs the sweeps that close what a crash left open (sync runs
still marked running; :meth:`Daemon.add_sweep` for the other areas').
On a signal the workers finish the item in hand, or release it if the handler stops early.

Recovery after a crash: a lease is renewed by a heartbeat while its work runs and held
``lease_seconds - poll_seconds`` after the last beat, and idle workers look every ``poll_seconds``,
so another worker holds the work of a killed daemon within ``lease_seconds`` (``bench/recovery.py``
measures it).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from credbridge.connector.leases import hold_seconds
from credbridge.connector.settings import Settings
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, SyncRun, WorkItem
from credbridge.connector.sync.leader import SchedulerLeader, install_schedule
from credbridge.connector.sync.recovery import sweep_interrupted_runs
from credbridge.connector.sync.runner import sync_connection
from credbridge.connector.sync.strategy import SyncOptions
from credbridge.connector.sync.worker import (
    SYNC_CONNECTION,
    SYNC_COURSE,
    WorkContext,
    Worker,
    register_handler,
    request_connection_sync,
)

log = logging.getLogger(__name__)


def handle_sync_connection(ctx: WorkContext, item: WorkItem) -> None:
    full = bool(item.payload.get("full"))
    if item.crashes and _served_since_request(ctx.db, int(item.payload["connection_id"]), full,
                                              item.payload.get("requested_at")):
        # the dead worker finished the sync and died before it could mark the item done: its run
        # answered this request, and a second one would sync the connection twice in one cycle
        log.info("sync of connection %s: already done by a worker that died before recording it",
                 item.payload["connection_id"])
        return
    options = SyncOptions(full=full, stop=ctx.stop)
    sync_connection(ctx.db, int(item.payload["connection_id"]), options, progress=ctx.report_progress,
                    worker=ctx.owner)


def _served_since_request(db: Database, connection_id: int, full: bool, requested_at: str | None) -> bool:
    """Whether a sync of the connection that went through started after the request was made (a full
    request is answered by a full sync only)."""
    if not requested_at:
        return False
    since = datetime.fromisoformat(requested_at)
    modes = ("full",) if full else ("full", "incremental")
    with db.unit_of_work() as session:
        return session.scalar(select(SyncRun.id).where(
            SyncRun.connection_id == connection_id, SyncRun.status == "ok", SyncRun.mode.in_(modes),
            SyncRun.started_at >= since).limit(1)) is not None


def handle_sync_course(ctx: WorkContext, item: WorkItem) -> None:
    options = SyncOptions(course_moodle_id=int(item.payload["course_moodle_id"]), stop=ctx.stop)
    sync_connection(ctx.db, int(item.payload["connection_id"]), options, progress=ctx.report_progress,
                    worker=ctx.owner)


register_handler(SYNC_CONNECTION, handle_sync_connection)
register_handler(SYNC_COURSE, handle_sync_course)


def enqueue_due_syncs(db: Database, *, full: bool = False) -> int:
    with db.unit_of_work() as session:
        ids = list(session.scalars(select(LmsConnection.id).where(LmsConnection.enabled.is_(True))))
        for connection_id in ids:
            request_connection_sync(session, connection_id, full=full)
    return len(ids)


def sweep_sync_runs(db: Database) -> int:
    with db.unit_of_work() as session:
        return sweep_interrupted_runs(session)


#: a step takes a bounded piece of other work (one outbox batch) for a worker; returns how much it did
Step = Callable[[Worker], int]
SWEEP_SECONDS = 60.0


class Daemon:
    def __init__(self, db: Database, settings: Settings, *, workers: int = 2, poll_seconds: float | None = None,
                 schedule: bool = True, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.db = db
        self.settings = settings
        self.stop = threading.Event()
        poll_seconds = settings.poll_seconds if poll_seconds is None else poll_seconds
        self.poll_seconds = poll_seconds
        self.sweep_seconds = sweep_seconds
        self.scheduler = BackgroundScheduler(timezone="UTC") if schedule else None
        #: how long a claim or a heartbeat holds a lease, so a dead worker's work moves on within lease_seconds
        self.hold_seconds = hold_seconds(settings.lease_seconds, poll_seconds)
        self.workers = [Worker(db, f"{settings.daemon_id}/w{i}", settings=settings,
                               lease_seconds=self.hold_seconds, stop=self.stop) for i in range(workers)]
        self._steps: list[Step] = []
        self._sweeps: list[Callable[[], object]] = [lambda: sweep_sync_runs(db)]
        self._next_sweep = 0.0
        self._threads: list[threading.Thread] = []
        self.leader: SchedulerLeader | None = None

    def add_step(self, step: Step) -> None:
        """Other work every worker thread takes between work items (before start())."""
        self._steps.append(step)

    def add_sweep(self, sweep: Callable[[], object]) -> None:
        """A repair run at start and every ``sweep_seconds`` by the first worker thread (before start())."""
        self._sweeps.append(sweep)

    def sweep(self) -> None:
        for sweep in self._sweeps:
            try:
                sweep()
            except Exception:
                log.exception("sweep %s failed; tried again in %.0f s", getattr(sweep, "__name__", sweep),
                              self.sweep_seconds)

    def _schedule(self) -> None:
        assert self.scheduler is not None
        # one schedule for all daemons sharing the database: only the lease holder queues (leader.py)
        self.leader = install_schedule(self.scheduler, self.db, self.settings)
        self.scheduler.start()

    def _work(self, worker: Worker) -> None:
        first = worker is self.workers[0]
        while not self.stop.is_set():
            if first and time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self.sweep_seconds
                self.sweep()
            busy = 0
            try:
                busy += worker.run_one()
                for step in self._steps:
                    if self.stop.is_set():
                        break
                    busy += step(worker)
            except Exception:
                log.exception("worker %s: unexpected error", worker.owner)
                busy = 0
            if not busy:
                self.stop.wait(self.poll_seconds)

    def start(self) -> None:
        if self.scheduler is not None:
            self._schedule()
        for worker in self.workers:
            thread = threading.Thread(target=self._work, args=(worker,), name=worker.owner, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("daemon %s started with %d workers", self.settings.daemon_id, len(self.workers))

    def shutdown(self, timeout: float | None = None) -> None:
        self.stop.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.leader is not None:
            self.leader.release()
        for thread in self._threads:
            thread.join(timeout)
        log.info("daemon %s stopped", self.settings.daemon_id)

    def run_forever(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal %d: finishing the current work items, then stopping", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        self.stop.wait()
        self.shutdown()

