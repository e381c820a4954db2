"""Kill a sync with SIGKILL at random points, restart it, and prove nothing is lost or duplicated."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Enrolment, Evidence, SyncCursor, WorkItem
from credbridge.connector.sync.runner import sync_connection
from credbridge.emulator.dataset import Site
from credbridge.emulator.server import serve_in_thread
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.sync.conftest import TOKEN, Harness, make_connection

RUNS = 20
SEED = 20261122


def state(db: Database) -> dict:
    with db.unit_of_work() as session:
        return {
            "evidence": Harness(db, None, 0, None).snapshot(),  # type: ignore[arg-type]
            "rows": session.scalar(select(func.count()).select_from(Evidence)),
            "current": session.scalar(select(func.count()).select_from(Evidence).where(Evidence.is_current)),
            "enrolments": session.scalar(select(func.count()).select_from(Enrolment)),
            "evaluate": session.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.kind == "evaluate")),
            "cursors": sorted((c.course_key, c.stream) for c in session.scalars(select(SyncCursor))),
        }


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(sqlite_template: Path, tmp_path: Path):
    rng = random.Random(SEED)
    # small enough that 20+ kill/restart cycles stay around a minute, big enough for many transactions
    site = Site.generate(courses=3, learners_per_course=8, seed=SEED)
    with serve_in_thread(site) as emulator:
        template = tmp_path / "with-connection.db"
        shutil.copyfile(sqlite_template, template)
        seed_db = Database(f"sqlite:///{template}")
        connection_id = make_connection(seed_db, emulator.url)
        seed_db.dispose()

        reference_path = tmp_path / "reference.db"
        shutil.copyfile(template, reference_path)
        reference_db = Database(f"sqlite:///{reference_path}")
        client = MoodleClient(emulator.url, TOKEN, rate_per_second=None, max_concurrency=1)
        emulator.reset_calls()
        sync_connection(reference_db, connection_id, client=client)
        sync_calls = emulator.total_calls
        expected = state(reference_db)
        reference_db.dispose()
        assert expected["current"] == expected["rows"] > 50

        killed = 0
        for run in range(RUNS):
            path = tmp_path / f"run-{run}.db"
            shutil.copyfile(template, path)
            url = f"sqlite:///{path}"
            for _kill in range(rng.choice((1, 2))):
                child = subprocess.Popen([sys.executable, "-m", "tests.sync.crash_child", url, str(connection_id),
                                          TEST_SECRET_KEY],
                                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                assert child.stdout is not None
                # Kill points are drawn in WS calls, not seconds: a timed kill lands after the end of the sync
                # whenever the machine is faster or slower than expected. The extra sleep moves the kill off the
                # request itself and into the database writes between requests.
                kill_at = rng.randrange(1, sync_calls)
                pause = rng.uniform(0, 0.005)
                emulator.reset_calls()
                assert child.stdout.readline().strip() == "syncing"
                while emulator.total_calls < kill_at and child.poll() is None:
                    time.sleep(0.0005)
                time.sleep(pause)
                child.send_signal(signal.SIGKILL)
                child.wait(10)
                killed += child.returncode == -signal.SIGKILL
            db = Database(url)
            sync_connection(db, connection_id, client=client)  # the restart finishes the job
            got = state(db)
            db.dispose()
            assert got == expected, f"run {run}: state differs from an uninterrupted sync"
        assert killed >= RUNS, "every first child must really have been killed mid-sync"
