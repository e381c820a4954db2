"""The daemon as it runs in production: the sync scheduler and workers, plus the issuance side.

The sync layer owns scheduling and the work-item workers; issuance plugs in its handlers
(``evaluate``, ``notify``, ``revoke_external``) and one scheduled outbox pass. Both the
``credbridge daemon`` command and the demo build it here, so they cannot drift apart.
"""

from __future__ import annotations

import logging

from credbridge.connector.issuing.pipeline import handlers as issuing_handlers
from credbridge.connector.issuing.pipeline.runner import run_outbox_pass
from credbridge.connector.privacy import retention
from credbridge.connector.settings import Settings
from credbridge.connector.store.db import Database
from credbridge.connector.sync.daemon import Daemon

log = logging.getLogger("credbridge.daemon")
OUTBOX_INTERVAL_SECONDS = 10


def _outbox_pass(db: Database, settings: Settings) -> None:
    stats = run_outbox_pass(db, settings)
    if stats.claimed:
        log.info("outbox: %d claimed, %d sent, %d reconciled, %d failed, %d dead", stats.claimed, stats.sent,
                 stats.reconciled, stats.failed, stats.dead)


def build_daemon(db: Database, settings: Settings, *, workers: int = 2) -> Daemon:
    issuing_handlers.register()
    retention.register()  # the daily retention pass, queued by the scheduler leader
    daemon = Daemon(db, settings, workers=workers)
    if daemon.scheduler is not None:
        # added before start(): APScheduler keeps it pending until the scheduler runs
        daemon.scheduler.add_job(_outbox_pass, "interval", seconds=OUTBOX_INTERVAL_SECONDS, args=[db, settings],
                                 id="outbox", coalesce=True, max_instances=1, misfire_grace_time=30)
    return daemon
