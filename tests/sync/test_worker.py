"""Work items: dedupe, handler registry, retries, leases, course sync on request, daemons sharing one DB."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from credbridge.connector.settings import Settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Evidence, School, SyncRun, WorkItem
from credbridge.connector.sync import daemon as daemon_module
from credbridge.connector.sync.store import request_evaluation
from credbridge.connector.sync.worker import (
    MAX_ATTEMPTS,
    Worker,
    enqueue,
    register_handler,
    request_course_sync,
)
from tests.conftest import TEST_SECRET_KEY
from tests.sync.conftest import Harness, make_connection


def settings(**kw) -> Settings:
    return Settings(secret_key=TEST_SECRET_KEY, database_url="sqlite://", **kw)


def test_enqueue_is_once_per_kind_and_key(database: Database, handlers):
    ran: list[dict] = []
    register_handler("demo", lambda ctx, item: ran.append(item.payload))
    with database.unit_of_work() as session:
        enqueue(session, "demo", "k1", {"n": 1})
        enqueue(session, "demo", "k1", {"n": 2})
        enqueue(session, "demo", "k2", {"n": 3})
    assert Worker(database, "w1", kinds=["demo"]).run_until_idle() == 2
    assert sorted(p["n"] for p in ran) == [1, 3]
    with database.unit_of_work() as session:
        assert set(session.scalars(select(WorkItem.status))) == {"done"}
        enqueue(session, "demo", "k1", {"n": 4})  # done items are re-queued by a new request
    assert Worker(database, "w1", kinds=["demo"]).run_until_idle() == 1
    assert ran[-1]["n"] == 4


def test_failures_back_off_then_fail(database: Database, handlers):
    def boom(ctx, item):
        raise RuntimeError("moodle is down")

    register_handler("demo", boom)
    with database.unit_of_work() as session:
        item = enqueue(session, "demo", "k", {})
        item_id = item.id
    worker = Worker(database, "w1", kinds=["demo"])
    for _attempt in range(MAX_ATTEMPTS):
        assert worker.run_one()
        with database.unit_of_work() as session:
            row = session.get(WorkItem, item_id)
            assert row.last_error == "RuntimeError: moodle is down" and row.lease_owner is None
            row.run_after = utcnow()  # skip the back-off delay
    with database.unit_of_work() as session:
        assert session.get(WorkItem, item_id).status == "failed"
    assert not worker.run_one()


def test_unknown_kind_is_an_error_not_a_silent_success(database: Database, handlers):
    with database.unit_of_work() as session:
        enqueue(session, "nobody-handles-this", "k", {})
    Worker(database, "w1", kinds=["nobody-handles-this"]).run_one()
    with database.unit_of_work() as session:
        row = session.scalar(select(WorkItem))
        assert row.status == "pending" and "no handler registered" in row.last_error


def test_expired_lease_is_taken_over_and_the_old_owner_cannot_finish(database: Database, handlers):
    register_handler("demo", lambda ctx, item: None)
    with database.unit_of_work() as session:
        enqueue(session, "demo", "k", {})
    first = Worker(database, "crashed", kinds=["demo"], lease_seconds=60)
    item = first.claim()
    assert item is not None and Worker(database, "w2", kinds=["demo"]).claim() is None
    with database.unit_of_work() as session:
        session.get(WorkItem, item.id).lease_expires_at = utcnow() - timedelta(seconds=1)
    second = Worker(database, "w2", kinds=["demo"])
    assert second.run_one()
    first._finish(item, item.payload.get("requested_at"), error=None)  # too late: dropped
    with database.unit_of_work() as session:
        row = session.get(WorkItem, item.id)
        # the takeover was counted as a crash while it ran, not as a failed attempt; its success cleared it
        assert row.status == "done" and row.attempts == 0 and row.crashes == 0


def test_evaluation_request_during_a_run_is_not_lost(database: Database, handlers):
    with database.unit_of_work() as session:
        school = School(slug="s", legal_name="S", country="FI")
        session.add(school)
        session.flush()
        from credbridge.connector.store.models import Learner

        learner = Learner(school_id=school.id, full_name="A")
        session.add(learner)
        session.flush()
        ids = (school.id, learner.id)
        request_evaluation(session, *ids, reason="first")
    calls = []

    def evaluate(ctx, item):
        calls.append(item.payload["reason"])
        if len(calls) == 1:
            with database.unit_of_work() as session:
                request_evaluation(session, *ids, reason="second")  # new evidence while evaluating

    register_handler("evaluate", evaluate)
    assert Worker(database, "w", kinds=["evaluate"]).run_until_idle() == 2
    assert calls == ["first", "second"]
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(WorkItem)) == 1


def test_course_sync_on_request_reports_progress(harness: Harness):
    with harness.db.unit_of_work() as session:
        item = request_course_sync(session, harness.connection_id, 3, requested_by="teacher:36")
        assert item.kind == "sync_course" and item.payload["requested_by"] == "teacher:36"
        item_id = item.id
    with pytest.raises(LookupError), harness.db.unit_of_work() as session:
        request_course_sync(session, 999, 3, requested_by="x")
    from credbridge.connector.sync import runner

    original = runner.client_factory
    runner.client_factory = lambda url, token: harness.client  # type: ignore[assignment]
    try:
        assert Worker(harness.db, "w", kinds=["sync_course"]).run_one()
    finally:
        runner.client_factory = original
    with harness.db.unit_of_work() as session:
        item = session.get(WorkItem, item_id)
        assert item.status == "done", item.last_error
        assert item.progress == {"done": 1, "total": 1, "stage": "done"}
        courses = {r for (r,) in session.execute(select(Evidence.course_id).distinct())}
        assert len(courses) == 1


def test_two_daemons_share_one_postgres_without_doing_anything_twice(postgres_database: Database, site,
                                                                        monkeypatch):
    """Two daemons (each with two workers) sync three connections to the same site concurrently."""
    from credbridge.emulator.server import serve_in_thread

    with serve_in_thread(site) as emulator:
        ids = [make_connection(postgres_database, emulator.url, name=f"m{i}") for i in range(3)]
        running: dict[int, int] = {}
        overlap = []
        lock = threading.Lock()
        real = daemon_module.sync_connection

        def watched(db, connection_id, *args, **kwargs):
            with lock:
                running[connection_id] = running.get(connection_id, 0) + 1
                if running[connection_id] > 1:
                    overlap.append(connection_id)
            try:
                return real(db, connection_id, *args, **kwargs)
            finally:
                with lock:
                    running[connection_id] -= 1

        monkeypatch.setattr(daemon_module, "sync_connection", watched)
        from credbridge.connector.moodle.client import MoodleClient
        from credbridge.connector.sync import runner

        monkeypatch.setattr(runner, "client_factory",
                            lambda url, token: MoodleClient(url, token, rate_per_second=None, max_concurrency=1))
        daemons = [daemon_module.Daemon(postgres_database, settings(daemon_id=f"d{i}"), workers=2,
                                        poll_seconds=0.05, schedule=False) for i in range(2)]
        for connection_id in ids:
            with postgres_database.unit_of_work() as session:
                from credbridge.connector.sync.worker import request_connection_sync

                request_connection_sync(session, connection_id)
                request_course_sync(session, connection_id, 2, requested_by="teacher")
        for d in daemons:
            d.start()
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline:
                with postgres_database.unit_of_work() as session:
                    pending = session.scalar(select(func.count()).select_from(WorkItem).where(
                        WorkItem.kind.in_(("sync_connection", "sync_course")), WorkItem.status != "done"))
                if pending == 0:
                    break
                time.sleep(0.2)
        finally:
            for d in daemons:
                d.shutdown(timeout=30)
        assert pending == 0
        assert overlap == [], "two syncs of one connection ran at the same time"
        with postgres_database.unit_of_work() as session:
            runs = session.execute(select(SyncRun.connection_id, SyncRun.worker, SyncRun.status)).all()
            assert {r.status for r in runs} == {"ok"} and len(runs) == 6
            duplicates = session.execute(
                select(Evidence.connection_id, Evidence.learner_id, Evidence.kind, Evidence.source_key)
                .where(Evidence.is_current.is_(True))
                .group_by(Evidence.connection_id, Evidence.learner_id, Evidence.kind, Evidence.source_key)
                .having(func.count() > 1)).all()
            assert duplicates == []
            per_connection = dict(session.execute(select(Evidence.connection_id, func.count()).where(
                Evidence.is_current.is_(True)).group_by(Evidence.connection_id)).all())
            assert len(set(per_connection.values())) == 1 and len(per_connection) == 3
            assert session.scalar(select(func.count()).select_from(Evidence).where(Evidence.version > 1)) == 0


def test_a_due_sync_is_claimed_before_older_other_work(database: Database, handlers):
    """After a first sync of many schools tens of thousands of evaluations are queued; the next
    interval's sync (or a teacher's course sync) must not wait behind them all. Among syncs, and among
    the rest, the oldest goes first."""
    order: list[str] = []
    register_handler("evaluate", lambda ctx, item: order.append(item.key))
    register_handler("sync_connection", lambda ctx, item: order.append(item.key))
    connection_id = make_connection(database, "http://127.0.0.1:9")
    with database.unit_of_work() as session:
        for n in range(3):
            enqueue(session, "evaluate", f"learner:{n}", {})
        enqueue(session, "sync_connection", f"connection:{connection_id}:incremental", {"connection_id": connection_id})
        enqueue(session, "evaluate", "learner:3", {})
    worker = Worker(database, "w1", kinds=["evaluate", "sync_connection"])
    while worker.run_one():
        pass
    assert order == [f"connection:{connection_id}:incremental", "learner:0", "learner:1", "learner:2", "learner:3"]
