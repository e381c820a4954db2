"""Benchmark the emulator: site generation time and WS calls per second over HTTP on 127.0.0.1.

    python -m credbridge.emulator.bench            # C=200 x U=300 generation, 600 WS calls
    python -m credbridge.emulator.bench --quick    # C=50 x U=100, 150 calls (well under a minute)

Prints a table with the machine description, then as the last line one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence

import requests

from credbridge.emulator.dataset import ROLE_STUDENT, Site
from credbridge.emulator.server import DEFAULT_TOKEN, serve_in_thread


def _calls(site: Site) -> list[dict[str, object]]:
    course = next(c for c in sorted(site.courses.values(), key=lambda c: c.id) if c.id != 1)
    learner = next(e.userid for e in site.enrolled(course.id) if e.roleid == ROLE_STUDENT)
    assigns = [m.instance for m in site.modules.values() if m.modname == "assign"][:50]
    return [
        {"wsfunction": "core_enrol_get_enrolled_users", "courseid": course.id},
        {"wsfunction": "gradereport_user_get_grade_items", "courseid": course.id, "userid": 0},
        {"wsfunction": "core_completion_get_course_completion_status", "courseid": course.id, "userid": learner},
        {"wsfunction": "mod_assign_get_grades", "since": 0,
         **{f"assignmentids[{i}]": a for i, a in enumerate(assigns)}},
        {"wsfunction": "core_course_get_updates_since", "courseid": course.id, "since": 0},
        {"wsfunction": "core_reportbuilder_retrieve_report", "reportid": 1, "perpage": 100},
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller site and fewer calls")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    courses, learners, rounds = (50, 100, 25) if args.quick else (200, 300, 100)

    started = time.perf_counter()
    site = Site.generate(courses=courses, learners_per_course=learners, activities_per_course=5, seed=args.seed)
    generation_s = time.perf_counter() - started

    per_function: dict[str, list[float]] = {}
    with serve_in_thread(site) as emu, requests.Session() as http:
        calls = _calls(site)
        for _ in range(rounds):
            for params in calls:
                t = time.perf_counter()
                r = http.post(emu.rest_url, data={"wstoken": DEFAULT_TOKEN, "moodlewsrestformat": "json", **params},
                              timeout=60)
                r.raise_for_status()
                body = r.json()
                if isinstance(body, dict) and "exception" in body:
                    raise SystemExit(f"{params['wsfunction']} failed: {body}")
                per_function.setdefault(str(params["wsfunction"]), []).append(time.perf_counter() - t)

    print(f"machine: {platform.platform()} | cpus: {os.cpu_count()} | python {sys.version.split()[0]}")
    print(f"site: {courses} courses x {learners} learners, {len(site.users)} users, {len(site.enrolments)} "
          f"enrolments, {len(site.grades)} grades; generated in {generation_s:.2f} s")
    print(f"{'function':52} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8}")
    figures: dict[str, object] = {"courses": courses, "learners_per_course": learners,
                                  "generation_s": round(generation_s, 3), "functions": {}}
    total_calls = 0
    total_time = 0.0
    for name, samples in per_function.items():
        samples.sort()
        p50 = statistics.median(samples) * 1000
        p95 = samples[int(len(samples) * 0.95) - 1] * 1000
        total_calls += len(samples)
        total_time += sum(samples)
        print(f"{name:52} {len(samples):6d} {p50:8.2f} {p95:8.2f}")
        figures["functions"][name] = {"calls": len(samples), "p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
    figures["calls_per_second"] = round(total_calls / total_time, 1)
    print(f"sequential calls per second: {figures['calls_per_second']}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
