"""Exactly once under faults: workers SIGKILLed at random points while a target sometimes answers
500 or times out AFTER it committed. Every award must reach the target exactly once."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from credbridge.connector.issuing.pipeline.idempotency import idempotency_key
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Learner, OutboxItem, School
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.issuing.adapters.fakes import FakeWebhookReceiver, Faults

pytestmark = pytest.mark.slow

SECRET = "whsec-fault-injection-0123456789"
AWARDS = 500
LEASE_SECONDS = 2
KILLED_RUNS = 20


def seed(db: Database, n: int = AWARDS) -> None:
    """Bulk-insert n approved awards, each with one webhook outbox row (what evaluation writes)."""
    with db.unit_of_work() as s:
        school = School(slug="fault", legal_name="Fault School", country="HR", policy={"targets": ["webhook"]})
        s.add(school)
        s.flush()
        s.execute(insert(Learner), [{"school_id": school.id, "full_name": f"Learner {i}", "email": f"l{i}@example.org"}
                                    for i in range(n)])
        learner_ids = list(s.scalars(select(Learner.id).order_by(Learner.id)))
        s.execute(insert(Award), [{"school_id": school.id, "learner_id": lid, "template_code": "T",
                                   "template_version": 1, "status": "approved", "snapshot": {"title": {"en": "T"}}}
                                  for lid in learner_ids])
        awards = s.execute(select(Award.id, Award.learner_id)).all()
        s.execute(insert(OutboxItem), [{"award_id": aid, "target": "webhook", "status": "pending", "attempts": 0,
                                        "idempotency_key": idempotency_key("fault", lid, "T", 1, "webhook")}
                                       for aid, lid in awards])


def spawn(db_url: str, receiver: FakeWebhookReceiver, owner: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CREDBRIDGE_SECRET_KEY": TEST_SECRET_KEY}
    return subprocess.Popen([sys.executable, "-m", "tests.issuing.pipeline.worker_process", db_url,
                             receiver.url + "/hook", SECRET, owner, str(LEASE_SECONDS)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_after_requests(process: subprocess.Popen[bytes], receiver: FakeWebhookReceiver, rng: random.Random,
                        most: int) -> bool:
    """SIGKILL ``process`` once the receiver has seen a drawn number (1..most) of further requests, plus a drawn
    pause of up to 15 ms that moves the kill into the worker's own writes. Progress, not wall time, picks the
    moment: a timed kill misses the work on a machine faster or slower than expected. True if it was killed."""
    with receiver.lock:
        target = len(receiver.requests) + rng.randint(1, most)
    pause = rng.uniform(0, 0.015)
    while process.poll() is None:
        with receiver.lock:
            seen = len(receiver.requests)
        if seen >= target:
            time.sleep(pause)
            break
        time.sleep(0.001)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def check_exactly_once(db: Database, receiver: FakeWebhookReceiver) -> None:
    with db.unit_of_work() as s:
        items = s.scalars(select(OutboxItem)).all()
        statuses = {i.status for i in items}
        assert statuses == {"sent"}, statuses
        assert {a.status for a in s.scalars(select(Award))} == {"issued"}
        sent = {i.idempotency_key: i.external_id for i in items}
    duplicates = {k: n for k, n in receiver.issued.items() if n != 1}
    assert not duplicates, f"issued more than once: {duplicates}"
    assert set(receiver.issued) == set(sent), "every award reached the target"
    assert {k: r["id"] for k, r in receiver.by_key.items()} == sent, "the store records the target's ids"


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    fake = FakeWebhookReceiver(SECRET).start()
    yield fake
    fake.stop()


@pytest.mark.parametrize("seed_value", [1])
def test_sigkill_at_random_points_on_sqlite(seed_value: int, sqlite_template: Path, tmp_path: Path,
                                            receiver: FakeWebhookReceiver) -> None:
    """20 worker runs, each SIGKILLed at a seeded random moment, then one that finishes the job."""
    rng = random.Random(seed_value)
    path = tmp_path / "outbox.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    seed(db)
    # 10 ms per request keeps the job longer than most killed runs even on a fast machine
    receiver.faults = Faults(rate_500=0.02, rate_timeout_after_commit=0.02, hang_seconds=0.5, delay=0.01,
                             seed=seed_value)
    kills = 0
    for run in range(KILLED_RUNS):
        process = spawn(db.url, receiver, f"w{run}")
        kills += kill_after_requests(process, receiver, rng, most=20)  # about 200 of the 500 awards in all
    final = spawn(db.url, receiver, "final")
    _, stderr = final.communicate(timeout=90)
    assert final.returncode == 0, stderr.decode()[-2000:]
    assert kills == KILLED_RUNS, "every killed run must be killed while work remains"
    check_exactly_once(db, receiver)
    db.dispose()


@pytest.mark.postgres
def test_three_concurrent_workers_with_kills_on_postgres(postgres_database: Database,
                                                         receiver: FakeWebhookReceiver) -> None:
    rng = random.Random(7)
    seed(postgres_database)
    receiver.faults = Faults(rate_500=0.02, rate_timeout_after_commit=0.02, hang_seconds=0.5, seed=7)
    url = postgres_database.engine.url.render_as_string(hide_password=False)
    workers = {f"pg{i}": spawn(url, receiver, f"pg{i}") for i in range(3)}
    for round_ in range(4):  # kill one of the three at random, start a replacement
        name = rng.choice(sorted(workers))
        assert kill_after_requests(workers[name], receiver, rng, most=40), "killed while work remains"
        workers[f"pg-restart{round_}"] = spawn(url, receiver, f"pg-restart{round_}")
        del workers[name]
    for process in workers.values():
        _, stderr = process.communicate(timeout=90)
        assert process.returncode == 0, stderr.decode()[-2000:]
    check_exactly_once(postgres_database, receiver)
