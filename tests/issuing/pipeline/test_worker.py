from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from credbridge.connector.awards import actions
from credbridge.connector.awards.actions import REVOKE_EXTERNAL
from credbridge.connector.issuing.adapters.webhook import WebhookAdapter
from credbridge.connector.issuing.pipeline.backoff import Backoff
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.settings import load_settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import AuditEntry, Award, OutboxItem, School, WorkItem
from credbridge.connector.sync.worker import Worker
from tests.issuing.adapters.fakes import FakeWebhookReceiver, Faults
from tests.issuing.pipeline import factories

SECRET = "whsec-test-0123456789"


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    fake = FakeWebhookReceiver(SECRET).start()
    yield fake
    fake.stop()


def _worker(db: Database, receiver: FakeWebhookReceiver, *, owner: str = "w1", lease: int = 30,
            max_attempts: int = 5, clock=utcnow) -> OutboxWorker:
    def adapters(school: School, target: str) -> WebhookAdapter:
        assert target == "webhook"
        return WebhookAdapter({"url": receiver.url + "/hook", "secret": SECRET, "read_timeout": 0.5})

    return OutboxWorker(db, adapters, WorkerConfig(owner=owner, lease_seconds=lease, max_attempts=max_attempts,
                                                   backoff=Backoff(base_seconds=0, cap_seconds=0, jitter=0)),
                        clock=clock)


def _seed(db: Database, n: int = 3, status: str = "approved") -> list[int]:
    with db.unit_of_work() as s:
        school = factories.school(s, targets=["webhook"])
        ids = []
        for i in range(n):
            ids.append(factories.award(s, school, factories.learner(s, school, i), status=status).id)
        return ids


def _statuses(db: Database) -> dict[str, int]:
    with db.unit_of_work() as s:
        return dict(s.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).all())


def test_sends_each_award_once_and_marks_it_issued(database: Database, receiver: FakeWebhookReceiver) -> None:
    award_ids = _seed(database, 3)
    stats = _worker(database, receiver).run_once()
    assert stats.sent == 3
    assert sorted(receiver.issued.values()) == [1, 1, 1]
    with database.unit_of_work() as s:
        assert {a.status for a in s.scalars(select(Award))} == {"issued"}
        actions = [e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.subject_type == "award",
                                                                        AuditEntry.subject_id == str(award_ids[0])))]
        assert actions == ["award.issuing", "award.issued"]
        assert s.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.kind == "notify")) == 3
    # nothing is due any more: a second run sends nothing
    assert _worker(database, receiver).run_once().claimed == 0


def test_awards_awaiting_approval_or_held_are_not_sent(database: Database, receiver: FakeWebhookReceiver) -> None:
    _seed(database, 1, status="pending_approval")
    _seed_held = database
    with _seed_held.unit_of_work() as s:
        school = factories.school(s, slug="other", targets=["webhook"])
        factories.award(s, school, factories.learner(s, school, 9), status="held")
    assert _worker(database, receiver).run_once().claimed == 0
    assert not receiver.issued


def test_timeout_after_commit_is_reconciled_not_duplicated(database: Database,
                                                           receiver: FakeWebhookReceiver) -> None:
    _seed(database, 1)
    receiver.faults = Faults(script=["timeout_after_commit"], hang_seconds=1.5)
    first = _worker(database, receiver).run_once()
    assert first.failed == 1 and first.sent == 0
    assert _statuses(database) == {"failed": 1}
    second = _worker(database, receiver).run_once()
    assert second.sent == 1 and second.reconciled == 1
    assert list(receiver.issued.values()) == [1]


def test_5xx_and_429_delay_but_never_drop(database: Database, receiver: FakeWebhookReceiver) -> None:
    _seed(database, 1)
    receiver.faults = Faults(script=["500", "429", "503"], retry_after=0)
    worker = _worker(database, receiver)
    for _ in range(3):
        assert worker.run_once().failed == 1
    assert worker.run_once().sent == 1
    assert list(receiver.issued.values()) == [1]
    with database.unit_of_work() as s:
        item = s.scalars(select(OutboxItem)).one()
        assert item.attempts == 4 and item.status == "sent" and item.last_error is None


def test_retry_after_is_honoured(database: Database, receiver: FakeWebhookReceiver) -> None:
    _seed(database, 1)
    receiver.faults = Faults(script=["429"], retry_after=120)
    before = utcnow()
    _worker(database, receiver).run_once()
    with database.unit_of_work() as s:
        item = s.scalars(select(OutboxItem)).one()
        assert item.next_attempt_at >= before + timedelta(seconds=119)
    assert _worker(database, receiver).run_once().claimed == 0  # not due yet


def test_permanent_rejection_goes_dead_and_is_visible(database: Database, receiver: FakeWebhookReceiver) -> None:
    _seed(database, 1)
    receiver.faults = Faults(script=["400"])
    stats = _worker(database, receiver).run_once()
    assert stats.dead == 1
    with database.unit_of_work() as s:
        item = s.scalars(select(OutboxItem)).one()
        assert item.status == "dead" and "400" in (item.last_error or "")
        assert s.scalars(select(Award)).one().status == "dead"


def test_down_issuer_goes_dead_after_max_attempts(database: Database, receiver: FakeWebhookReceiver) -> None:
    _seed(database, 1)
    receiver.stop()  # connection refused from now on
    worker = _worker(database, receiver, max_attempts=3)
    results = [worker.run_once() for _ in range(3)]
    assert [r.failed for r in results] == [1, 1, 0] and results[2].dead == 1
    assert _statuses(database) == {"dead": 1}


def test_lost_lease_result_is_not_written(database: Database, receiver: FakeWebhookReceiver) -> None:
    _seed(database, 1)
    inner = WebhookAdapter({"url": receiver.url + "/hook", "secret": SECRET})

    class LeaseStolenDuringSend:
        name = "webhook"

        def issue(self, payload, key):  # type: ignore[no-untyped-def]
            result = inner.issue(payload, key)
            with database.unit_of_work() as s:  # the lease ran out meanwhile and another worker took over
                item = s.scalars(select(OutboxItem)).one()
                item.lease_owner, item.lease_expires_at = "thief", utcnow() + timedelta(seconds=60)
            return result

        def lookup(self, key, payload):  # type: ignore[no-untyped-def]
            return inner.lookup(key, payload)

    worker = OutboxWorker(database, lambda school, target: LeaseStolenDuringSend(), WorkerConfig(owner="slow"))
    stats = worker.run_once()
    assert stats.lost_lease == 1 and stats.sent == 0
    with database.unit_of_work() as s:
        item = s.scalars(select(OutboxItem)).one()
        assert item.status == "sending" and item.lease_owner == "thief" and item.external_id is None
    # the new owner reconciles instead of sending a second time
    with database.unit_of_work() as s:
        s.scalars(select(OutboxItem)).one().lease_expires_at = utcnow() - timedelta(seconds=1)
    assert _worker(database, receiver).run_once().reconciled == 1
    assert list(receiver.issued.values()) == [1]


def test_wrong_target_settings_go_dead_at_once_naming_the_setting(database: Database) -> None:
    from credbridge.connector.issuing.adapters import AdapterRegistry

    with database.unit_of_work() as s:
        school = factories.school(s, targets={"credly": {"base_url": "https://api.credly.com", "token": "t"}})
        factories.award(s, school, factories.learner(s, school))
    worker = OutboxWorker(database, AdapterRegistry(database, "https://cb.example.org"), WorkerConfig(owner="w"))
    assert worker.run_once().dead == 1
    with database.unit_of_work() as s:
        assert "'organization_id' is missing" in s.scalars(select(OutboxItem)).one().last_error


def _revocation_worker(db: Database) -> Worker:
    from credbridge.connector.issuing.pipeline import handlers  # noqa: F401  (registers revoke_external)

    settings = load_settings(secret_key="test-secret-key-0123456789abcdef-not-for-production",
                             database_url=db.url, base_url="https://cb.example.org")
    return Worker(db, "revoker", settings=settings, kinds=[REVOKE_EXTERNAL])


@pytest.mark.parametrize("crashed", [False, True], ids=["timed-out", "worker-died"])
def test_revoking_after_a_send_of_unknown_outcome_revokes_at_the_target(database: Database,
                                                                        receiver: FakeWebhookReceiver,
                                                                        crashed: bool) -> None:
    # the target committed the credential, but the worker never learnt it: the send timed out (the
    # row waits to be retried) or the worker died mid-send (the row is left 'sending')
    with database.unit_of_work() as s:
        school = factories.school(s, targets={"webhook": {"url": receiver.url + "/hook", "secret": SECRET,
                                                          "read_timeout": 0.5}})
        award_id = factories.award(s, school, factories.learner(s, school, 1)).id
    receiver.faults = Faults(script=["timeout_after_commit"], hang_seconds=1.5)
    assert _worker(database, receiver).run_once().failed == 1
    assert sum(receiver.issued.values()) == 1
    if crashed:
        with database.unit_of_work() as s:
            s.scalars(select(OutboxItem)).one().status = "sending"
    with database.unit_of_work() as s:
        actions.revoke(s, s.get(Award, award_id).school_id, award_id, reason="mixed up Ana and Iva in the register",
                       public_reason="wrong_learner", actor="teacher@school")
    assert _worker(database, receiver).run_once().claimed == 0  # nothing is sent any more
    _revocation_worker(database).run_until_idle()
    # the target publishes what it is sent: the public reason, never the revoker's private note
    assert list(receiver.revoked.values()) == ["Issued to the wrong person"]
    with database.unit_of_work() as s:
        assert s.scalars(select(WorkItem.status).where(WorkItem.kind == REVOKE_EXTERNAL)).all() == ["done"]
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.revoked_at_target")).one()


def test_revoking_when_nothing_reached_the_target_revokes_nothing_there(database: Database,
                                                                        receiver: FakeWebhookReceiver) -> None:
    with database.unit_of_work() as s:
        school = factories.school(s, targets={"webhook": {"url": receiver.url + "/hook", "secret": SECRET}})
        award_id = factories.award(s, school, factories.learner(s, school, 1)).id
    receiver.faults = Faults(script=["500"])  # refused before committing: an attempt, but nothing issued
    assert _worker(database, receiver).run_once().failed == 1 and sum(receiver.issued.values()) == 0
    with database.unit_of_work() as s:
        actions.revoke(s, s.get(Award, award_id).school_id, award_id, reason="wrong learner", actor="teacher")
    _revocation_worker(database).run_until_idle()
    assert receiver.revoked == {}
    with database.unit_of_work() as s:
        assert s.scalars(select(WorkItem.status).where(WorkItem.kind == REVOKE_EXTERNAL)).all() == ["done"]
