"""A worker process for the fault-injection tests: sends the outbox to a webhook until everything is
sent or dead. The test SIGKILLs it at random moments and starts it again.

    python -m tests.issuing.pipeline.worker_process DB_URL RECEIVER_URL SECRET OWNER LEASE_SECONDS
"""

from __future__ import annotations

import sys
import time

from sqlalchemy import func, select

from credbridge.connector.issuing.adapters.webhook import WebhookAdapter
from credbridge.connector.issuing.pipeline.backoff import Backoff
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import OutboxItem

READ_TIMEOUT = 0.3


def main(db_url: str, receiver_url: str, secret: str, owner: str, lease_seconds: str) -> int:
    db = Database(db_url)
    adapter = WebhookAdapter({"url": receiver_url, "secret": secret, "read_timeout": READ_TIMEOUT,
                              "connect_timeout": 1})
    worker = OutboxWorker(db, lambda school, target: adapter,
                          WorkerConfig(owner=owner, lease_seconds=int(lease_seconds), batch=10, max_attempts=1000,
                                       backoff=Backoff(base_seconds=0.05, cap_seconds=0.3), notify=False))
    while True:
        worker.run_once()
        with db.unit_of_work() as session:
            left = session.scalar(select(func.count()).select_from(OutboxItem)
                                  .where(OutboxItem.status.not_in(("sent", "dead"))))
        if not left:
            return 0
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
