"""Benchmark: evaluate many learners x units with credbridge.mappings.evaluate on one core.

A synthetic school: 10 courses (quiz, assignment, page each), 10 competencies, 20 units using every
rule kind, 5 templates of 4 units (one stacked into another). Learner evidence (~25 facts each,
every kind, some withdrawn, regraded quiz attempts) is generated up front for a pool of distinct
learners and cycled through, so generation is not timed but every evaluation does the full work.
Rates are per CPU second of this process (on a shared machine wall time also counts other
processes' turns); both times are printed.

    python bench/evaluate.py            # 100,000 learners x 20 units
    python bench/evaluate.py --quick    # 10,000 learners
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from credbridge.mappings import MappingSet, evaluate, resolve
from credbridge.mappings.evidence import EvidenceFact, EvidenceKind
from credbridge.mappings.structure import Activity, CompetencyRef, Course, CourseStructure

N_COURSES = 10
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def structure() -> CourseStructure:
    courses = []
    for i in range(N_COURSES):
        base = 10 * i
        courses.append(Course(100 + i, f"C{i}", f"Course {i}", f"ID-C{i}", (
            Activity(base + 1, "quiz", i + 1, f"Quiz {i}", f"Q{i}"),
            Activity(base + 2, "assign", i + 1, f"Assignment {i}", f"A{i}"),
            Activity(base + 3, "page", i + 1, f"Page {i}"),
        )))
    comps = tuple(CompetencyRef(i + 1, f"K{i}", f"Competency {i}") for i in range(N_COURSES))
    return CourseStructure(tuple(courses), comps)


def unit_rule(u: int) -> dict:
    c = u % N_COURSES
    kinds = [
        {"quiz_passed": {"course": f"C{c}", "quiz": f"Q{c}", "min_percent": 60}},
        {"all": [{"assignment_graded": {"course": f"C{c}", "assignment": f"A{c}", "min_percent": 50}},
                 {"competency_proficient": {"competency": f"K{c}", "course": f"C{c}"}}]},
        {"any": [{"course_completed": f"C{c}"}, {"competency_proficient": f"K{c}"}]},
        {"at_least": {"n": 2, "of": [{"quiz_passed": {"course": f"C{c}", "quiz": f"Q{c}", "attempt": "last",
                                                      "min_percent": 50}},
                                     {"activity_completed": {"course": f"C{c}", "activity": f"Page {c}"}},
                                     {"external_result": {"assessment": f"EX{c}", "pass_values": ["pass"]}}]}},
    ]
    return kinds[u % len(kinds)]


def mapping_set(n_units: int) -> MappingSet:
    units = [{
        "code": f"U{u}", "title": {"en": f"Unit {u}"},
        "learning_outcomes": [{"statement": {"en": f"Outcome {u}"}}],
        "workload": {"credits": [{"system": "ECTS", "points": 1}]}, "eqf_level": 4,
        "assessment_types": ["practical assessment"], "mode": "Blended",
        "grading": {"title": {"en": "%"}, "bands": [{"min_percent": 50, "label": {"en": "pass"}}]},
        "evidence": unit_rule(u),
    } for u in range(n_units)]
    templates = [{"code": f"T{t}", "version": 1, "title": {"en": f"T{t}"},
                  "units": [f"U{u}" for u in range(4 * t, min(4 * t + 4, n_units))],
                  **({"part_of": ["T1"]} if t == 0 else {})} for t in range((n_units + 3) // 4)]
    return MappingSet.model_validate({
        "school": {"code": "s", "legal_name": {"en": "School"}, "country": "AT",
                   "quality_assurance": {"type": "Institutional Quality Assurance", "accrediting_body": {"en": "A"}}},
        "units": units, "templates": templates})


def learner(rnd: random.Random, lid: int) -> list[EvidenceFact]:
    facts: list[EvidenceFact] = []

    def t() -> datetime:
        return T0 + timedelta(minutes=rnd.randrange(100_000))

    for c in range(N_COURSES):
        if rnd.random() < 0.3:
            continue  # not enrolled
        cid, base = 100 + c, 10 * c
        settings = rnd.choice([None, {"seb_required": True}, {"access_rules": []}])
        for attempt in range(1, rnd.randint(1, 3) + 1):
            facts.append(EvidenceFact(f"q{lid}.{c}.{attempt}", EvidenceKind.QUIZ_ATTEMPT, t(), course_id=cid,
                                      cmid=base + 1, modname="quiz", percent=Decimal(rnd.randrange(101)),
                                      attempt=attempt, attempt_state="finished", quiz_settings=settings))
        facts.append(EvidenceFact(f"a{lid}.{c}", EvidenceKind.ASSIGNMENT_GRADE, t(), course_id=cid, cmid=base + 2,
                                  modname="assign", raw=Decimal(rnd.randrange(101)), max=Decimal(100),
                                  withdrawn=rnd.random() < 0.05))
        facts.append(EvidenceFact(f"p{lid}.{c}", EvidenceKind.ACTIVITY_COMPLETION, t(), course_id=cid,
                                  cmid=base + 3, modname="page", state=rnd.choice([0, 1, 1])))
        facts.append(EvidenceFact(f"k{lid}.{c}", EvidenceKind.COMPETENCY, t(), course_id=cid,
                                  competency_idnumber=f"K{c}", proficient=rnd.random() < 0.7))
        if rnd.random() < 0.6:
            facts.append(EvidenceFact(f"c{lid}.{c}", EvidenceKind.COURSE_COMPLETION, t(), course_id=cid,
                                      completed=True))
        if rnd.random() < 0.3:
            facts.append(EvidenceFact(f"x{lid}.{c}", EvidenceKind.EXTERNAL, t(), activity_idnumber=f"EX{c}",
                                      external={"result": rnd.choice(["pass", "fail"]), "supervised": "yes",
                                                "id_checked": "yes"}))
    return facts


ISSUED = frozenset({("T1", 1)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=100_000)
    ap.add_argument("--units", type=int, default=20)
    ap.add_argument("--pool", type=int, default=2_000, help="distinct generated learners, cycled through")
    ap.add_argument("--quick", action="store_true", help="10,000 learners")
    args = ap.parse_args(argv)
    learners = 10_000 if args.quick else args.learners

    t_setup = time.perf_counter()
    resolved = resolve(mapping_set(args.units), structure())
    rnd = random.Random(42)
    pool = [learner(rnd, i) for i in range(min(args.pool, learners))]
    setup = time.perf_counter() - t_setup
    facts_per_learner = sum(map(len, pool)) / len(pool)

    units_achieved = templates_earned = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(learners):
        # one learner in 20 already holds T1, so regressions are checked (and explained) for them
        ev = evaluate(resolved, pool[i % len(pool)], issued=ISSUED if i % 20 == 0 else ())
        units_achieved += len(ev.achieved_units)
        templates_earned += len(ev.earned_templates)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start

    # CPU time of this process: on a shared machine wall time also counts other processes' turns
    rate = learners * args.units / cpu
    figures = {
        "learners": learners, "units": args.units, "facts_per_learner": round(facts_per_learner, 1),
        "wall_seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
        "learners_per_second": round(learners / cpu),
        "learner_units_per_second": round(rate), "units_achieved": units_achieved,
        "templates_earned": templates_earned, "setup_seconds": round(setup, 2),
    }
    print(f"machine: {platform.platform()} | CPUs: {os.cpu_count()} | Python {sys.version.split()[0]} "
          f"({platform.python_implementation()}), one core")
    print(f"{'learners':>10} {'units':>6} {'facts/learner':>14} {'wall s':>8} {'CPU s':>8} {'learners/s':>11} "
          f"{'learner×units/s':>16}")
    print(f"{learners:>10,} {args.units:>6} {facts_per_learner:>14.1f} {elapsed:>8.2f} {cpu:>8.2f} "
          f"{learners / cpu:>11,.0f} {rate:>16,.0f}")
    print(f"achieved units: {units_achieved:,}  earned templates: {templates_earned:,}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
