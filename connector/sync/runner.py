"""Run one sync of one connection: build the client from the stored connection, sync, report."""

from __future__ import annotations

from collections import Counter

from credbridge.connector import metrics
from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.moodle.functions import MoodleApi
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection
from credbridge.connector.sync.strategy import ConnectionSync, Progress, SyncOptions, SyncReport

#: tests and the benchmark swap this to reuse one client (and its call counter) across syncs
client_factory = MoodleClient


def client_for(connection: LmsConnection, **kwargs: object) -> MoodleClient:
    return client_factory(connection.base_url, connection.ws_token.reveal_text(), **kwargs)  # type: ignore[arg-type]


def sync_connection(db: Database, connection_id: int, options: SyncOptions | None = None, *,
                    progress: Progress | None = None, worker: str | None = None,
                    client: MoodleClient | None = None) -> SyncReport:
    own_client = client is None
    if client is None:
        with db.unit_of_work() as session:
            conn = session.get(LmsConnection, connection_id)
            if conn is None:
                raise LookupError(f"no LMS connection with id {connection_id}")
            client = client_for(conn)
    before = Counter(client.calls)
    mode = "full" if options and options.full else "course" if options and options.course_moodle_id else "incremental"
    try:
        report = ConnectionSync(db, connection_id, MoodleApi(client), options, progress=progress, worker=worker).run()
    except Exception as exc:
        metrics.record_sync(connection_id, mode, Counter(client.calls) - before, error=exc)
        raise
    else:
        metrics.record_sync(connection_id, mode, Counter(client.calls) - before, new=report.counts.new,
                            changed=report.counts.changed, withdrawn=report.counts.withdrawn)
        return report
    finally:
        if own_client:
            client.close()
