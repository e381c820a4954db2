"""Run one sync in a child process, for the SIGKILL crash test:
``python -m tests.sync.crash_child DATABASE_URL CONNECTION_ID SECRET_KEY``."""

from __future__ import annotations

import sys

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store import secrets
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection
from credbridge.connector.sync.runner import sync_connection


def main() -> None:
    database_url, connection_id, secret_key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    secrets.configure(secret_key)
    db = Database(database_url)
    with db.unit_of_work() as session:
        conn = session.get(LmsConnection, connection_id)
        client = MoodleClient(conn.base_url, conn.ws_token.reveal_text(), rate_per_second=None, max_concurrency=1)
    print("syncing", flush=True)
    sync_connection(db, connection_id, client=client)
    print("done", flush=True)


if __name__ == "__main__":
    main()
