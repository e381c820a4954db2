"""`credbridge daemon`: schedules syncs and runs work items until SIGTERM/SIGINT.

APScheduler (3.x, BackgroundScheduler) only *enqueues*: an interval job per connection queues a
``sync_connection`` item, a daily cron job at ``reconcile_hour_utc`` queues the full reconciliation.
Worker threads claim items with row leases and run the registered handler, so several daemons on one
PostgreSQL share the work and never run the same item (or two syncs of one connection) at once.
On a signal the workers finish the item in hand, or release it if the handler stops early.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from credbridge.connector.settings import Settings
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, WorkItem
from credbridge.connector.sync.leader import SchedulerLeader, install_schedule
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
    options = SyncOptions(full=bool(item.payload.get("full")), stop=ctx.stop)
    sync_connection(ctx.db, int(item.payload["connection_id"]), options, progress=ctx.report_progress,
                    worker=ctx.owner)


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


class Daemon:
    def __init__(self, db: Database, settings: Settings, *, workers: int = 2, poll_seconds: float = 2.0,
                 schedule: bool = True) -> None:
        self.db = db
        self.settings = settings
        self.stop = threading.Event()
        self.poll_seconds = poll_seconds
        self.scheduler = BackgroundScheduler(timezone="UTC") if schedule else None
        self.workers = [Worker(db, f"{settings.daemon_id}/w{i}", settings=settings,
                               lease_seconds=settings.lease_seconds, stop=self.stop) for i in range(workers)]
        self._threads: list[threading.Thread] = []
        self.leader: SchedulerLeader | None = None

    def _schedule(self) -> None:
        assert self.scheduler is not None
        # one schedule for all daemons sharing the database: only the lease holder queues (leader.py)
        self.leader = install_schedule(self.scheduler, self.db, self.settings)
        self.scheduler.start()

    def _work(self, worker: Worker) -> None:
        while not self.stop.is_set():
            try:
                busy = worker.run_one()
            except Exception:
                log.exception("worker %s: unexpected error", worker.owner)
                busy = False
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

