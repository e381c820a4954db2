"""The outbox after crashes and races (issue 13, findings 1, 2 and 5): an award whose two deliveries are
recorded at the same moment is issued, a sweep repairs any award left issuing with every delivery sent, a
killed worker holds only the delivery it was sending, and crashes are not failed attempts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from credbridge.connector.issuing.adapters.base import IssueResult, TransientIssueError
from credbridge.connector.issuing.adapters.webhook import WebhookAdapter
from credbridge.connector.issuing.pipeline.backoff import Backoff
from credbridge.connector.issuing.pipeline.outbox import NOTIFY_KIND
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, OutboxItem, WorkItem
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.issuing.adapters.fakes import FakeWebhookReceiver, Faults
from tests.issuing.pipeline import factories

SECRET = "whsec-recovery-0123456789"
NO_BACKOFF = Backoff(base_seconds=0, cap_seconds=0, jitter=0)


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    fake = FakeWebhookReceiver(SECRET).start()
    yield fake
    fake.stop()


class InstantTarget:
    """A target that issues at once; marks the thread so the test can hold the recording commit."""

    def __init__(self, name: str, marks: threading.local) -> None:
        self.name = name
        self.marks = marks

    def issue(self, payload, key):  # type: ignore[no-untyped-def]
        self.marks.recording = True
        return IssueResult(external_id=f"{self.name}-{payload.award_id}")

    def lookup(self, key, payload):  # type: ignore[no-untyped-def]
        return None


def test_two_deliveries_recorded_at_the_same_moment_issue_the_award(database: Database) -> None:
    """Two workers record an award's two deliveries at once: each transaction used to check "are all
    deliveries sent?" before the other committed, so neither issued the award."""
    with database.unit_of_work() as s:
        school = factories.school(s, targets=["webhook", "credly"])
        award_id = factories.award(s, school, factories.learner(s, school)).id
    marks = threading.local()
    both = threading.Barrier(2, timeout=2)

    def hold_commit(session: Session) -> None:
        # each worker's recording transaction waits (up to 2 s) for the other's to be ready to commit too
        if getattr(marks, "recording", False):
            marks.recording = False
            with contextlib.suppress(threading.BrokenBarrierError):  # the other one waits for our lock
                both.wait()

    event.listen(Session, "before_commit", hold_commit)
    try:
        workers = [OutboxWorker(database, lambda school, target: InstantTarget(target, marks),
                                WorkerConfig(owner=f"daemon-{i}", batch=1)) for i in range(2)]
        claimed = [w.claim_batch() for w in workers]  # one delivery each
        assert sorted(len(ids) for ids in claimed) == [1, 1]
        results = []
        threads = [threading.Thread(target=lambda w=w, ids=ids: results.append(w.process(ids[0])))
                   for w, ids in zip(workers, claimed, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(Session, "before_commit", hold_commit)
    assert sorted(r.sent for r in results) == [1, 1], "each worker sent one delivery"
    with database.unit_of_work() as s:
        assert s.get(Award, award_id).status == "issued"
        assert s.scalars(select(WorkItem.key).where(WorkItem.kind == NOTIFY_KIND)).all() == [f"award:{award_id}"]


def test_the_sweep_issues_an_award_left_issuing_with_every_delivery_sent(database: Database) -> None:
    from credbridge.connector.issuing.pipeline.outbox import repair_awards

    with database.unit_of_work() as s:
        school = factories.school(s, targets=["embedded", "webhook"])
        stranded = factories.award(s, school, factories.learner(s, school, 1))
        in_flight = factories.award(s, school, factories.learner(s, school, 2))
        for award in (stranded, in_flight):
            award.status = "issuing"
        for item in s.scalars(select(OutboxItem)):
            item.status = "sent" if item.award_id == stranded.id or item.target == "embedded" else "sending"
        ids = stranded.id, in_flight.id
    with database.unit_of_work() as s:
        assert repair_awards(s) == [ids[0]]
    with database.unit_of_work() as s:
        assert s.get(Award, ids[0]).status == "issued" and s.get(Award, ids[1]).status == "issuing"
        assert s.scalars(select(WorkItem.key).where(WorkItem.kind == NOTIFY_KIND)).all() == [f"award:{ids[0]}"]
        assert repair_awards(s) == []  # nothing twice


def test_a_killed_worker_holds_only_the_delivery_it_was_sending(database: Database,
                                                                receiver: FakeWebhookReceiver) -> None:
    n = 5
    with database.unit_of_work() as s:
        school = factories.school(s, targets=["webhook"])
        for i in range(n):
            factories.award(s, school, factories.learner(s, school, i))
    receiver.faults = Faults(script=["timeout_after_commit"], hang_seconds=30)  # the first send never answers
    env = {**os.environ, "CREDBRIDGE_SECRET_KEY": TEST_SECRET_KEY}
    child = subprocess.Popen([sys.executable, "-m", "tests.issuing.pipeline.worker_process", database.url,
                              receiver.url + "/hook", SECRET, "doomed", "60"],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not receiver.issued and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert sum(receiver.issued.values()) == 1, "killed while its first delivery was in flight"

    def adapters(school, target):  # type: ignore[no-untyped-def]
        return WebhookAdapter({"url": receiver.url + "/hook", "secret": SECRET, "read_timeout": 2})

    receiver.faults = Faults()
    survivor = OutboxWorker(database, adapters, WorkerConfig(owner="survivor", lease_seconds=60))
    assert survivor.run_once().sent == n - 1, "the rows the dead worker was not sending are free at once"
    with database.unit_of_work() as s:
        [held] = s.scalars(select(OutboxItem).where(OutboxItem.status != "sent")).all()
        assert (held.status, held.lease_owner) == ("sending", "doomed")
        held.lease_expires_at = utcnow() - timedelta(seconds=1)  # one lease period later
    stats = survivor.run_once()
    assert (stats.sent, stats.reconciled) == (1, 1), "the in-flight delivery is found at the target, not resent"
    assert sorted(receiver.issued.values()) == [1] * n
    with database.unit_of_work() as s:
        assert {a.status for a in s.scalars(select(Award))} == {"issued"}
        held = s.get(OutboxItem, held.id)
        assert (held.attempts, held.crashes) == (2, 1)


def test_crashes_while_sending_are_not_failed_attempts(database: Database, receiver: FakeWebhookReceiver) -> None:
    with database.unit_of_work() as s:
        school = factories.school(s, targets=["webhook"])
        factories.award(s, school, factories.learner(s, school))

    class Refusing:
        name = "webhook"

        def issue(self, payload, key):  # type: ignore[no-untyped-def]
            raise TransientIssueError("webhook: connection refused")

        def lookup(self, key, payload):  # type: ignore[no-untyped-def]
            return None

    class Killed(BaseException):
        """What SIGKILL does to the worker mid-send, as far as the database can tell."""

    class Dying:
        name = "webhook"

        def issue(self, payload, key):  # type: ignore[no-untyped-def]
            raise Killed

        def lookup(self, key, payload):  # type: ignore[no-untyped-def]
            return None

    config = WorkerConfig(owner="w", max_attempts=3, backoff=NO_BACKOFF)
    for crash in range(5):  # five daemons die mid-send: more than max_attempts
        with pytest.raises(Killed):
            OutboxWorker(database, lambda school, target: Dying(), config).run_once()
        with database.unit_of_work() as s:
            assert s.scalars(select(OutboxItem.status)).one() == "sending", f"crash {crash}"
            s.scalars(select(OutboxItem)).one().lease_expires_at = utcnow() - timedelta(seconds=1)
    stats = OutboxWorker(database, lambda school, target: Refusing(), config).run_once()
    assert (stats.failed, stats.dead) == (1, 0), "one real failure after five crashes is one failure"
    with database.unit_of_work() as s:
        item = s.scalars(select(OutboxItem)).one()
        assert (item.status, item.attempts, item.crashes) == ("failed", 6, 5)
        assert s.scalar(select(func.count()).select_from(Award).where(Award.status == "dead")) == 0
