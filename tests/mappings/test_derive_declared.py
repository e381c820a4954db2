"""Annex I values as the school declared them: declared assessment types are never dropped, the
quiz settings Moodle really returns decide supervision (and hidden ones decide nothing), and a
mapping file can declare how an activity was supervised."""

from __future__ import annotations

import json

import pytest

from credbridge.connector.moodle.functions import _quiz
from credbridge.mappings import MappingError, evaluate, load_mapping_text, resolve
from credbridge.mappings.derive import (
    ASSESS_QUIZ,
    ASSESS_WRITTEN_EXAM,
    DeclaredSupervision,
    SupervisionLevel,
    derive_unit,
)
from credbridge.mappings.model import School, Unit
from tests.mappings.helpers import CNC, EXAMPLES, WS, Facts, recorded_evidence, recorded_site

RECORDED_QUIZ = json.loads((WS / "mod_quiz_get_quizzes_by_courses__courseids=all3.json").read_text("utf-8"))[
    "quizzes"][0]
#: what a user with moodle/course:manageactivities also sees (mod_quiz_external::get_quizzes_by_courses)
MANAGER_FIELDS = {"password": "", "subnet": "", "shuffleanswers": 1, "timecreated": 1, "timemodified": 1}


def _unit(**extra) -> Unit:
    return Unit.model_validate({"code": "U", "title": {"en": "U"}, "evidence": {"course_completed": "CNC101"}, **extra})


def _school(checks_id: bool = True) -> School:
    return School(code="s", legal_name={"en": "S"}, country="HR", checks_id_at_supervised_exams=checks_id)


def _settings(**raw) -> dict:
    """The quiz settings sync stores for a quiz as Moodle returns it (connector.moodle.functions)."""
    return _quiz({**RECORDED_QUIZ, **raw}).settings


def _derive(u: Unit, facts, declared=None, checks_id: bool = True):
    return derive_unit(u, [(f, "rule") for f in facts], _school(checks_id), {}, declared)


def test_a_declared_written_examination_is_kept_beside_the_quiz_that_shows_it():
    quiz = Facts.quiz(3, CNC, 80, settings=_settings(**MANAGER_FIELDS), fid="q")
    d = _derive(_unit(assessment_types=["written examination"]), [quiz])
    assert set(d.assessment_types.value) == {ASSESS_WRITTEN_EXAM, ASSESS_QUIZ}
    why = {v: p.reason for p in d.assessment_types.provenance for v in p.values}
    assert why == {ASSESS_QUIZ: "quiz attempt", ASSESS_WRITTEN_EXAM: "declared on unit U"}


def test_the_recorded_moodle_quiz_hides_its_ip_restriction_so_it_decides_nothing():
    # the recorded site's WS user cannot edit quizzes: no subnet and no password in the response
    settings = _settings()
    assert "subnet" not in settings and settings["browsersecurity"] == ""
    d = _derive(_unit(), [Facts.quiz(3, CNC, 80, settings=settings, fid="q")])
    assert d.supervision.value is None
    assert "moodle/course:manageactivities" in d.supervision.provenance[0].reason  # why nothing is claimed
    declared = _derive(_unit(supervision="Supervised with ID Verification"),
                       [Facts.quiz(3, CNC, 80, settings=settings)])
    assert declared.supervision.value is SupervisionLevel.SUPERVISED_ONLINE_ID


@pytest.mark.parametrize(("raw", "level", "why"), [
    (MANAGER_FIELDS, SupervisionLevel.UNSUPERVISED_NO_ID, "no proctoring or IP restriction"),
    ({**MANAGER_FIELDS, "browsersecurity": "securewindow"}, SupervisionLevel.UNSUPERVISED_NO_ID,
     "a full-screen pop-up window only"),
    ({**MANAGER_FIELDS, "password": "exam2026"}, SupervisionLevel.UNSUPERVISED_NO_ID, "a password only"),
    ({**MANAGER_FIELDS, "subnet": "10.20.0.0/16"}, SupervisionLevel.SUPERVISED_ONSITE_ID, "IP/subnet restriction"),
    ({**MANAGER_FIELDS, "subnet": "10.20.0.0/16", "browsersecurity": "securewindow"},
     SupervisionLevel.SUPERVISED_ONSITE_ID, "a full-screen pop-up window, IP/subnet restriction"),
    ({**MANAGER_FIELDS, "browsersecurity": "safebrowser"}, SupervisionLevel.UNSUPERVISED_NO_ID,
     "Safe Exam Browser only"),
])
def test_supervision_reads_the_fields_moodle_returns(raw, level, why):
    d = _derive(_unit(), [Facts.quiz(3, CNC, 80, settings=_settings(**raw), fid="q")])
    assert d.supervision.value is level
    assert why in d.supervision.provenance[0].reason
    assert "exam2026" not in json.dumps(_settings(**raw))  # the password itself is never stored


def test_an_activity_declared_supervised_is_a_supervised_written_examination():
    quiz = Facts.quiz(3, CNC, 80, settings=_settings(), fid="q")
    said = {3: DeclaredSupervision(SupervisionLevel.SUPERVISED_ONSITE_ID, "sat in the exam room with ID check",
                                   "courses.CNC101.activities.CNC fundamentals quiz")}
    d = _derive(_unit(), [quiz], said)
    assert d.supervision.value is SupervisionLevel.SUPERVISED_ONSITE_ID
    assert d.supervision.provenance[0].reason == ("declared in the mapping file (courses.CNC101.activities.CNC "
                                                  "fundamentals quiz): sat in the exam room with ID check")
    assert d.assessment_types.value == (ASSESS_WRITTEN_EXAM,)
    # the declaration outranks what Moodle's settings suggest
    open_quiz = Facts.quiz(3, CNC, 80, settings=_settings(**MANAGER_FIELDS))
    assert _derive(_unit(), [open_quiz], said).supervision.value is SupervisionLevel.SUPERVISED_ONSITE_ID


def _with_activities(block: str) -> str:
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    return text.replace("  WELD201: {mode: Presential}\n", f"  WELD201:\n    mode: Presential\n{block}")


def test_a_mapping_file_declares_an_activitys_supervision_and_the_credential_states_it():
    text = _with_activities("    activities:\n      Welding safety check:\n        supervision: supervised_onsite_id\n"
                            "        note: sat in the workshop exam room with an ID check\n")
    text = text.replace("    assessment_types: [written examination]\n    evidence:\n      all:\n"
                        "        - quiz_passed: {course: WELD201, quiz: Welding safety check, min_percent: 60}\n"
                        "        - competency_proficient: {competency: ME-C3, course: WELD201}",
                        "    assessment_types: [written examination]\n    evidence:\n"
                        "      quiz_passed: {course: WELD201, quiz: Welding safety check, min_percent: 60}")
    resolved = resolve(load_mapping_text(text, "school.yaml"), recorded_site())
    notes = [d.note for d in resolved.activity_supervision.values()]
    assert notes == ["sat in the workshop exam room with an ID check"]
    found = [r for r in (evaluate(resolved, facts) for facts in recorded_evidence().values())
             if "WELD-SAFETY" in r.earned_templates]
    assert found, "a recorded learner earns WELD-SAFETY"
    unit = found[0].achieved_units["WELD-SAFE"].derived
    assert unit.supervision.value is SupervisionLevel.SUPERVISED_ONSITE_ID
    assert unit.assessment_types.value == (ASSESS_WRITTEN_EXAM,)
    # the credential also stacks TD-READ, which says nothing of supervision: it claims only what holds
    # for both, and keeps the declaration as the reason for its unit
    annex = found[0].earned_templates["WELD-SAFETY"].annex
    assert annex.supervision.value is SupervisionLevel.UNSUPERVISED_NO_ID
    assert any("sat in the workshop exam room" in p.reason for p in annex.supervision.provenance)


def test_a_declared_activity_that_is_not_on_the_site_is_named_at_its_line():
    text = _with_activities("    activities:\n      Final exam:\n        supervision: supervised_onsite_id\n"
                            "        note: sat in the exam room\n")
    with pytest.raises(MappingError) as info:
        resolve(load_mapping_text(text, "school.yaml"), recorded_site())
    problem = info.value.problems[0]
    assert "no activity with idnumber or name 'Final exam' in course WELD201" in problem.message
    assert text.splitlines()[problem.line - 1].strip() == "Final exam:"


def test_an_unknown_supervision_level_is_named():
    text = _with_activities("    activities:\n      Welding safety check:\n        supervision: watched\n"
                            "        note: sat in the exam room\n")
    with pytest.raises(MappingError, match="supervised_onsite_id"):
        load_mapping_text(text, "school.yaml")
