"""The daemon as it runs in production: the sync scheduler and workers, plus the issuance side.

The sync layer owns scheduling and the work-item workers; issuance plugs in its handlers
(``evaluate``, ``notify``, ``revoke_external``), the outbox as a step every worker thread takes
between work items (one batch at a time, so the outbox is sent by as many threads as there are
workers, and a killed daemon's deliveries are taken over as fast as its work items), and the sweep
that issues awards whose deliveries are all sent. Both the ``credbridge daemon`` command and the
demo build it here, so they cannot drift apart.
"""

from __future__ import annotations

import logging

from credbridge.connector.issuing.adapters import AdapterRegistry
from credbridge.connector.issuing.pipeline import handlers as issuing_handlers
from credbridge.connector.issuing.pipeline.backoff import Backoff
from credbridge.connector.issuing.pipeline.outbox import repair_awards
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.privacy import retention
from credbridge.connector.settings import Settings
from credbridge.connector.store.db import Database
from credbridge.connector.sync.daemon import Daemon
from credbridge.connector.sync.worker import Worker

log = logging.getLogger("credbridge.daemon")


def build_daemon(db: Database, settings: Settings, *, workers: int = 2, poll_seconds: float | None = None,
                 schedule: bool = True) -> Daemon:
    issuing_handlers.register()
    retention.register()  # the daily retention pass, queued by the scheduler leader
    daemon = Daemon(db, settings, workers=workers, poll_seconds=poll_seconds, schedule=schedule)
    adapters = AdapterRegistry(db, settings.base_url)
    outboxes: dict[str, OutboxWorker] = {}

    def outbox_step(worker: Worker) -> int:
        outbox = outboxes.get(worker.owner)
        if outbox is None:
            outbox = outboxes[worker.owner] = OutboxWorker(
                db, adapters, WorkerConfig(owner=f"{worker.owner}:outbox", lease_seconds=daemon.hold_seconds,
                                           max_crashes=settings.max_crashes,
                                           backoff=Backoff(base_seconds=settings.retry_seconds)))
        stats = outbox.run_batch()
        if stats.claimed:
            log.info("outbox: %d claimed, %d sent, %d reconciled, %d failed, %d dead", stats.claimed, stats.sent,
                     stats.reconciled, stats.failed, stats.dead)
        return stats.claimed

    def repair() -> None:
        with db.unit_of_work() as session:
            repair_awards(session)

    daemon.add_step(outbox_step)
    daemon.add_sweep(repair)
    return daemon
