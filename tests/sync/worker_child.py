"""A daemon worker in a child process, for the crash tests: claims one sync item and runs it.

    python -m tests.sync.worker_child DATABASE_URL SECRET_KEY OWNER LEASE_SECONDS
"""

from __future__ import annotations

import sys

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store import secrets
from credbridge.connector.store.db import Database
from credbridge.connector.sync import daemon, runner  # noqa: F401  (registers the sync handlers)
from credbridge.connector.sync.worker import SYNC_CONNECTION, Worker


def main() -> None:
    database_url, secret_key, owner, lease = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    secrets.configure(secret_key)
    runner.client_factory = lambda url, token: MoodleClient(url, token, rate_per_second=None, max_concurrency=1)
    db = Database(database_url)
    print("done" if Worker(db, owner, lease_seconds=lease, kinds=[SYNC_CONNECTION]).run_one() else "idle", flush=True)


if __name__ == "__main__":
    main()
