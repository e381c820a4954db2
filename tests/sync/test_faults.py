"""Sync under the emulator's injected faults, a refused token, and the daemon's signal handling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from credbridge.connector.moodle import errors
from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store.models import LmsConnection, SyncRun, WorkItem
from credbridge.connector.sync.runner import sync_connection
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.sync.conftest import TOKEN, Harness


def test_transient_faults_are_retried_and_the_sync_completes(harness: Harness):
    emulator = harness.emulator
    harness.client._sleep = lambda _s: None  # no real back-off waits in the test
    emulator.inject_fault("http503", count=2)
    emulator.inject_fault("http429", count=1, retry_after=1)
    emulator.inject_fault("reset", count=1)
    report = harness.sync()
    assert report.counts.new > 500
    reference = harness.snapshot()
    assert harness.sync(full=True).counts.new == 0
    assert harness.snapshot() == reference


@pytest.mark.parametrize(("kind", "expected"), [("html200", errors.MalformedResponse),
                                                ("truncated", errors.MalformedResponse),
                                                ("http500", errors.TransportError)])
def test_permanent_faults_fail_the_run_and_are_recorded(harness: Harness, kind, expected):
    harness.client._sleep = lambda _s: None
    harness.emulator.inject_fault(kind, probability=1.0, seed=1, functions=["core_course_get_courses_by_field"])
    with pytest.raises(expected):
        harness.sync()
    with harness.db.unit_of_work() as session:
        run = session.scalar(select(SyncRun))
        conn = session.get(LmsConnection, harness.connection_id)
        assert run.status == "failed" and "core_course_get_courses_by_field" in run.error
        assert conn.last_error == run.error and conn.last_sync_at is None


def test_invalid_token_fails_with_the_function_and_errorcode(harness: Harness):
    client = MoodleClient(harness.emulator.url, "f" * 32, rate_per_second=None)
    with pytest.raises(errors.InvalidToken, match="core_webservice_get_site_info: invalidtoken"):
        sync_connection(harness.db, harness.connection_id, client=client)


def test_daemon_stops_cleanly_on_sigterm_and_gives_the_sync_back(sqlite_database, emulator):
    """SIGTERM mid-sync: the sync stops between courses, the item is released for the next daemon."""
    from tests.sync.conftest import make_connection

    make_connection(sqlite_database, emulator.url)
    emulator.set_latency(40)  # the recorded site syncs in well under a second; keep this one long enough to stop
    env = {**os.environ, "CREDBRIDGE_DATABASE_URL": sqlite_database.url, "CREDBRIDGE_SECRET_KEY": TEST_SECRET_KEY,
           "CREDBRIDGE_CONFIG": "/dev/null", "CREDBRIDGE_DAEMON_ID": "test-daemon"}
    code = "from credbridge.connector.commands.sync import daemon; daemon(['--workers', '1'])"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sqlite_database.unit_of_work() as session:
                if session.scalar(select(SyncRun.id)) and emulator.total_calls >= 5:
                    break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert time.monotonic() - stopped < 10, "the daemon must not finish the whole sync before stopping"
    assert "daemon test-daemon started with 1 workers" in err
    assert "finishing the current work items, then stopping" in err and "daemon test-daemon stopped" in err
    assert TOKEN not in err
    with sqlite_database.unit_of_work() as session:
        run = session.scalar(select(SyncRun))
        item = session.scalar(select(WorkItem).where(WorkItem.kind == "sync_connection"))
        assert run.status == "interrupted", err
        assert "released for the next worker" in err
        assert (item.status, item.lease_owner, item.attempts) == ("pending", None, 0)
