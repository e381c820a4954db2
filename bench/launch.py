"""LTI launches under load: gunicorn with the shipped config on PostgreSQL, 20 concurrent teachers.

Each launch is what a teacher's browser does when they open credbridge in their Moodle course:
Moodle's launch page → credbridge ``POST /lti/login`` → Moodle's ``auth.php`` (signs the id_token) →
credbridge ``POST /lti/launch`` (validates it, opens a session) → credbridge's teacher page of a
25-learner course (the matrix of learners × units and credentials). The three credbridge requests are
timed apart from Moodle's; their sum is the launch as credbridge serves it. The same run measures a
static file (``/static/pages/pages.css``) at the same concurrency, as the reference for what the
server, the network stack and the client cost with no work of ours.

Processes: PostgreSQL (a throwaway server from Debian's binaries, or ``--pg-url``), gunicorn started
with ``deploy/gunicorn.conf.py`` unchanged (workers = 2 × CPUs + 1, 2 threads each), and the emulated
Moodle (Web Services + LTI platform, the recorded site with 25 learners in CNC101) in its own process;
the load generator runs here (one thread per user).

    .venv/bin/python bench/launch.py --quick          # 20 users × 5 launches
    .venv/bin/python bench/launch.py                  # 20 users × 25 launches
    .venv/bin/python bench/launch.py --profile        # + a pyinstrument profile of one gunicorn worker

Prints a table, the machine and its load, then one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import http.cookiejar
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import free_port, machine  # noqa: E402 - after the path is set

SECRET = "bench-secret-key-0123456789abcdef-not-for-production"  # noqa: S105 - throwaway database
USERS = 20
DROPPED = (6, 7, 8, 9, 10)  # CNC101 has 30 learners in the recording; these five leave it, 25 stay




# ------------------------------------------------------------------------------------------- the Moodle side
def serve_platform(port: int, tool_url: str) -> None:
    """(child process) The recorded site with its LTI platform; prints one JSON line when ready."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from credbridge.demo import CLIENT_ID, recorded_site_path
    from credbridge.emulator import lti_platform
    from credbridge.emulator.dataset import Site
    from credbridge.emulator.server import create_app

    site = Site.from_recording(recorded_site_path())
    for userid in DROPPED:
        site.withdraw(userid, 2, mode="unenrol")
    url = f"http://127.0.0.1:{port}"
    site.config.wwwroot = url
    extension = functools.partial(lti_platform.register, base_url=url, tool_base_url=tool_url, client_id=CLIENT_ID)
    app = create_app(site, extensions=[extension])
    platform_ = app.extensions["lti_platform"]
    tool = platform_.default_tool()
    link = platform_.add_link(2, tool, name="Micro-credentials (credbridge)")

    class Quiet(WSGIRequestHandler):
        disable_nagle_algorithm = True

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet)
    teachers = sorted(e.userid for e in site.enrolments.values() if e.courseid == 2 and e.roleid in (3, 4))
    print(json.dumps({"url": url, "deployment_id": tool.deployment_id, "cmid": link.cmid, "teachers": teachers}),
          flush=True)
    server.serve_forever()


# ------------------------------------------------------------------------------------------- the browser side
class LoopbackCookies(http.cookiejar.DefaultCookiePolicy):
    """Like a browser on localhost: Secure cookies are sent to http://127.0.0.1 (a secure context);
    Python's default policy would drop credbridge's SameSite=None; Secure session cookies."""

    def return_ok_secure(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return True

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        cookie.secure = False
        return super().set_ok(cookie, request)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
        elif tag == "input" and a.get("name") and self.action is not None:
            self.fields[a["name"]] = a.get("value", "")


def autopost(page: str) -> tuple[str, dict[str, str]]:
    form = _Form()
    form.feed(page)
    if not form.action:
        raise RuntimeError(f"no auto-posting form in {page[:200]!r}")
    return form.action, form.fields


def one_launch(http: requests.Session, platform_url: str, cmid: int, teacher: int) -> dict[str, float]:
    """One teacher launch; seconds per step. Raises on any wrong answer, naming the step."""
    where = ["moodle launch.php"]
    try:
        return _launch_steps(http, platform_url, cmid, teacher, where)
    except Exception as exc:
        raise RuntimeError(f"at {where[0]}: {type(exc).__name__}: {exc}") from exc


def _launch_steps(http: requests.Session, platform_url: str, cmid: int, teacher: int, where: list[str]
                  ) -> dict[str, float]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    start = http.get(f"{platform_url}/mod/lti/launch.php", params={"id": cmid, "user": teacher}, timeout=30)
    start.raise_for_status()
    action, fields = autopost(start.text)
    t1 = time.perf_counter()
    where[0] = "credbridge /lti/login"
    login = http.post(action, data=fields, allow_redirects=False, timeout=30)  # credbridge: /lti/login
    t2 = time.perf_counter()
    if login.status_code != 302:
        raise RuntimeError(f"/lti/login answered {login.status_code}: {login.text[:200]}")
    where[0] = "moodle auth.php"
    auth = http.get(login.headers["Location"], timeout=30)  # Moodle: auth.php signs the id_token
    auth.raise_for_status()
    action, fields = autopost(auth.text)
    t3 = time.perf_counter()
    where[0] = "credbridge /lti/launch"
    launch = http.post(action, data=fields, allow_redirects=False, timeout=30)  # credbridge: /lti/launch
    t4 = time.perf_counter()
    if launch.status_code != 303:
        raise RuntimeError(f"/lti/launch answered {launch.status_code}: {launch.text[:300]}")
    location = launch.headers["Location"]
    target = location if location.startswith("http") else action.split("/lti/")[0] + location
    where[0] = "credbridge teacher page"
    page = http.get(target, timeout=30)  # credbridge: the teacher's course page
    t5 = time.perf_counter()
    if page.status_code != 200 or "/teacher/course/" not in target:
        raise RuntimeError(f"teacher page {target} answered {page.status_code}: {page.text[:200]}")
    timings.update(login=t2 - t1, launch=t4 - t3, teacher_page=t5 - t4, tool=(t2 - t1) + (t5 - t3),
                   full=t5 - t0, bytes=float(len(page.content)))
    return timings


def run_users(users: int, per_user: int, work: Callable[[requests.Session, int], dict[str, float]],
              think: float = 0.0) -> tuple[list[dict[str, float]], list[str], float]:
    """``users`` threads, each doing ``work`` ``per_user`` times; with ``think`` each pauses a seeded
    random 0.5–1.5 × ``think`` seconds after each one (a teacher reading the page before the next launch)."""
    results: list[dict[str, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(users)

    def user(index: int) -> None:
        http = requests.Session()
        http.cookies.set_policy(LoopbackCookies())
        pauses = random.Random(index)
        barrier.wait()
        if think:
            time.sleep(pauses.uniform(0, think))  # users arrive spread out, as they do
        for i in range(per_user):
            if think and i:
                time.sleep(pauses.uniform(0.5 * think, 1.5 * think))
            try:
                timing = work(http, index * per_user + i)
            except Exception as exc:  # counted and reported, never hidden
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                results.append(timing)

    threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors, time.perf_counter() - started


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]

    return {"p50": q(0.50) * 1000, "p95": q(0.95) * 1000, "p99": q(0.99) * 1000,
            "mean": statistics.fmean(ordered) * 1000, "max": ordered[-1] * 1000}


# ------------------------------------------------------------------------------------------- set-up
def start_postgres(url: str | None) -> tuple[str, Callable[[], None], int | None]:
    """The database URL, how to stop the server, and its postmaster's pid (None for ``--pg-url``)."""
    if url:
        return url, lambda: None, None
    from pytest_postgresql.janitor import DatabaseJanitor

    from tests.support.postgres import LocalPostgres

    local = LocalPostgres()
    server = local.start()
    DatabaseJanitor(user=server.user, host=server.host, port=server.port, dbname="bench").init()
    postmaster = int((local.data / "postmaster.pid").read_text().split()[0])
    return server.url("bench"), local.stop, postmaster


def prepare_database(db_url: str, platform_url: str, deployment_id: str) -> dict[str, Any]:
    """The demo's school on the emulated Moodle: one sync, evaluation and issuance, as a school has it."""
    from sqlalchemy import func, select

    from credbridge.connector.runtime import open_runtime
    from credbridge.connector.settings import load_settings
    from credbridge.connector.store import migrate
    from credbridge.connector.store.models import Award, Course, Enrolment
    from credbridge.demo import bootstrap, run_cycle

    migrate.upgrade(db_url)
    runtime = open_runtime(load_settings(database_url=db_url, secret_key=SECRET), configure_logging=False)
    try:
        school_id, connection_id, _password = bootstrap(runtime, platform_url, deployment_id)
        run_cycle(runtime, school_id, connection_id)
        with runtime.db.unit_of_work() as session:
            learners = session.scalar(select(func.count()).select_from(Enrolment).join(
                Course, Course.id == Enrolment.course_id).where(Course.moodle_id == 2, Enrolment.active.is_(True)))
            awards = session.scalar(select(func.count()).select_from(Award))
        return {"course_learners": learners, "awards": awards}
    finally:
        runtime.close()


def start_gunicorn(port: int, db_url: str, log: Path, profile_dir: Path | None,
                   workers: int | None = None, threads: int | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
    if workers:
        env["CREDBRIDGE_WEB_WORKERS"] = str(workers)
    if threads:
        env["CREDBRIDGE_WEB_THREADS"] = str(threads)
    env.update(CREDBRIDGE_DATABASE_URL=db_url, CREDBRIDGE_SECRET_KEY=SECRET, CREDBRIDGE_BIND=f"127.0.0.1:{port}",
               CREDBRIDGE_BASE_URL=f"http://127.0.0.1:{port}", CREDBRIDGE_LOG_LEVEL="WARNING")
    app = "credbridge.lti.wsgi:app"
    if profile_dir is not None:
        env["CREDBRIDGE_BENCH_PROFILE_DIR"] = str(profile_dir)
        app = "bench.profiling.launch_app:app"
    command = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"), app]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not become ready: {log.read_text()[-2000:]}")


def worker_cpu(master_pid: int) -> float:
    """CPU seconds used so far by the gunicorn workers (credbridge's own cost, whatever else runs)."""
    import psutil

    total = 0.0
    for child in psutil.Process(master_pid).children():
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of a process and its descendants, live and ended (0 without a pid)."""
    import psutil

    if pid is None:
        return 0.0
    total = 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for process in processes:
        try:
            t = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def cpu_snapshot(gunicorn_pid: int, postgres_pid: int | None, moodle_pid: int) -> dict[str, float]:
    """CPU seconds so far of each part of the run, of this process (the browsers), and of the machine
    (busy time of all CPUs): the difference is what the rest of the machine took meanwhile."""
    import psutil

    own = psutil.Process().cpu_times()
    busy = psutil.cpu_times()
    return {"gunicorn": worker_cpu(gunicorn_pid), "postgres": tree_cpu(postgres_pid), "moodle": tree_cpu(moodle_pid),
            "browsers": own.user + own.system,
            "machine": busy.user + busy.nice + busy.system + busy.irq + busy.softirq + busy.steal}


def cpu_share(before: dict[str, float], after: dict[str, float], launches: int) -> dict[str, float]:
    """ms of CPU per launch of each part, and of the rest of the machine (other work) in the same time."""
    used = {k: (after[k] - before[k]) * 1000 / max(1, launches) for k in before}
    used["other"] = max(0.0, used.pop("machine") - sum(used.values()))
    return used


def gunicorn_workers(log: Path) -> int:
    return len(set(re.findall(r"Booting worker with pid: (\d+)", log.read_text())))


def print_table(rows: list[tuple[str, dict[str, float]]], n: dict[str, int]) -> None:
    print(f"{'step':<34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
    for label, q in rows:
        if q:
            print(f"{label:<34} {n.get(label, 0):>5} {q['p50']:>8.1f} {q['p95']:>8.1f} {q['p99']:>8.1f} "
                  f"{q['mean']:>8.1f} {q['max']:>8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 launches per user instead of 25")
    parser.add_argument("--users", type=int, default=USERS, help="concurrent users (default 20)")
    parser.add_argument("--launches", type=int, help="launches per user")
    parser.add_argument("--pg-url", help="a running PostgreSQL database instead of a throwaway server")
    parser.add_argument("--think", type=float, default=2.0,
                        help="mean pause of a user between launches, seconds (default 2; the saturation run has none)")
    parser.add_argument("--profile", action="store_true", help="write pyinstrument profiles of the requests")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the shipped config's)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: the shipped config's)")
    parser.add_argument("--serve-platform", nargs=2, metavar=("PORT", "TOOL_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_platform:
        serve_platform(int(args.serve_platform[0]), args.serve_platform[1])
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop gunicorn, the platform and PostgreSQL too
    per_user = args.launches or (5 if args.quick else 25)
    load_before = os.getloadavg()
    work_dir = Path(tempfile.mkdtemp(prefix="credbridge-bench-launch-"))
    tool_port, platform_port = free_port(), free_port()
    tool_url = f"http://127.0.0.1:{tool_port}"
    db_url, stop_pg, postmaster = start_postgres(args.pg_url)
    moodle = subprocess.Popen([sys.executable, __file__, "--serve-platform", str(platform_port), tool_url],
                              stdout=subprocess.PIPE, stderr=(work_dir / "platform.log").open("wb"), text=True)
    gunicorn = None
    try:
        assert moodle.stdout is not None
        info = json.loads(moodle.stdout.readline())
        seeded = prepare_database(db_url, info["url"], info["deployment_id"])
        profile_dir = work_dir / "profiles" if args.profile else None
        if profile_dir:
            profile_dir.mkdir()
        gunicorn = start_gunicorn(tool_port, db_url, work_dir / "gunicorn.log", profile_dir, args.workers, args.threads)
        teachers = info["teachers"]

        def launch(http: requests.Session, i: int) -> dict[str, float]:
            return one_launch(http, info["url"], info["cmid"], teachers[i % len(teachers)])

        def static(http: requests.Session, _i: int) -> dict[str, float]:
            t0 = time.perf_counter()
            response = http.get(f"{tool_url}/static/pages/pages.css", timeout=30)
            response.raise_for_status()
            return {"static": time.perf_counter() - t0}

        run_users(4, 2, launch)  # warm-up: every worker imports, connects and fetches the platform's keys

        def snapshot() -> dict[str, float]:
            assert gunicorn is not None
            return cpu_snapshot(gunicorn.pid, postmaster, moodle.pid)

        cpu0 = worker_cpu(gunicorn.pid)
        static_before, static_errors, static_s = run_users(args.users, per_user * 4, static)
        cpu1 = worker_cpu(gunicorn.pid)
        paced0 = snapshot()
        results, errors, elapsed = run_users(args.users, per_user, launch, think=args.think)
        paced1 = snapshot()
        cpu2 = worker_cpu(gunicorn.pid)
        saturated, saturated_errors, saturated_s = run_users(args.users, max(2, per_user // 2), launch)
        cpu3 = worker_cpu(gunicorn.pid)
        paced_cpu = cpu_share(paced0, paced1, len(results))
        errors += saturated_errors
        static_after, more_errors, _ = run_users(args.users, per_user * 4, static)
        static_errors += more_errors
        cpu_static_ms = (cpu1 - cpu0) * 1000 / max(1, len(static_before))
        cpu_launch_ms = (cpu2 - cpu1 + cpu3 - cpu2) * 1000 / max(1, len(results) + len(saturated))
        workers = gunicorn_workers(work_dir / "gunicorn.log")
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(60)
        moodle.terminate()
        moodle.wait(10)
        stop_pg()
    load_after = os.getloadavg()

    def col(rows: list[dict[str, float]], key: str) -> list[float]:
        return [r[key] for r in rows if key in r]

    statics = col(static_before, "static") + col(static_after, "static")
    table = [("credbridge /lti/login", quantiles(col(results, "login"))),
             ("credbridge /lti/launch", quantiles(col(results, "launch"))),
             ("credbridge teacher page (25 learners)", quantiles(col(results, "teacher_page"))),
             ("credbridge: login + launch + page", quantiles(col(results, "tool"))),
             ("whole launch incl. Moodle's side", quantiles(col(results, "full"))),
             ("saturated: login + launch + page", quantiles(col(saturated, "tool"))),
             ("static file (reference)", quantiles(statics))]
    counts = {label: len(statics) if "static" in label else len(saturated) if "saturated" in label else len(results)
              for label, _q in table}
    rate = len(results) / elapsed if elapsed else 0.0
    capacity = len(saturated) / saturated_s if saturated_s else 0.0
    print(f"LTI launch under load — {args.users} concurrent users, each launching {per_user} times with "
          f"{args.think:g} s between launches (then {max(2, per_user // 2)} times each with none: saturated); "
          f"gunicorn (deploy/gunicorn.conf.py: {workers} workers × {args.threads or 2} threads) on PostgreSQL; "
          f"course of "
          f"{seeded['course_learners']} learners, {seeded['awards']} awards in the school")
    print_table(table, counts)
    tool_q = dict(table)["credbridge: login + launch + page"]
    static_q = dict(table)["static file (reference)"]
    print(f"launches/s: {rate:.1f} paced ({len(results)} in {elapsed:.1f} s), {capacity:.1f} saturated "
          f"({len(saturated)} in {saturated_s:.1f} s); {len(errors)} failed; static requests/s: "
          f"{len(static_before) / static_s:.0f}")
    print(f"gunicorn CPU: {cpu_launch_ms:.0f} ms per launch (login + launch + page), {cpu_static_ms:.1f} ms per "
          f"static request; so at most {1000 * (os.cpu_count() or 1) / max(cpu_launch_ms, 1e-9):.1f} launches/s "
          f"on this machine's {os.cpu_count()} CPUs if nothing else ran")
    ours = sum(v for k, v in paced_cpu.items() if k != "other")
    print(f"CPU per launch in the paced run: gunicorn {paced_cpu['gunicorn']:.0f} ms, PostgreSQL "
          f"{paced_cpu['postgres']:.0f} ms, emulated Moodle {paced_cpu['moodle']:.0f} ms, the {args.users} browsers "
          f"(this process) {paced_cpu['browsers']:.0f} ms: {ours * rate / 1000:.2f} CPUs at {rate:.1f} launches/s; "
          f"the rest of the machine (other work) {paced_cpu['other'] * rate / 1000:.2f} CPUs meanwhile, "
          f"of {os.cpu_count()}")
    if tool_q and static_q:
        print(f"launch p95 / static p95: {tool_q['p95'] / static_q['p95']:.1f}×; target p95 < 150 ms at "
              f"{args.users} users: {'met' if tool_q['p95'] < 150 else 'missed'}")
    for error in sorted(set(errors + static_errors))[:5]:
        print(f"  error: {error}")
    m = machine()
    print(f"machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (other work on the machine slows every figure)")
    if args.profile:
        print(f"profiles: {work_dir / 'profiles'}")
    print(json.dumps({"bench": "launch", "machine": {**m, "load_before": [round(x, 2) for x in load_before],
                                                     "load_after": [round(x, 2) for x in load_after]},
                      "users": args.users, "launches_per_user": per_user, "gunicorn_workers": workers,
                      "gunicorn_threads": args.threads or 2,
                      "course_learners": seeded["course_learners"], "launches": len(results), "failed": len(errors),
                      "think_s": args.think, "launches_per_s": round(rate, 2), "elapsed_s": round(elapsed, 2),
                      "saturated_launches_per_s": round(capacity, 2), "cpu_ms_per_launch": round(cpu_launch_ms, 1),
                      "cpu_ms_per_static": round(cpu_static_ms, 2),
                      "paced_cpu_ms_per_launch": {k: round(v, 1) for k, v in paced_cpu.items()},
                      "ms": {label: {k: round(v, 1) for k, v in q.items()} for label, q in table}},
                     separators=(",", ":")))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
