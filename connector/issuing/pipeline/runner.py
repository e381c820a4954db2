"""How an entry point (the daemon's scheduler, ``credbridge issue``) runs the outbox: one worker per
process, named after the daemon, with the adapters of every school's targets."""

from __future__ import annotations

from credbridge.connector.issuing.adapters import AdapterRegistry
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, RunStats, WorkerConfig
from credbridge.connector.leases import hold_seconds
from credbridge.connector.settings import Settings
from credbridge.connector.store.db import Database


def make_outbox_worker(db: Database, settings: Settings, *, owner_suffix: str = "outbox") -> OutboxWorker:
    # a heartbeat renews the lease while a slow target answers, so the lease need not outlast a send
    return OutboxWorker(db, AdapterRegistry(db, settings.base_url),
                        WorkerConfig(owner=f"{settings.daemon_id}:{owner_suffix}",
                                     lease_seconds=hold_seconds(settings.lease_seconds, settings.poll_seconds)))


def run_outbox_pass(db: Database, settings: Settings, *, school_id: int | None = None) -> RunStats:
    """Send everything due now; what the daemon schedules every few seconds."""
    return make_outbox_worker(db, settings).run_once(school_id=school_id)
