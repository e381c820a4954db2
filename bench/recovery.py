"""Recovery after a crash: how long a killed daemon's work waits before another daemon holds it.

    python bench/recovery.py             # default settings (lease 60 s, poll 2 s), 3 kills per kind and database
    python bench/recovery.py --quick     # lease 10 s, 2 kills per kind and database (about two minutes)
    python bench/recovery.py --lease-seconds 30 --poll-seconds 1 --kills 5

Two `credbridge daemon` processes share one database (SQLite, then a throwaway PostgreSQL). For each kind of
work — a long sync (the Moodle emulator answers slowly) and a delivery to a webhook that does not answer —
the daemon holding it is SIGKILLed at a drawn moment, and the clock runs until a worker of the other daemon
holds the same work item or outbox row (its lease owner changes). The killed daemon is started again, and
the next kill goes to whichever daemon holds the work then. The promise is that recovery takes at most one
lease period (``lease_seconds``); the table gives each kind's times and the worst one as a share of it.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the throwaway PostgreSQL server and the fake webhook receiver of the tests

from sqlalchemy import select  # noqa: E402

from bench.common import machine  # noqa: E402 - after the path is set
from credbridge.connector.store import migrate, secrets  # noqa: E402
from credbridge.connector.store.db import Database  # noqa: E402
from credbridge.connector.store.models import Award, Learner, LmsConnection, OutboxItem, WorkItem  # noqa: E402
from credbridge.connector.sync.worker import request_connection_sync  # noqa: E402
from credbridge.emulator.dataset import Site  # noqa: E402
from credbridge.emulator.server import DEFAULT_TOKEN, serve_in_thread  # noqa: E402
from tests.issuing.adapters.fakes import FakeWebhookReceiver, Faults  # noqa: E402
from tests.issuing.pipeline import factories  # noqa: E402

SECRET_KEY = os.environ.get("CREDBRIDGE_SECRET_KEY", "bench-secret-key-0123456789abcdef-0123")
WEBHOOK_SECRET = "whsec-recovery-bench-0123456789"  # noqa: S105 - a fake receiver on 127.0.0.1



class Daemons:
    """Two daemon processes on one database, started again after each kill."""

    def __init__(self, url: str, folder: Path, lease: int, poll: float) -> None:
        self.url, self.folder, self.lease, self.poll = url, folder, lease, poll
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.count = 0

    def start(self, slot: str) -> str:
        self.count += 1
        name = f"{slot}-{self.count}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
        env.update(CREDBRIDGE_DATABASE_URL=self.url, CREDBRIDGE_SECRET_KEY=SECRET_KEY, CREDBRIDGE_DAEMON_ID=name,
                   CREDBRIDGE_LEASE_SECONDS=str(self.lease), CREDBRIDGE_POLL_SECONDS=str(self.poll),
                   CREDBRIDGE_SYNC_INTERVAL_MINUTES="1440", CREDBRIDGE_LOG_LEVEL="INFO")
        path = self.folder / f"{name}.log"
        with path.open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "credbridge", "daemon", "--workers", "2"], env=env, cwd=self.folder,
                stdout=log, stderr=subprocess.STDOUT)
        # the next kill waits until this daemon's workers run: recovery, not start-up, is measured
        if not wait_for(lambda: "started with" in path.read_text(errors="replace"), timeout=300, step=0.2):
            raise SystemExit(f"daemon {name} did not start within 300 s")
        return name

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(90)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def owner_of(db: Database, what: str) -> str | None:
    """The daemon whose worker holds the work: the connection's sync item, or the webhook delivery."""
    with db.unit_of_work() as session:
        if what == "sync":
            owner = session.scalar(select(WorkItem.lease_owner).where(WorkItem.kind == "sync_connection"))
        else:
            owner = session.scalar(select(OutboxItem.lease_owner).where(OutboxItem.target == "webhook"))
    return owner.split("/")[0] if owner else None


def wait_for(condition: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None


def measure(db: Database, daemons: Daemons, what: str, kills: int, rng: random.Random) -> list[float]:
    """Kill the holder ``kills`` times; the seconds until the other daemon held the work, each time."""
    times: list[float] = []
    holder = wait_for(lambda: owner_of(db, what), timeout=120)
    if holder is None:
        raise SystemExit(f"{what}: no daemon took the work within 120 s")
    for _ in range(kills):
        time.sleep(rng.uniform(0, daemons.lease / 3))  # somewhere between two heartbeats
        if owner_of(db, what) != holder:
            holder = owner_of(db, what)
        daemons.kill(holder)
        killed_at = time.monotonic()
        new = wait_for(lambda h=holder: (o := owner_of(db, what)) and o != h and o, timeout=3 * daemons.lease)
        if new is None:
            raise SystemExit(f"{what}: nobody took the work of {holder} within {3 * daemons.lease} s")
        times.append(round(time.monotonic() - killed_at, 2))
        daemons.start(holder.split("-")[0])
        holder = new
    return times


def run(db: Database, folder: Path, lease: int, poll: float, kills: int, rng: random.Random) -> dict[str, Any]:
    site = Site.generate(courses=6, learners_per_course=20, seed=1)
    receiver = FakeWebhookReceiver(WEBHOOK_SECRET)
    # every delivery hangs far longer than any kill cycle: the row stays in flight until it is taken over
    receiver.faults = Faults(script=["timeout_before_commit"] * 1000, hang_seconds=3600)
    receiver.start()
    # each Moodle call answers after 25 s (inside the client's 30 s timeout): the sync outlasts the benchmark
    with serve_in_thread(site, latency_ms=25_000) as emulator:
        with db.unit_of_work() as session:
            school = factories.school(session, slug="recovery",
                                      targets={"webhook": {"url": receiver.url + "/hook", "secret": WEBHOOK_SECRET,
                                                           "read_timeout": 3600}})
            session.add(LmsConnection(school_id=school.id, name="moodle", base_url=emulator.url,
                                      ws_token=DEFAULT_TOKEN))
            session.flush()
            request_connection_sync(session, session.scalar(select(LmsConnection.id)))
            factories.award(session, school, factories.learner(session, school))
            assert session.scalar(select(Award.id)) and session.scalar(select(Learner.id))
        daemons = Daemons(db.url, folder, lease, poll)
        daemons.start("a")
        daemons.start("b")
        try:
            result = {what: measure(db, daemons, what, kills, rng) for what in ("sync", "delivery")}
        finally:
            daemons.stop()
            receiver.stop()
    return result


def sqlite(folder: Path) -> Database:
    url = f"sqlite:///{folder / 'recovery.db'}"
    migrate.upgrade(url)
    return Database(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="lease 10 s, 2 kills per kind and database")
    parser.add_argument("--lease-seconds", type=int, help="CREDBRIDGE_LEASE_SECONDS of the daemons (default 60)")
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="CREDBRIDGE_POLL_SECONDS (default 2)")
    parser.add_argument("--kills", type=int, help="kills per kind and database (default 3)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    lease = args.lease_seconds or (10 if args.quick else 60)
    kills = args.kills or (2 if args.quick else 3)
    secrets.configure(SECRET_KEY)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake receiver's request lines
    rng = random.Random(args.seed)
    info = machine()
    print(f"credbridge recovery benchmark — {info['platform']}, {info['cpus']} CPUs, Python {info['python']}, "
          f"load average {os.getloadavg()[0]:.2f}; lease {lease} s, poll {args.poll_seconds} s")
    figures: dict[str, Any] = {"machine": info, "lease_seconds": lease, "poll_seconds": args.poll_seconds,
                               "kills": kills, "load_before": round(os.getloadavg()[0], 2), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="credbridge-recovery-") as tmp:
        folder = Path(tmp)
        db = sqlite(folder)
        figures["runs"]["sqlite"] = run(db, folder, lease, args.poll_seconds, kills, rng)
        db.dispose()
        if not args.no_postgres:
            from pytest_postgresql.janitor import DatabaseJanitor

            from tests.support.postgres import LocalPostgres, PostgresUnavailable

            try:
                local = LocalPostgres()
                server = local.start()
            except PostgresUnavailable as exc:
                figures["runs"]["postgres"] = f"skipped ({exc})"
            else:
                try:
                    DatabaseJanitor(user=server.user, host=server.host, port=server.port, dbname="recovery").init()
                    migrate.upgrade(server.url("recovery"))
                    db = Database(server.url("recovery"))
                    figures["runs"]["postgres"] = run(db, folder, lease, args.poll_seconds, kills, rng)
                    db.dispose()
                finally:
                    local.stop()
    figures["load_after"] = round(os.getloadavg()[0], 2)
    print(f"\nSeconds from SIGKILL until another daemon holds the work (lease {lease} s)")
    print(f"  {'database':<9} {'work':<9} {'kills':>5} {'min':>6} {'median':>7} {'max':>6} {'max / lease':>11}")
    for database, result in figures["runs"].items():
        if isinstance(result, str):
            print(f"  {database:<9} {result}")
            continue
        for what, times in result.items():
            print(f"  {database:<9} {what:<9} {len(times):>5} {min(times):>6.1f} {statistics.median(times):>7.1f} "
                  f"{max(times):>6.1f} {max(times) / lease:>11.2f}")
    print(f"  load average before {figures['load_before']}, after {figures['load_after']}")
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
