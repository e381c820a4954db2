"""Many schools: one database, one schedule, two daemons, hundreds of emulated Moodle sites.

An agency runs credbridge for N schools, each with its own Moodle (C courses × U learners). Two
``credbridge daemon`` processes share one PostgreSQL; one of them keeps the schedule (the scheduler
lease), both run syncs through the work-item leases. The bench measures a **full cycle** (every
site synced once), at the client's default politeness (20 calls/s and 4 in flight per site) and 20 ms
per call (a Moodle across the internet):

1. the **first cycle** at the largest N: every site read for the first time;
2. a **steady cycle** after 1 % of each site's learners did something, at each N of ``--scales``
   (e.g. 50, 100, 200 enabled schools): time for the cycle, WS calls per site, and the peak memory
   (VmHWM) of each daemon, which should not grow with N.

Between cycles the bench moves the schedule on (it marks the last requests one interval old) instead
of waiting 15 minutes. The Moodle sites run in ``--emulators`` processes of their own
(``python -m credbridge.emulator.multisite``).

    .venv/bin/python bench/schools.py --quick        # 20 sites × 5 courses × 10 learners, scales 5/10/20
    .venv/bin/python bench/schools.py                # 200 × 20 × 30, scales 50/100/200 (long: the first cycle)

Prints a table, the machine and its load, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select, update  # noqa: E402

from bench.common import free_port, machine  # noqa: E402 - after the path is set
from credbridge.connector.store import migrate, secrets  # noqa: E402
from credbridge.connector.store.db import Database  # noqa: E402
from credbridge.connector.store.models import LmsConnection, School, SyncRun, WorkItem  # noqa: E402
from credbridge.emulator.dataset import Site  # noqa: E402
from credbridge.emulator.server import DEFAULT_TOKEN  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef-not-for-production"  # noqa: S105 - throwaway database
INTERVAL_MINUTES = 15




class Emulators:
    """``processes`` multisite emulators sharing the sites; site i (1-based) → (process, local index)."""

    def __init__(self, sites: int, processes: int, courses: int, learners: int, latency_ms: float,
                 folder: Path) -> None:
        self.sites, self.processes = sites, []
        self.per = -(-sites // processes)
        self.urls: list[str] = []
        for p in range(processes):
            first = p * self.per + 1
            count = min(self.per, sites - p * self.per)
            if count <= 0:
                break
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "credbridge.emulator.multisite", "--port", str(port), "--sites", str(count),
                 "--first", str(first), "--courses", str(courses), "--learners", str(learners),
                 "--latency-ms", str(latency_ms)],
                stdout=subprocess.PIPE, stderr=(folder / f"emulator-{p}.log").open("wb"), text=True)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "Moodle emulators on" not in line:
                raise RuntimeError(f"emulator {p} did not start: {line!r}")
            self.processes.append(proc)
            self.urls.append(f"http://127.0.0.1:{port}")

    def site_url(self, site: int) -> str:
        p, local = divmod(site - 1, self.per)
        return f"{self.urls[p]}/site/{local + 1}"

    def calls(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for p, url in enumerate(self.urls):
            for local, n in requests.get(f"{url}/_emulator/sites", timeout=60).json()["calls"].items():
                found[p * self.per + int(local)] = n
        return found

    def reset(self) -> None:
        for url in self.urls:
            requests.post(f"{url}/_emulator/sites/reset", timeout=60)

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
            proc.wait(20)


def start_postgres(url: str | None) -> tuple[str, Any]:
    if url:
        return url, lambda: None
    from pytest_postgresql.janitor import DatabaseJanitor

    from tests.support.postgres import LocalPostgres

    local = LocalPostgres()
    server = local.start()
    DatabaseJanitor(user=server.user, host=server.host, port=server.port, dbname="schools").init()
    return server.url("schools"), local.stop


def add_schools(db: Database, emulators: Emulators) -> None:
    with db.unit_of_work() as session:
        for i in range(1, emulators.sites + 1):
            school = School(slug=f"school-{i:03d}", legal_name=f"Strukovna škola {i}", country="HR")
            session.add(school)
            session.flush()
            session.add(LmsConnection(school_id=school.id, name="moodle", base_url=emulators.site_url(i),
                                      ws_token=DEFAULT_TOKEN, enabled=False))


def enable(db: Database, count: int) -> list[int]:
    with db.unit_of_work() as session:
        ids = list(session.scalars(select(LmsConnection.id).order_by(LmsConnection.id)))
        session.execute(update(LmsConnection).values(enabled=False))
        session.execute(update(LmsConnection).where(LmsConnection.id.in_(ids[:count])).values(enabled=True))
        return ids[:count]


def next_interval(db: Database) -> None:
    """What 15 minutes of waiting would do: the last sync requests become one interval old."""
    old = (datetime.now(UTC) - timedelta(minutes=INTERVAL_MINUTES + 1)).isoformat()
    with db.unit_of_work() as session:
        for item in session.scalars(select(WorkItem).where(WorkItem.kind == "sync_connection")):
            item.payload = {**(item.payload or {}), "requested_at": old}


def change_one_percent(sites: list[Site], emulators: Emulators, count: int, rng: random.Random) -> int:
    """1 % of the learners of each of the first ``count`` sites complete one more activity (through the
    emulator's control API; the local copy of each site follows, to choose the next changes)."""
    changed = 0
    for index in range(1, count + 1):
        site = sites[index - 1]
        pairs = sorted((e.courseid, e.userid) for e in site.enrolments.values() if e.roleid == 5 and e.status == 0)
        todo = [(c, u, [m.id for m in site.course_modules(c) if site.activity_state(m.id, u)[0] == 0])
                for c, u in pairs]
        todo = [(c, u, cms) for c, u, cms in todo if cms]
        for _course, userid, cms in rng.sample(todo, min(len(todo), max(1, len(pairs) // 100))):
            response = requests.post(f"{emulators.site_url(index)}/_emulator/mutate", timeout=60,
                                     json={"action": "complete_activity", "args": {"userid": userid, "cmid": cms[0]}})
            if response.status_code == 200:
                site.complete_activity(userid, cms[0])
                changed += 1
    return changed


def peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else float("nan")


def queued(db: Database) -> int:
    with db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.status.in_(("pending", "running")))) or 0


def run_cycle(db: Database, db_url: str, ids: list[int], emulators: Emulators, workers: int, folder: Path,
              label: str, timeout_s: float, *, drain: bool = False) -> dict[str, Any]:
    """Start two daemons, wait until every enabled connection has a new successful sync (and, with
    ``drain``, until no work is left: the evaluations the syncs queued, and any sync that came due
    meanwhile), then stop them."""
    emulators.reset()
    with db.unit_of_work() as session:
        last_run = session.scalar(select(func.max(SyncRun.id))) or 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
    env.update(CREDBRIDGE_DATABASE_URL=db_url, CREDBRIDGE_SECRET_KEY=SECRET, CREDBRIDGE_LOG_LEVEL="WARNING",
               CREDBRIDGE_SCHEDULER_TICK_SECONDS="2", CREDBRIDGE_SYNC_INTERVAL_MINUTES=str(INTERVAL_MINUTES),
               CREDBRIDGE_RECONCILE_HOUR_UTC=str((datetime.now(UTC).hour + 12) % 24))
    daemons = []
    started = time.monotonic()
    for name in ("a", "b"):
        log = (folder / f"daemon-{label}-{name}.log").open("wb")
        daemons.append(subprocess.Popen([sys.executable, "-m", "credbridge", "daemon", "--workers", str(workers)],
                                        env={**env, "CREDBRIDGE_DAEMON_ID": f"daemon-{name}"}, cwd=folder,
                                        stdout=log, stderr=subprocess.STDOUT))
    rss: list[float] = []
    try:
        deadline = started + timeout_s
        while True:
            with db.unit_of_work() as session:
                done = session.scalar(select(func.count(func.distinct(SyncRun.connection_id))).where(
                    SyncRun.id > last_run, SyncRun.status == "ok", SyncRun.connection_id.in_(ids)))
                failed = session.scalar(select(func.count()).select_from(SyncRun).where(
                    SyncRun.id > last_run, SyncRun.status == "failed"))
            if done == len(ids):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: only {done} of {len(ids)} sites synced in {timeout_s:.0f} s")
            for d in daemons:
                if d.poll() is not None:
                    raise RuntimeError(f"{label}: a daemon exited ({d.returncode}); see {folder}")
            time.sleep(1)
        elapsed = time.monotonic() - started
        drained = None
        if drain:
            while queued(db):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: {queued(db)} work items still queued after {timeout_s:.0f} s")
                time.sleep(2)
            drained = time.monotonic() - started
        rss = [peak_rss_mb(d.pid) for d in daemons]
    finally:
        for d in daemons:
            if d.poll() is None:
                d.send_signal(signal.SIGTERM)
        for d in daemons:
            try:
                d.wait(90)
            except subprocess.TimeoutExpired:
                d.kill()
    with db.unit_of_work() as session:
        runs = session.execute(select(SyncRun.connection_id, SyncRun.started_at, SyncRun.finished_at,
                                      SyncRun.worker, SyncRun.ws_calls)
                               .where(SyncRun.id > last_run, SyncRun.status == "ok")
                               .order_by(SyncRun.id)).all()
        evaluations = session.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.kind == "evaluate")) or 0
    seen: set[int] = set()
    firsts = []  # the cycle's own syncs: each connection's first (a drain may sync some again)
    for r in runs:
        if r.connection_id not in seen:
            seen.add(r.connection_id)
            firsts.append(r)
    runs = firsts
    per_daemon = {name: sum(1 for r in runs if (r.worker or "").startswith(f"daemon-{name}/")) for name in "ab"}
    calls = [n for site, n in emulators.calls().items() if site <= len(ids)]
    span = (max(r.finished_at for r in runs) - min(r.started_at for r in runs)).total_seconds()
    return {"label": label, "sites": len(ids), "wall_s": round(elapsed, 1), "sync_span_s": round(span, 1),
            "failed_syncs": failed, "syncs_by_daemon": per_daemon,
            "ws_calls_total": sum(calls), "ws_calls_per_site": {
                "min": min(calls), "median": statistics.median(calls), "max": max(calls)},
            "peak_rss_mb": [round(x, 1) for x in rss],
            "drained_s": round(drained, 1) if drained is not None else None, "evaluations_queued": evaluations}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 sites × 5 courses × 10 learners, scales 5/10/20")
    parser.add_argument("--sites", type=int)
    parser.add_argument("--courses", type=int)
    parser.add_argument("--learners", type=int)
    parser.add_argument("--scales", help="comma-separated numbers of schools for the steady cycles")
    parser.add_argument("--workers", type=int, help="worker threads per daemon (default 4 quick, 10 full)")
    parser.add_argument("--emulators", type=int, default=2, help="emulator processes (default 2)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--pg-url", help="a running PostgreSQL database instead of a throwaway server")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the daemons, emulators and PostgreSQL too
    sites = args.sites or (20 if args.quick else 200)
    courses = args.courses or (5 if args.quick else 20)
    learners = args.learners or (10 if args.quick else 30)
    scales = [int(s) for s in (args.scales or ("5,10,20" if args.quick else "50,100,200")).split(",")]
    scales = sorted({min(s, sites) for s in scales})
    workers = args.workers or (4 if args.quick else 10)
    secrets.configure(SECRET)
    load_before = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="credbridge-bench-schools-"))
    db_url, stop_pg = start_postgres(args.pg_url)
    migrate.upgrade(db_url)
    db = Database(db_url)
    print(f"generating {sites} sites × {courses} courses × {learners} learners…", file=sys.stderr, flush=True)
    emulators = Emulators(sites, args.emulators, courses, learners, args.latency_ms, folder)
    local_sites = [Site.generate(courses=courses, learners_per_course=learners, seed=1 + i) for i in range(sites)]
    cycles: list[dict[str, Any]] = []
    rng = random.Random(16)
    timeout = 4 * 3600.0
    try:
        add_schools(db, emulators)
        ids = enable(db, sites)
        print(f"first cycle: {sites} sites…", file=sys.stderr, flush=True)
        cycles.append({**run_cycle(db, db_url, ids, emulators, workers, folder, "first", timeout, drain=True),
                       "scenario": "first sync"})
        for scale in scales:
            ids = enable(db, scale)
            changed = change_one_percent(local_sites, emulators, scale, rng)
            next_interval(db)
            print(f"steady cycle: {scale} sites, {changed} learners changed…", file=sys.stderr, flush=True)
            cycles.append({**run_cycle(db, db_url, ids, emulators, workers, folder, f"steady-{scale}", timeout,
                                       drain=True),
                           "scenario": "after 1 % changed", "learners_changed": changed})
    finally:
        emulators.stop()
        db.dispose()
        stop_pg()
    load_after = os.getloadavg()
    print(f"Many schools — {sites} emulated Moodle sites × {courses} courses × {learners} learners, "
          f"{args.latency_ms:g} ms per WS call, 20 calls/s per site; two daemons × {workers} workers on one "
          f"PostgreSQL; sync interval {INTERVAL_MINUTES} min")
    print(f"{'cycle':<22} {'sites':>5} {'cycle s':>8} {'syncs s':>8} {'inside 15 min':>13} "
          f"{'WS calls/site (min/med/max)':>28} {'syncs a/b':>10} {'peak RSS MB a/b':>16}")
    for c in cycles:
        per = c["ws_calls_per_site"]
        inside = "yes" if c["wall_s"] <= INTERVAL_MINUTES * 60 else "no"
        print(f"{c['scenario'] + ' ' + str(c['sites']):<22} {c['sites']:>5} {c['wall_s']:>8.1f} "
              f"{c['sync_span_s']:>8.1f} {inside:>13} "
              f"{per['min']:>8}/{per['median']:>8.0f}/{per['max']:>8} "
              f"{c['syncs_by_daemon']['a']:>4}/{c['syncs_by_daemon']['b']:<5} "
              f"{c['peak_rss_mb'][0]:>7.0f}/{c['peak_rss_mb'][1]:<8.0f}")
    print("cycle s: from starting the two daemons to the last site's sync committed (includes their start-up); "
          "syncs s: from the first sync's start to the last one's end")
    for c in cycles:
        print(f"{c['label']}: every queued evaluation done {c['drained_s']} s after the start "
              f"({c['evaluations_queued']} evaluation work items in the database)")
    m = machine()
    print(f"machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (other work on the machine slows every figure)")
    print(json.dumps({"bench": "schools", "machine": {**m, "load_before": [round(x, 2) for x in load_before],
                                                      "load_after": [round(x, 2) for x in load_after]},
                      "sites": sites, "courses": courses, "learners": learners, "workers_per_daemon": workers,
                      "latency_ms": args.latency_ms, "interval_minutes": INTERVAL_MINUTES, "cycles": cycles},
                     separators=(",", ":")))
    return 0 if all(c["failed_syncs"] == 0 for c in cycles) else 1


if __name__ == "__main__":
    sys.exit(main())
