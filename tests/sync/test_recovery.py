"""What a crash leaves behind is recovered without anyone touching the database (issue 13, findings 1, 3, 4):
a killed run is not a failed attempt, long work keeps its lease, and a killed sync is closed as interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import SyncRun, WorkItem
from credbridge.connector.sync import daemon as daemon_module
from credbridge.connector.sync import runner
from credbridge.connector.sync.worker import (
    MAX_ATTEMPTS,
    Worker,
    enqueue,
    register_handler,
    request_connection_sync,
)
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.sync.conftest import Harness


def _crash(db: Database, item_id: int) -> None:
    """What SIGKILL leaves: the item running under a lease nobody renews any more (here: already run out)."""
    with db.unit_of_work() as session:
        session.get(WorkItem, item_id).lease_expires_at = utcnow() - timedelta(seconds=1)


def test_a_killed_run_is_not_a_failed_attempt(database: Database, handlers) -> None:
    ran = []
    register_handler("demo", lambda ctx, item: ran.append(item.id))
    with database.unit_of_work() as session:
        item_id = enqueue(session, "demo", "k", {}).id
    for crash in range(1, MAX_ATTEMPTS + 3):  # more crashes than a failing item is allowed attempts
        claimed = Worker(database, f"daemon-{crash}", kinds=["demo"]).claim()
        assert claimed is not None, f"crash {crash}: a worker's death must not retire the item"
        _crash(database, item_id)
        with database.unit_of_work() as session:
            row = session.get(WorkItem, item_id)
            assert (row.status, row.attempts, row.crashes) == ("running", 0, crash - 1)
    assert Worker(database, "survivor", kinds=["demo"]).run_one() == 1
    with database.unit_of_work() as session:
        row = session.get(WorkItem, item_id)
        assert (row.status, row.attempts, row.crashes, row.lease_owner) == ("done", 0, 0, None)
    assert ran == [item_id]


def test_an_item_that_keeps_killing_its_workers_is_set_aside_and_shown(database: Database, handlers,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from credbridge.connector.attention import needs_attention
    from credbridge.connector.commands.work import work
    from credbridge.connector.sync.worker import MAX_CRASHES

    ran = []
    register_handler("demo", lambda ctx, item: ran.append(item.id))
    with database.unit_of_work() as session:
        item = enqueue(session, "demo", "poison", {})
        item.status, item.crashes, item.lease_owner = "running", MAX_CRASHES - 1, "daemon-a/w0"
        item.lease_expires_at = utcnow() - timedelta(seconds=1)
        item_id = item.id
    assert Worker(database, "daemon-b/w0", kinds=["demo"]).run_one() == 0
    with database.unit_of_work() as session:
        row = session.get(WorkItem, item_id)
        assert (row.status, row.crashes, row.lease_owner) == ("stuck", MAX_CRASHES, None)
        assert "daemon-a/w0" in row.last_error and f"credbridge work retry {item_id}" in row.last_error
        enqueue(session, "demo", "poison", {"again": True})  # a new request does not restart it by itself
        [line] = needs_attention(session)
        assert (line.source, line.id, line.state, line.crashes) == ("work", item_id, "stuck", MAX_CRASHES)
    assert Worker(database, "daemon-b/w0", kinds=["demo"]).run_one() == 0 and ran == []

    monkeypatch.setenv("CREDBRIDGE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("CREDBRIDGE_DATABASE_URL", database.url)
    listed = CliRunner().invoke(work, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "stuck" in listed.output and "demo poison" in listed.output
    retried = CliRunner().invoke(work, ["retry", str(item_id)])
    assert retried.exit_code == 0 and "retrying 1 work items" in retried.output, retried.output
    assert Worker(database, "daemon-b/w0", kinds=["demo"]).run_one() == 1 and ran == [item_id]
    with database.unit_of_work() as session:
        assert needs_attention(session) == []


def _one_call_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Syncs' clients without the politeness delay, one call in flight (the emulator's latency paces them)."""
    monkeypatch.setattr(runner, "client_factory",
                        lambda url, token: MoodleClient(url, token, rate_per_second=None, max_concurrency=1))


def _run_while_another_tries(db: Database, kind: str, lease_seconds: float) -> None:
    """Worker "a" runs the one item of ``kind``; worker "b" keeps trying to claim work until it is done."""
    done = threading.Event()
    first = threading.Thread(target=lambda: (Worker(db, "a", kinds=[kind], lease_seconds=lease_seconds).run_one(),
                                             done.set()))
    first.start()
    _wait_until_running(db)
    second = Worker(db, "b", kinds=[kind], lease_seconds=lease_seconds)
    while not done.is_set():
        second.run_one()
        time.sleep(0.05)
    first.join()


def _wait_until_running(db: Database) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.unit_of_work() as session:
            if session.scalar(select(WorkItem.status)) == "running":
                return
        time.sleep(0.01)
    raise AssertionError("the first worker never claimed the item")


def test_a_run_longer_than_its_lease_is_never_taken_over(database: Database, handlers) -> None:
    runs: list[str] = []

    def slow(ctx, item):
        runs.append(ctx.owner)
        time.sleep(3.5)  # several lease periods

    register_handler("demo", slow)
    with database.unit_of_work() as session:
        enqueue(session, "demo", "k", {})
    _run_while_another_tries(database, "demo", lease_seconds=1)
    assert runs == ["a"], "a second worker ran the item while the first one was still working on it"
    with database.unit_of_work() as session:
        assert session.scalar(select(WorkItem.status)) == "done"


def test_a_slow_sync_keeps_its_lease_and_never_runs_twice(harness_any: Harness,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync reports progress once per course; a course that takes longer than the lease used to let a
    second worker start the same connection's sync."""
    db = harness_any.db
    harness_any.emulator.set_latency(60)  # each course (~80 calls) takes a few lease periods
    running: list[str] = []
    overlap: list[str] = []
    lock = threading.Lock()
    real = daemon_module.sync_connection

    def watched(db, connection_id, *args, **kwargs):
        with lock:
            running.append(kwargs.get("worker"))
            if len(running) > 1:
                overlap.append(kwargs.get("worker"))
        try:
            return real(db, connection_id, *args, **kwargs)
        finally:
            with lock:
                running.remove(kwargs.get("worker"))

    monkeypatch.setattr(daemon_module, "sync_connection", watched)
    _one_call_at_a_time(monkeypatch)
    with db.unit_of_work() as session:
        request_connection_sync(session, harness_any.connection_id)
    _run_while_another_tries(db, "sync_connection", lease_seconds=2)
    assert overlap == [], "two syncs of one connection ran at the same time"
    with db.unit_of_work() as session:
        assert [(r.worker, r.status) for r in session.scalars(select(SyncRun))] == [("a", "ok")]


def _spawn_worker(db: Database, owner: str, lease: float) -> subprocess.Popen[str]:
    env = {**os.environ, "CREDBRIDGE_SECRET_KEY": TEST_SECRET_KEY}
    return subprocess.Popen([sys.executable, "-m", "tests.sync.worker_child", db.url, TEST_SECRET_KEY, owner,
                             str(lease)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)


def test_a_killed_sync_is_closed_as_interrupted_and_finished_by_the_next_worker(harness_any: Harness,
                                                                                monkeypatch) -> None:
    db, emulator = harness_any.db, harness_any.emulator
    emulator.set_latency(20)
    with db.unit_of_work() as session:
        item_id = request_connection_sync(session, harness_any.connection_id).id
    emulator.reset_calls()
    child = _spawn_worker(db, "doomed/w0", lease=1.5)
    deadline = time.monotonic() + 60
    while emulator.total_calls < 8 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert child.returncode == -signal.SIGKILL, "the sync must have been killed mid-way"
    with db.unit_of_work() as session:
        assert [(r.worker, r.status) for r in session.scalars(select(SyncRun))] == [("doomed/w0", "running")]
        assert session.get(WorkItem, item_id).status == "running"

    _one_call_at_a_time(monkeypatch)
    survivor = Worker(db, "survivor/w0", kinds=["sync_connection"], lease_seconds=5)
    deadline = time.monotonic() + 10
    while not survivor.run_one():  # the dead worker's lease runs out within 1.5 s
        assert time.monotonic() < deadline, "nobody took the killed sync over"
        time.sleep(0.1)
    with db.unit_of_work() as session:
        runs = [(r.worker, r.status) for r in session.scalars(select(SyncRun).order_by(SyncRun.id))]
        assert runs == [("doomed/w0", "interrupted"), ("survivor/w0", "ok")]
        assert "stopped before the end" in session.scalars(select(SyncRun.error)).first()
        item = session.get(WorkItem, item_id)
        assert (item.status, item.attempts, item.crashes) == ("done", 0, 0)


def test_the_sweep_closes_runs_of_dead_workers_and_leaves_live_ones(database: Database) -> None:
    from credbridge.connector.sync.recovery import sweep_interrupted_runs
    from tests.sync.conftest import make_connection

    connection_id = make_connection(database, "http://127.0.0.1:9")
    now = utcnow()
    with database.unit_of_work() as session:
        alive = request_connection_sync(session, connection_id)
        alive.status, alive.lease_owner, alive.lease_expires_at = "running", "live/w0", now + timedelta(seconds=30)
        session.add_all([SyncRun(connection_id=connection_id, mode="incremental", worker="dead/w1"),
                         SyncRun(connection_id=connection_id, mode="incremental", worker="live/w0"),
                         SyncRun(connection_id=connection_id, mode="incremental", worker=None)])
    with database.unit_of_work() as session:
        assert sweep_interrupted_runs(session) == 1
    with database.unit_of_work() as session:
        assert {(r.worker, r.status) for r in session.scalars(select(SyncRun))} == {
            ("dead/w1", "interrupted"), ("live/w0", "running"), (None, "running")}


def test_the_crash_ceiling_is_a_setting_of_the_daemon(database: Database, handlers) -> None:
    """``max_crashes`` (CREDBRIDGE_MAX_CRASHES) reaches both kinds of worker the daemon builds: a work item and
    a delivery whose workers died that many times are set aside, not started again."""
    from credbridge.connector.daemon import build_daemon
    from credbridge.connector.settings import Settings
    from credbridge.connector.store.models import Award, OutboxItem
    from tests.issuing.pipeline import factories

    ran = []
    register_handler("demo", lambda ctx, item: ran.append(item.id))
    expired = utcnow() - timedelta(seconds=1)
    with database.unit_of_work() as session:
        item = enqueue(session, "demo", "poison", {})
        item.status, item.crashes, item.lease_owner, item.lease_expires_at = "running", 2, "dead/w0", expired
        school = factories.school(session, targets=["webhook"])
        award_id = factories.award(session, school, factories.learner(session, school)).id
        session.flush()
        delivery = session.scalars(select(OutboxItem).where(OutboxItem.award_id == award_id)).one()
        delivery.status, delivery.crashes, delivery.lease_owner = "sending", 2, "dead/w0:outbox"
        delivery.lease_expires_at = expired
        item_id, delivery_id = item.id, delivery.id
    settings = Settings(secret_key=TEST_SECRET_KEY, database_url=database.url, max_crashes=3)
    daemon = build_daemon(database, settings, workers=1, schedule=False)
    worker = daemon.workers[0]
    assert worker.run_one() == 0 and ran == []
    [outbox_step] = daemon._steps
    outbox_step(worker)
    with database.unit_of_work() as session:
        row = session.get(WorkItem, item_id)
        assert (row.status, row.crashes, row.lease_owner) == ("stuck", 3, None)
        sent = session.get(OutboxItem, delivery_id)
        assert (sent.status, sent.crashes) == ("dead", 3)
        assert session.get(Award, award_id).status == "dead"


@pytest.mark.parametrize("asked_again", [False, True])
def test_a_sync_finished_by_a_worker_killed_before_recording_it_is_not_run_again(
        harness_any: Harness, monkeypatch: pytest.MonkeyPatch, asked_again: bool) -> None:
    """SIGKILL between the sync run's commit and the work item's: the next worker finds the request
    answered by the dead worker's run and does not sync the connection a second time in the cycle
    (the two-daemon scale-out test saw a site synced twice); a request made after that run is synced."""
    db = harness_any.db
    _one_call_at_a_time(monkeypatch)
    with db.unit_of_work() as session:
        item_id = request_connection_sync(session, harness_any.connection_id).id
    doomed = Worker(db, "doomed/w0", kinds=["sync_connection"], lease_seconds=5)
    assert doomed.claim() is not None
    runner.sync_connection(db, harness_any.connection_id, worker="doomed/w0")  # ... and then it was killed
    _crash(db, item_id)
    if asked_again:
        time.sleep(0.01)
        with db.unit_of_work() as session:
            request_connection_sync(session, harness_any.connection_id)  # a teacher asks after that run
    assert Worker(db, "survivor/w0", kinds=["sync_connection"], lease_seconds=5).run_one() == 1
    with db.unit_of_work() as session:
        runs = [(r.worker, r.status) for r in session.scalars(select(SyncRun).order_by(SyncRun.id))]
        assert runs == [("doomed/w0", "ok")] + ([("survivor/w0", "ok")] if asked_again else [])
        assert session.get(WorkItem, item_id).status == "done"
