"""Benchmark the incremental sync against the naive strategy on the emulated Moodle.

For each size (C courses x U learners per course) it measures WS calls and wall time of: the first
sync, a no-change re-sync, and a re-sync after 1 % of the learners did something (completed an
activity, got a grade) — for credbridge's incremental strategy and for the naive strategy (every
learner's completion, attempts and competencies read on every sync), in the same run, against the
emulator on 127.0.0.1 with a per-call latency (default 20 ms, like a Moodle on the school's LAN).

    .venv/bin/python bench/sync.py --quick           # C=40 x U=25 only (under a minute on 2 CPUs)
    .venv/bin/python bench/sync.py                   # also C=200 x U=300 (long: each naive sync is a full read)
    .venv/bin/python bench/sync.py --skip ''         # ... with the naive first sync and the reconciliation too

Every figure is measured in the run. At C=200 x U=300 a full read is ~230,000 calls, so by default the
big size leaves out the two runs that repeat one (the naive first sync: the same calls as ours; the
full reconciliation), and says so under the table.

Prints a table and the machine, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine  # noqa: E402 - after the path is set
from credbridge.connector.moodle.client import MoodleClient  # noqa: E402
from credbridge.connector.store import migrate, secrets  # noqa: E402
from credbridge.connector.store.db import Database  # noqa: E402
from credbridge.connector.store.models import LmsConnection, School  # noqa: E402
from credbridge.connector.sync.runner import sync_connection  # noqa: E402
from credbridge.connector.sync.strategy import SyncOptions, SyncReport  # noqa: E402
from credbridge.emulator.dataset import Site  # noqa: E402
from credbridge.emulator.server import DEFAULT_TOKEN  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef-not-for-production"  # noqa: S105 - throwaway DB



def new_db(folder: Path, name: str, url: str) -> tuple[Database, int]:
    db_url = f"sqlite:///{folder / name}.db"
    migrate.upgrade(db_url)
    db = Database(db_url)
    with db.unit_of_work() as session:
        school = School(slug=name, legal_name=name, country="HR")
        session.add(school)
        session.flush()
        conn = LmsConnection(school_id=school.id, name=name, base_url=url, ws_token=DEFAULT_TOKEN)
        session.add(conn)
        session.flush()
        return db, conn.id


def change_one_percent(site: Site, url: str, rng: random.Random) -> int:
    """1 % of the (course, learner) enrolments: the learner completes one more activity.

    ``site`` is the bench's own copy of the generated site (same seed, so the same state as the emulator
    process); the change itself goes through the emulator's control API."""
    pairs = sorted((e.courseid, e.userid) for e in site.enrolments.values() if e.roleid == 5 and e.status == 0)
    candidates = [(c, u, [m.id for m in site.course_modules(c) if site.activity_state(m.id, u)[0] == 0])
                  for c, u in pairs]
    candidates = [(c, u, todo) for c, u, todo in candidates if todo]
    changed = 0
    for _courseid, userid, todo in rng.sample(candidates, min(len(candidates), max(1, len(pairs) // 100))):
        response = requests.post(f"{url}/_emulator/mutate", timeout=30,
                                 json={"action": "complete_activity", "args": {"userid": userid, "cmid": todo[0]}})
        changed += response.status_code == 200
    return changed


@contextmanager
def emulator_process(courses: int, learners: int, seed: int, latency_ms: float) -> Iterator[str]:
    """The emulator in its own process, so that its CPU does not compete with sync for one GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "credbridge.emulator", "--port", "0", "--courses", str(courses), "--learners",
         str(learners), "--seed", str(seed), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not match:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(10)


def run(report: SyncReport) -> dict[str, Any]:
    return {"calls": report.ws_calls, "seconds": round(report.seconds, 3), "learners_read": report.learners_read,
            "new": report.counts.new, "changed": report.counts.changed, "withdrawn": report.counts.withdrawn,
            "per_function": report.calls}


#: why a run may be left out at the big size (``--skip``); printed under the table when it is
SKIP_REASONS = {
    "naive_first": "the naive first sync is the same full read as ours (every learner of every course is new, "
                   "so both strategies make the same calls); the figures shown are our first sync's",
    "reconciliation": "a full reconciliation re-reads everything (about the first sync's cost)",
}


def bench_size(courses: int, learners: int, latency_ms: float, concurrency: int, skip: set[str],
               folder: Path) -> dict[str, Any]:
    """Every figure is a sync of this run; a run named in ``skip`` is not made and is marked so."""
    seed = courses * 1000 + learners
    started = time.monotonic()
    site = Site.generate(courses=courses, learners_per_course=learners, seed=seed)
    generated = time.monotonic() - started
    rng = random.Random(7)
    result: dict[str, Any] = {"courses": courses, "learners_per_course": learners, "latency_ms": latency_ms,
                              "concurrency": concurrency, "generate_seconds": round(generated, 2),
                              "skipped": {k: SKIP_REASONS[k] for k in sorted(skip)}}
    inc_name, naive_name = f"incremental-{courses}x{learners}", f"naive-{courses}x{learners}"
    with emulator_process(courses, learners, seed, latency_ms) as url:
        client = MoodleClient(url, DEFAULT_TOKEN, rate_per_second=None, max_concurrency=concurrency)
        inc_db, inc_id = new_db(folder, inc_name, url)
        naive_db, naive_id = new_db(folder, naive_name, url)
        inc, naive = {}, {}
        inc["first"] = run(sync_connection(inc_db, inc_id, client=client))
        inc["no_change"] = run(sync_connection(inc_db, inc_id, client=client))
        if "naive_first" in skip:
            # start the naive strategy from our synced state (a copy of the database): the same
            # state its own first sync would have left
            naive_db.dispose()
            # closing the last connection checkpoints SQLite's WAL: without it the copy misses the
            # latest transactions and the naive sync would re-write their evidence
            inc_db.dispose()
            shutil.copyfile(folder / f"{inc_name}.db", folder / f"{naive_name}.db")
            naive_db = Database(f"sqlite:///{folder / f'{naive_name}.db'}")
            naive["first"] = {**inc["first"], "not_run": True}
        else:
            naive["first"] = run(sync_connection(naive_db, naive_id, SyncOptions(naive=True), client=client))
        naive["no_change"] = run(sync_connection(naive_db, naive_id, SyncOptions(naive=True), client=client))
        result["learners_changed"] = change_one_percent(site, url, rng)
        inc["one_percent"] = run(sync_connection(inc_db, inc_id, client=client))
        naive["one_percent"] = run(sync_connection(naive_db, naive_id, SyncOptions(naive=True), client=client))
        full = None
        if "reconciliation" not in skip:
            full = run(sync_connection(inc_db, inc_id, SyncOptions(full=True), client=client))
        client.close()
    result.update(incremental=inc, naive=naive, reconciliation=full,
                  calls_per_course_no_change=round(inc["no_change"]["calls"] / courses, 2),
                  per_learner_calls_no_change=sum(v for k, v in inc["no_change"]["per_function"].items()
                                                  if k.startswith(("core_completion", "mod_quiz_get_user",
                                                                   "report_competency"))),
                  reduction_no_change=round(naive["no_change"]["calls"] / max(1, inc["no_change"]["calls"]), 1),
                  reduction_one_percent=round(naive["one_percent"]["calls"] / max(1, inc["one_percent"]["calls"]), 1),
                  speedup_no_change=round(naive["no_change"]["seconds"] / max(1e-9, inc["no_change"]["seconds"]), 1),
                  speedup_one_percent=round(naive["one_percent"]["seconds"]
                                            / max(1e-9, inc["one_percent"]["seconds"]), 1),
                  seconds_total=round(time.monotonic() - started, 1))
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'size':>10} {'scenario':<12} {'incr calls':>10} {'incr s':>8} {'naive calls':>11} {'naive s':>8} "
          f"{'x fewer':>8} {'x faster':>8}")
    skipped: dict[str, str] = {}
    for r in results:
        size = f"{r['courses']}x{r['learners_per_course']}"
        for key in ("first", "no_change", "one_percent"):
            i, n = r["incremental"][key], r["naive"][key]
            mark = "*" if n.get("not_run") else ""
            print(f"{size:>10} {key:<12} {i['calls']:>10} {i['seconds']:>8.2f} {n['calls']:>10}{mark:1} "
                  f"{n['seconds']:>8.2f} {n['calls'] / max(1, i['calls']):>8.1f} "
                  f"{n['seconds'] / max(1e-9, i['seconds']):>8.1f}")
        rec = r["reconciliation"]
        if rec:
            print(f"{size:>10} {'full recon.':<12} {rec['calls']:>10} {rec['seconds']:>8.2f}")
        print(f"{'':>10} no-change re-sync: {r['calls_per_course_no_change']} calls per course, "
              f"{r['per_learner_calls_no_change']} per-learner calls; {r['learners_changed']} learners changed; "
              f"this size took {r['seconds_total']:.0f} s")
        skipped.update({f"{size} {k}": v for k, v in r["skipped"].items()})
    if skipped:
        print("not run (--skip, or --quick), to keep the run bounded:")
        for name, why in skipped.items():
            print(f"  {name}: {why}" + ("  [* in the table]" if name.endswith("naive_first") else ""))
    else:
        print("every figure above was measured in this run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only C=40 x U=25")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="emulated Moodle latency per call")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="parallel WS calls per site (the client's default is 4)")
    parser.add_argument("--skip", default="naive_first,reconciliation",
                        help="runs left out at the big size (comma-separated, from: "
                             f"{', '.join(SKIP_REASONS)}; '' runs everything); without --quick the small "
                             "size runs everything, with --quick it leaves out both")
    args = parser.parse_args()
    skip_big = {name for name in args.skip.split(",") if name}
    if unknown := skip_big - set(SKIP_REASONS):
        parser.error(f"--skip: unknown run(s) {', '.join(sorted(unknown))}; expected {', '.join(SKIP_REASONS)}")
    logging.basicConfig(level=logging.WARNING)
    secrets.configure(SECRET)
    # --quick stays within a minute: it leaves out the two runs that repeat a full read
    quick_skip = {"naive_first", "reconciliation"}
    sizes = [(40, 25, quick_skip)] if args.quick else [(40, 25, set()), (200, 300, skip_big)]
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="credbridge-bench-") as folder:
        for courses, learners, skip in sizes:
            results.append(bench_size(courses, learners, args.latency_ms, args.concurrency, skip, Path(folder)))
    info = {**machine(), "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}
    print(f"machine: {info['platform']}, {info['cpus']} CPUs, Python {info['python']}; "
          f"latency {args.latency_ms} ms/call, {args.concurrency} concurrent calls; load average "
          f"{info['load_before'][0]} before, {info['load_after'][0]} after (other work on the machine slows it)")
    print_table(results)
    print(json.dumps({"bench": "sync", "machine": info, "results": results}, separators=(",", ":")))


if __name__ == "__main__":
    main()
