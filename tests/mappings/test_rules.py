"""Every rule kind and combinator, reference resolution, and the 'first satisfied' time."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import pytest
from pydantic import ValidationError

from credbridge.mappings.evaluate import _index
from credbridge.mappings.evidence import EvidenceFact, EvidenceKind
from credbridge.mappings.rules import FAIL, ResolutionError, compile_rule, parse_rule
from tests.mappings.helpers import CNC, TD, WELD, Facts


class Checked(NamedTuple):
    ok: bool
    at: datetime | None
    proofs: tuple
    missing: tuple[str, ...]


@pytest.fixture
def check(site):
    def run(rule: dict, facts: list[EvidenceFact]) -> Checked:
        node = compile_rule(parse_rule(rule), site)
        index = _index(facts)[0]
        outcome, missing = node.check(index), node.explain(index)
        assert outcome.ok == (not missing), "check and explain must agree"
        assert outcome.ok or outcome == FAIL
        return Checked(*outcome, missing)

    return run


def ids(outcome: Checked) -> set[str]:
    return {f.id for f, _ in outcome.proofs}


def test_course_completed(check):
    rule = {"course_completed": "CNC101"}
    assert not check(rule, []).ok
    assert check(rule, []).missing == ("course CNC101 completed",)
    o = check(rule, [Facts.course(CNC, t=5, fid="c1")])
    assert o.ok and o.at == Facts.at(5) and ids(o) == {"c1"}
    # by idnumber too; another course's completion does not count
    assert check({"course_completed": {"course": "VET-ME-CNC101"}}, [Facts.course(CNC)]).ok
    assert not check(rule, [Facts.course(WELD)]).ok
    # reversed completion: the latest state counts
    o = check(rule, [Facts.course(CNC, t=1), Facts.course(CNC, completed=False, t=2)])
    assert not o.ok and "not completed" in o.missing[0]


def test_activity_completed(check):
    rule = {"activity_completed": {"course": "CNC101", "activity": "G-code quick reference"}}
    assert check(rule, [Facts.activity(1, CNC, state=1)]).ok
    assert not check(rule, [Facts.activity(1, CNC, state=0)]).ok
    assert not check(rule, [Facts.activity(1, CNC, state=3)]).ok  # complete, fail
    passed = {"activity_completed": {"course": "CNC101", "activity": "CNC fundamentals quiz", "passed": True}}
    assert check(passed, [Facts.activity(3, CNC, state=2, modname="quiz")]).ok
    assert not check(passed, [Facts.activity(3, CNC, state=1, modname="quiz")]).ok
    by_completed_flag = EvidenceFact("x", EvidenceKind.ACTIVITY_COMPLETION, Facts.at(0), course_id=CNC, cmid=1,
                                     completed=True)
    assert check(rule, [by_completed_flag]).ok


def test_grade_item_absolute_and_percent(check):
    pct = {"grade_item": {"course": "CNC101", "item": "CNC simulator – bonus task", "min_percent": 80}}
    pts = {"grade_item": {"course": "CNC101", "item": "CNC simulator – bonus task", "min_points": 15}}
    assert check(pct, [Facts.grade_item(11, CNC, 18, grademax=20)]).ok  # 90 %
    assert not check(pct, [Facts.grade_item(11, CNC, 14, grademax=20)]).ok  # 70 %
    assert check(pts, [Facts.grade_item(11, CNC, 15, grademax=20)]).ok
    o = check(pts, [Facts.grade_item(11, CNC, 14, grademax=20)])
    assert not o.ok and o.missing == ("grade item 'CNC simulator – bonus task' (CNC101) >= 15 points — grade 70%",)


def test_grade_changes_latest_counts_and_time_is_start_of_passing_run(check):
    rule = {"grade_item": {"course": "CNC101", "item": "CNC simulator – bonus task", "min_percent": 50}}
    facts = [Facts.grade_item(11, CNC, 12, grademax=20, t=1), Facts.grade_item(11, CNC, 5, grademax=20, t=2),
             Facts.grade_item(11, CNC, 15, grademax=20, t=3), Facts.grade_item(11, CNC, 19, grademax=20, t=4)]
    o = check(rule, facts)
    assert o.ok and o.at == Facts.at(3)
    assert not check(rule, [*facts, Facts.grade_item(11, CNC, 1, grademax=20, t=5)]).ok


def test_quiz_best_last_first(check):
    def rule(attempt):
        return {"quiz_passed": {"course": "CNC101", "quiz": "CNC fundamentals quiz", "attempt": attempt,
                                "min_percent": 60}}

    attempts = [Facts.quiz(3, CNC, 40, t=1, attempt=1, fid="a1"), Facts.quiz(3, CNC, 80, t=2, attempt=2, fid="a2"),
                Facts.quiz(3, CNC, 50, t=3, attempt=3, fid="a3")]
    best = check(rule("best"), attempts)
    assert best.ok and ids(best) == {"a2"} and best.at == Facts.at(2)
    assert not check(rule("first"), attempts).ok
    assert "first attempt 40%" in check(rule("first"), attempts).missing[0]
    last = check(rule("last"), attempts)
    assert not last.ok and "last attempt 50%" in last.missing[0]
    assert check(rule("last"), attempts[:2]).ok
    # unfinished attempts do not count
    o = check(rule("best"), [Facts.quiz(3, CNC, 100, state="inprogress")])
    assert not o.ok and "no finished attempt" in o.missing[0]
    # a regraded attempt (new version of attempt 2) replaces the old version
    regraded = [*attempts, Facts.quiz(3, CNC, 55, t=9, attempt=2, fid="a2-v2")]
    assert not check(rule("best"), regraded).ok


def test_quiz_min_points(check):
    rule = {"quiz_passed": {"course": "TD110", "quiz": "Line types and dimensioning quiz", "min_points": 6}}
    f = EvidenceFact("q", EvidenceKind.QUIZ_ATTEMPT, Facts.at(0), course_id=TD, cmid=9, raw=Decimal(7),
                     max=Decimal(10), attempt=1, attempt_state="finished")
    assert check(rule, [f]).ok


def test_assignment_graded_via_assignment_or_grade_item_row(check):
    rule = {"assignment_graded": {"course": "CNC101", "assignment": "Program a facing operation", "min_percent": 70}}
    assert check(rule, [Facts.assign(2, CNC, 76)]).ok
    assert not check(rule, [Facts.assign(2, CNC, 69)]).ok
    # the recorded grade item 2 is the assignment's (cmid 2)
    assert check(rule, [Facts.grade_item(2, CNC, 90, modname="assign")]).ok


def test_competency(check):
    assert check({"competency_proficient": "ME-C1"}, [Facts.comp("ME-C1", course_id=TD)]).ok
    assert check({"competency_proficient": "Reads and interprets technical drawings"}, [Facts.comp("ME-C1")]).ok
    in_weld = {"competency_proficient": {"competency": "ME-C3", "course": "WELD201"}}
    assert check(in_weld, [Facts.comp("ME-C3", course_id=WELD)]).ok
    assert not check(in_weld, [Facts.comp("ME-C3", course_id=CNC)]).ok
    o = check(in_weld, [Facts.comp("ME-C3", proficient=False, course_id=WELD)])
    assert not o.ok and "not yet proficient" in o.missing[0]


def test_external_result(check):
    values = {"external_result": {"assessment": "WELD-PRACT", "pass_values": ["pass", "Passed"]}}
    assert check(values, [Facts.external("WELD-PRACT", result="PASSED")]).ok
    o = check(values, [Facts.external("WELD-PRACT", result="fail")])
    assert not o.ok and "result is 'fail'" in o.missing[0]
    score = {"external_result": {"assessment": "WELD-PRACT", "column": "score", "min": "60"}}
    assert check(score, [Facts.external("WELD-PRACT", score="75,5")]).ok
    assert not check(score, [Facts.external("WELD-PRACT", score="59")]).ok
    assert not check(score, [Facts.external("WELD-PRACT", score="n/a")]).ok
    assert not check(score, [Facts.external("OTHER", score="99")]).ok


def test_all_any_at_least(check):
    a = {"course_completed": "CNC101"}
    b = {"course_completed": "WELD201"}
    c = {"course_completed": "TD110"}
    fa, fb, fc = Facts.course(CNC, t=3, fid="fa"), Facts.course(WELD, t=1, fid="fb"), Facts.course(TD, t=2, fid="fc")
    o = check({"all": [a, b]}, [fa, fb])
    assert o.ok and o.at == Facts.at(3) and ids(o) == {"fa", "fb"}
    o = check({"all": [a, b]}, [fb])
    assert not o.ok and o.missing == ("course CNC101 completed",)
    o = check({"any": [a, b]}, [fa, fb])
    assert o.ok and o.at == Facts.at(1) and ids(o) == {"fb"}
    o = check({"any": [a, b]}, [])
    assert o.missing == ("one of: course CNC101 completed; course WELD201 completed",)
    two = {"at_least": {"n": 2, "of": [a, b, c]}}
    o = check(two, [fa, fb, fc])
    assert o.ok and o.at == Facts.at(2) and ids(o) == {"fb", "fc"}
    o = check(two, [fa])
    assert not o.ok and o.missing[0].startswith("1 more of: ")
    nested = {"all": [{"any": [a, b]}, {"at_least": {"n": 1, "of": [c]}}]}
    assert check(nested, [fb, fc]).ok and not check(nested, [fb]).ok


def test_withdrawn_evidence_does_not_count(check):
    assert not check({"course_completed": "CNC101"}, [Facts.course(CNC, withdrawn=True)]).ok


@pytest.mark.parametrize(("rule", "path_end", "message"), [
    ({"course_completed": "CNC999"}, ("course_completed", "course"), "course 'CNC999' is not a shortname"),
    ({"quiz_passed": {"course": "CNC101", "quiz": "Welding safety check", "min_percent": 1}},
     ("quiz_passed", "quiz"), "no quiz with idnumber or name 'Welding safety check' in course CNC101"),
    ({"assignment_graded": {"course": "CNC101", "assignment": "CNC fundamentals quiz", "min_percent": 1}},
     ("assignment_graded", "assignment"), "no assign with idnumber or name"),
    ({"grade_item": {"course": "WELD201", "item": "x", "min_percent": 1}}, ("grade_item", "item"),
     "no grade item with idnumber or name 'x' in course WELD201"),
    ({"competency_proficient": "ME-C9"}, ("competency_proficient", "competency"), "competency 'ME-C9' is not"),
    ({"activity_completed": {"course": "TD110", "activity": "nope"}}, ("activity_completed", "activity"),
     "no activity with idnumber or name 'nope'"),
    ({"all": [{"course_completed": "CNC101"}, {"course_completed": "X"}]}, ("all", 1, "course_completed", "course"),
     "course 'X'"),
])
def test_dangling_moodle_reference(site, rule, path_end, message):
    with pytest.raises(ResolutionError) as info:
        compile_rule(parse_rule(rule), site, ("units", 0, "evidence"))
    assert message in info.value.message
    assert info.value.path == ("units", 0, "evidence", *path_end)


@pytest.mark.parametrize(("rule", "message"), [
    ({"quiz_passed": {"course": "C", "quiz": "Q"}}, "exactly one of min_percent or min_points"),
    ({"quiz_passed": {"course": "C", "quiz": "Q", "min_percent": 101}}, "less than or equal to 100"),
    ({"quiz_passed": {"course": "C", "quiz": "Q", "min_percent": 5, "attempt": "worst"}}, "'best', 'last'"),
    ({"at_least": {"n": 3, "of": [{"course_completed": "A"}]}}, "n = 3 but only 1 rules"),
    ({"all": []}, "at least 1 item"),
    ({"external_result": {"assessment": "X"}}, "exactly one of pass_values or min"),
    ({"course_completed": "A", "any": []}, "exactly one key"),
    ({"bogus": {}}, "exactly one key"),
])
def test_invalid_rules(rule, message):
    with pytest.raises(ValidationError, match=message):
        parse_rule(rule)


def test_competency_ratings_per_course_are_separate_records(check):
    any_course = {"competency_proficient": "ME-C2"}
    in_cnc = {"competency_proficient": {"competency": "ME-C2", "course": "CNC101"}}
    cnc_yes = Facts.comp("ME-C2", course_id=CNC, t=1, fid="cnc-yes")
    weld_no = Facts.comp("ME-C2", proficient=False, course_id=WELD, t=2, fid="weld-no")
    weld_yes = Facts.comp("ME-C2", course_id=WELD, t=3, fid="weld-yes")
    # a later rating in another course neither removes nor replaces the CNC101 one
    assert check(in_cnc, [cnc_yes, weld_no]).ok
    assert check(any_course, [cnc_yes, weld_no]).ok
    o = check(any_course, [weld_no, weld_yes])
    assert o.ok and ids(o) == {"weld-yes"}
    assert not check(in_cnc, [weld_yes]).ok
    # within a course, the latest rating counts
    cnc_no = Facts.comp("ME-C2", proficient=False, course_id=CNC, t=5)
    assert not check(in_cnc, [cnc_yes, cnc_no]).ok
    assert check(any_course, [cnc_yes, cnc_no, weld_yes]).ok
