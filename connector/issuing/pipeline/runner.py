"""How an entry point (the daemon's scheduler, ``credbridge issue``) runs the outbox: one worker per
process, named after the daemon, with the adapters of every school's targets."""

from __future__ import annotations

from credbridge.connector.issuing.adapters import AdapterRegistry
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, RunStats, WorkerConfig
from credbridge.connector.settings import Settings
from credbridge.connector.store.db import Database


def make_outbox_worker(db: Database, settings: Settings, *, owner_suffix: str = "outbox") -> OutboxWorker:
    # the lease must outlast a lookup plus a send at the adapters' default timeouts (2 x 35 s)
    lease = max(settings.lease_seconds, 120)
    return OutboxWorker(db, AdapterRegistry(db, settings.base_url),
                        WorkerConfig(owner=f"{settings.daemon_id}:{owner_suffix}", lease_seconds=lease))


def run_outbox_pass(db: Database, settings: Settings, *, school_id: int | None = None) -> RunStats:
    """Send everything due now; what the daemon schedules every few seconds."""
    return make_outbox_worker(db, settings).run_once(school_id=school_id)
