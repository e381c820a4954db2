"""Two daemons (real processes) share one PostgreSQL and 50 emulated Moodle sites; the one that keeps
the schedule is SIGKILLed in the middle of the cycle. The other takes the schedule and the killed
daemon's work over, and at the end every site was synced exactly once in the cycle and every award
was issued exactly once (one credential per award and format)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.store import secrets
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    Award,
    Credential,
    LmsConnection,
    OutboxItem,
    SchedulerLease,
    School,
    SyncRun,
    WorkItem,
)
from credbridge.demo import example_mapping_path, recorded_site_path
from credbridge.emulator.dataset import Site
from credbridge.emulator.multisite import serve_sites_in_thread
from credbridge.emulator.server import DEFAULT_TOKEN
from tests.conftest import TEST_SECRET_KEY

SITES = 50
AWARDS_PER_SITE = 19  # the recorded site under the example mapping: 19 automatic awards, 5 wait for a teacher

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _setup(db: Database, urls: list[str]) -> None:
    # the daemons decrypt the tokens with TEST_SECRET_KEY: encrypt with it, whatever an earlier test left
    secrets.configure(TEST_SECRET_KEY)
    with db.unit_of_work() as session:
        for index, url in enumerate(urls, 1):
            school = School(slug=f"school-{index}", legal_name=f"VET School {index}", country="HR",
                            qa_status={"type": "Institutional Quality Assurance"})
            session.add(school)
            session.flush()
            session.add(LmsConnection(school_id=school.id, name="moodle", base_url=url, ws_token=DEFAULT_TOKEN))
            import_mapping_file(session, school, example_mapping_path(), uploaded_by="test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _daemon(name: str, db: Database, folder: Path,
            metrics_port: int | None = None) -> tuple[subprocess.Popen[str], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
    if metrics_port:
        env["CREDBRIDGE_DAEMON_METRICS_PORT"] = str(metrics_port)
    env.update(CREDBRIDGE_DATABASE_URL=db.url, CREDBRIDGE_SECRET_KEY=TEST_SECRET_KEY, CREDBRIDGE_DAEMON_ID=name,
               CREDBRIDGE_LEASE_SECONDS="10", CREDBRIDGE_SCHEDULER_TICK_SECONDS="1",
               CREDBRIDGE_SCHEDULER_LEASE_SECONDS="4", CREDBRIDGE_SYNC_INTERVAL_MINUTES="120",
               # the nightly reconciliation slot as far from now as it gets: this test is one incremental cycle
               CREDBRIDGE_RECONCILE_HOUR_UTC=str((datetime.now(UTC).hour + 12) % 24))
    log = folder / f"{name}.log"
    process = subprocess.Popen([sys.executable, "-m", "credbridge", "daemon", "--workers", "10"], env=env,
                               cwd=folder, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
    return process, log


def _wait(predicate, seconds: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def _scalar(db: Database, query):
    with db.unit_of_work() as session:
        return session.scalar(query)


def test_two_daemons_fifty_sites_one_killed_mid_cycle(postgres_database: Database, tmp_path: Path) -> None:
    db = postgres_database
    sites = [Site.from_recording(recorded_site_path()) for _ in range(SITES)]
    with serve_sites_in_thread(sites, latency_ms=5) as moodles:
        _setup(db, [moodles.site_url(i) for i in range(1, SITES + 1)])
        a, a_log = _daemon("daemon-a", db, tmp_path)
        b = None
        logs = [a_log]
        try:
            _wait(lambda: _scalar(db, select(SchedulerLease.owner)) == "daemon-a", 60, "daemon-a to lead", logs)
            b_metrics = _free_port()
            b, b_log = _daemon("daemon-b", db, tmp_path, metrics_port=b_metrics)
            logs.append(b_log)

            def a_is_mid_sync() -> bool:
                with db.unit_of_work() as session:
                    done = session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.status == "ok"))
                    running = session.scalar(select(func.count()).select_from(WorkItem).where(
                        WorkItem.kind == "sync_connection", WorkItem.status == "running",
                        WorkItem.lease_owner.like("daemon-a/%")))
                    return done >= 5 and running >= 1

            _wait(a_is_mid_sync, 120, "daemon-a in the middle of a sync", logs)
            a.send_signal(signal.SIGKILL)
            a.wait(10)
            killed_ok = _scalar(db, select(func.count()).select_from(SyncRun).where(SyncRun.status == "ok"))
            assert killed_ok < SITES, "the kill came after the cycle: nothing was left to take over"

            def cycle_and_issuance_done() -> bool:
                with db.unit_of_work() as session:
                    ok = session.scalar(select(func.count(func.distinct(SyncRun.connection_id)))
                                        .where(SyncRun.status == "ok"))
                    issued = session.scalar(select(func.count()).select_from(Award)
                                            .where(Award.status == "issued"))
                    return ok == SITES and issued == SITES * AWARDS_PER_SITE

            _wait(cycle_and_issuance_done, 240, "every site synced and every award issued", logs)
            time.sleep(3)  # a few more ticks: a second cycle or a repeated sync would show now
            exposed = requests.get(f"http://127.0.0.1:{b_metrics}/metrics", timeout=10).text
            b_ok_syncs = sum(float(v) for v in re.findall(
                r'credbridge_syncs_total\{connection_id="\d+",mode="incremental",status="ok"\} (\S+)', exposed))
        finally:
            for process in (a, b):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(60)
                    except subprocess.TimeoutExpired:
                        process.kill()
        calls = moodles.app.calls()

    with db.unit_of_work() as session:
        ok_runs = Counter(session.scalars(select(SyncRun.connection_id).where(SyncRun.status == "ok")))
        a_ok_syncs = session.scalar(select(func.count()).select_from(SyncRun).where(
            SyncRun.status == "ok", SyncRun.worker.like("daemon-a/%")))
        connections = set(session.scalars(select(LmsConnection.id)))
        assert set(ok_runs) == connections and set(ok_runs.values()) == {1}, ok_runs
        # the schedule was kept once: one request per connection, made by one leader
        items = session.scalars(select(WorkItem).where(WorkItem.kind == "sync_connection")).all()
        assert len(items) == SITES and {i.status for i in items} == {"done"}
        assert session.scalar(select(SchedulerLease.owner)) is None  # b released it on SIGTERM
        assert session.scalar(select(SchedulerLease.term)) == 2  # a, then b: one change of leader
        per_award = Counter(session.execute(select(Credential.award_id, Credential.format)).all())
        assert per_award and set(per_award.values()) == {1}
        issued = session.scalar(select(func.count()).select_from(Award).where(Award.status == "issued"))
        assert issued == SITES * AWARDS_PER_SITE
        # every issued award has every format its template asks for, once (templates differ in formats)
        by_template: dict[str, set[frozenset[str]]] = {}
        formats_of: dict[int, set[str]] = {}
        for award_id, fmt in per_award:
            formats_of.setdefault(award_id, set()).add(fmt)
        for award_id, code in session.execute(select(Award.id, Award.template_code).where(Award.status == "issued")):
            by_template.setdefault(code, set()).add(frozenset(formats_of.get(award_id, set())))
        assert set(formats_of) == set(session.scalars(select(Award.id).where(Award.status == "issued")))
        assert all(len(sets) == 1 and all(sets) for sets in by_template.values()), by_template
        assert session.scalar(select(func.count()).select_from(Award).where(Award.status == "issuing")) == 0
        unsent = select(func.count()).select_from(OutboxItem).join(Award).where(
            Award.status == "issued", OutboxItem.status != "sent")
        assert session.scalar(unsent) == 0
    b_text = b_log.read_text()
    assert "daemon-b now keeps the schedule" in b_text
    # b's own metrics: the syncs it ran, and the sync it took over from the killed daemon
    assert b_ok_syncs == SITES - a_ok_syncs
    takeovers = re.search(r'credbridge_lease_takeovers_total\{table="work_item"\} (\S+)', exposed)
    assert takeovers is not None and float(takeovers.group(1)) >= 1
    assert "taken over by daemon-b/" in b_text
    assert all(n > 0 for n in calls.values()) and len(calls) == SITES
