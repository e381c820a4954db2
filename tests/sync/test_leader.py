"""The scheduler leader: one daemon keeps the schedule, another takes over once its lease expires, and
the schedule lives in the database so a change of leader neither skips nor repeats a sync."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from credbridge.connector.settings import load_settings
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, SchedulerLease, School, WorkItem
from credbridge.connector.sync import leader as leader_module
from credbridge.connector.sync.leader import SchedulerLeader, current_leader, register_periodic, tick
from tests.conftest import TEST_SECRET_KEY

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # 10:00 UTC: well after the 02:00 reconciliation slot


def settings(**overrides: object):
    return load_settings(secret_key=TEST_SECRET_KEY, database_url="sqlite://", sync_interval_minutes=15,
                         reconcile_hour_utc=2, **overrides)


def connections(db: Database, n: int, interval: int | None = None) -> list[int]:
    with db.unit_of_work() as session:
        school = School(slug="s", legal_name="S", country="HR")
        session.add(school)
        session.flush()
        rows = [LmsConnection(school_id=school.id, name=f"m{i}", base_url=f"http://127.0.0.1:9/{i}",
                              ws_token="t" * 32, sync_interval_minutes=interval) for i in range(n)]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def finish_all(db: Database) -> None:
    with db.unit_of_work() as session:
        session.execute(update(WorkItem).values(status="done", lease_owner=None, lease_expires_at=None))


def sync_items(db: Database) -> dict[str, WorkItem]:
    with db.unit_of_work() as session:
        items = session.scalars(select(WorkItem).where(WorkItem.kind == "sync_connection")).all()
        session.expunge_all()
        return {i.key: i for i in items}


def test_one_leader_at_a_time_and_takeover_after_expiry(database: Database) -> None:
    a = SchedulerLeader(database, "host-a:1", lease_seconds=30)
    b = SchedulerLeader(database, "host-b:2", lease_seconds=30)
    assert a.hold(T0) is True
    assert b.hold(T0 + timedelta(seconds=1)) is False
    assert a.hold(T0 + timedelta(seconds=20)) is True  # renewed: now valid until T0+50s
    assert b.hold(T0 + timedelta(seconds=45)) is False
    with database.unit_of_work() as session:
        assert current_leader(session, T0 + timedelta(seconds=45)) == "host-a:1"
    # a stops renewing (killed): b takes over once the lease has expired, in a new term
    assert b.hold(T0 + timedelta(seconds=51)) is True
    assert b.term == a.term + 1
    assert a.hold(T0 + timedelta(seconds=52)) is False
    assert a.leading is False


def test_a_clean_stop_hands_the_schedule_over_at_once(database: Database) -> None:
    a = SchedulerLeader(database, "a", lease_seconds=300)
    b = SchedulerLeader(database, "b", lease_seconds=300)
    assert a.hold(T0)
    a.release()
    assert b.hold(T0 + timedelta(seconds=1)) is True


def test_only_the_leader_queues_and_each_connection_once_per_interval(database: Database) -> None:
    ids = connections(database, 3)
    cfg = settings()
    a = SchedulerLeader(database, "a", lease_seconds=60)
    b = SchedulerLeader(database, "b", lease_seconds=60)
    first = tick(database, cfg, a, T0)
    assert first.leading and sorted(first.syncs) == ids
    assert tick(database, cfg, b, T0 + timedelta(seconds=1)).leading is False
    # the syncs are still pending: nothing more is queued, however often the leader ticks
    assert tick(database, cfg, a, T0 + timedelta(seconds=15)).syncs == []
    finish_all(database)
    assert tick(database, cfg, a, T0 + timedelta(minutes=14, seconds=59)).syncs == []
    assert sorted(tick(database, cfg, a, T0 + timedelta(minutes=15)).syncs) == ids


def test_a_new_leader_keeps_the_old_leaders_rhythm(database: Database) -> None:
    ids = connections(database, 2)
    cfg = settings()
    a = SchedulerLeader(database, "a", lease_seconds=60)
    b = SchedulerLeader(database, "b", lease_seconds=60)
    assert sorted(tick(database, cfg, a, T0).syncs) == ids
    finish_all(database)
    # a dies; b leads from T0+2min and must not sync again before T0+15min
    taken = tick(database, cfg, b, T0 + timedelta(minutes=2))
    assert taken.leading and taken.syncs == []
    assert tick(database, cfg, b, T0 + timedelta(minutes=10)).syncs == []
    assert sorted(tick(database, cfg, b, T0 + timedelta(minutes=15, seconds=5)).syncs) == ids


def test_a_connection_keeps_its_own_interval_and_a_running_sync_is_not_queued_again(database: Database) -> None:
    [slow] = connections(database, 1, interval=60)
    cfg = settings()
    a = SchedulerLeader(database, "a", lease_seconds=3600)
    assert tick(database, cfg, a, T0).syncs == [slow]
    with database.unit_of_work() as session:
        session.execute(update(WorkItem).values(status="running"))
    assert tick(database, cfg, a, T0 + timedelta(minutes=61)).syncs == []  # still running: not stacked
    finish_all(database)
    assert tick(database, cfg, a, T0 + timedelta(minutes=59)).syncs == []
    assert tick(database, cfg, a, T0 + timedelta(minutes=61)).syncs == [slow]


def test_a_stuck_sync_is_not_queued_again_until_an_administrator_retries_it(database: Database) -> None:
    from credbridge.connector.sync.worker import retry_stuck

    [conn] = connections(database, 1)
    cfg = settings()
    a = SchedulerLeader(database, "a", lease_seconds=3600)
    assert tick(database, cfg, a, T0).syncs == [conn]
    with database.unit_of_work() as session:  # set aside: its workers died on it too often (worker.MAX_CRASHES)
        session.execute(update(WorkItem).values(status="stuck"))
    assert tick(database, cfg, a, T0 + timedelta(minutes=16)).syncs == []
    assert sync_items(database)[f"connection:{conn}:incremental"].status == "stuck"
    with database.unit_of_work() as session:
        retry_stuck(session)
    assert sync_items(database)[f"connection:{conn}:incremental"].status == "pending"


def test_nightly_reconciliation_is_queued_once_per_night(database: Database) -> None:
    ids = connections(database, 2)
    cfg = settings()
    a = SchedulerLeader(database, "a", lease_seconds=10 ** 6)
    night = datetime(2026, 5, 5, 2, 0, 30, tzinfo=UTC)
    assert tick(database, cfg, a, night - timedelta(hours=3)).reconciliations == []  # before the slot
    finish_all(database)
    first = tick(database, cfg, a, night)
    assert sorted(first.reconciliations) == ids and first.syncs == []
    finish_all(database)
    later = tick(database, cfg, a, night + timedelta(minutes=20))
    assert later.reconciliations == [] and sorted(later.syncs) == ids
    finish_all(database)
    assert sorted(tick(database, cfg, a, night + timedelta(days=1)).reconciliations) == ids
    keys = sync_items(database)
    assert {f"connection:{i}:full" for i in ids} <= set(keys)


def test_periodic_work_is_queued_by_the_leader_every_period(database: Database, monkeypatch) -> None:
    monkeypatch.setattr(leader_module, "_periodic", {})
    register_periodic("retention", "retention", timedelta(days=1))
    cfg = settings()
    a = SchedulerLeader(database, "a", lease_seconds=10 ** 6)
    assert tick(database, cfg, a, T0).periodic == ["retention:retention"]
    assert tick(database, cfg, a, T0 + timedelta(hours=1)).periodic == []  # still pending
    finish_all(database)
    assert tick(database, cfg, a, T0 + timedelta(hours=23)).periodic == []
    assert tick(database, cfg, a, T0 + timedelta(days=1)).periodic == ["retention:retention"]


def test_racing_daemons_never_both_lead(database: Database) -> None:
    """Eight daemons take and renew at the same instants; at every instant exactly one leads."""
    owners = [SchedulerLeader(database, f"d{i}", lease_seconds=5) for i in range(8)]
    for step in range(6):
        now = T0 + timedelta(seconds=10 * step)  # every step is after the previous lease expired
        results: dict[str, bool] = {}
        barrier = threading.Barrier(len(owners))

        def run(leader: SchedulerLeader, now: datetime = now, barrier: threading.Barrier = barrier,
                results: dict[str, bool] = results) -> None:
            barrier.wait()
            results[leader.owner] = leader.hold(now)

        threads = [threading.Thread(target=run, args=(o,)) for o in owners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(results.values()) == 1, results
    with database.unit_of_work() as session:
        assert session.get(SchedulerLease, "scheduler").term == 6
