"""Every derivation path: assessment type, form of participation, supervision & ID, grade."""

from __future__ import annotations

from decimal import Decimal

import pytest

from credbridge.mappings.derive import (
    ASSESS_ATTENDANCE,
    ASSESS_CONTINUOUS,
    ASSESS_MARKED_ASSIGNMENT,
    ASSESS_QUIZ,
    ASSESS_WRITTEN_EXAM,
    Provenance,
    SupervisionLevel,
    combine_modes,
    derive_unit,
    infer_course_mode,
)
from credbridge.mappings.model import BLENDED, ONLINE, PRESENTIAL, WORKBASED, School, Unit
from tests.mappings.helpers import CNC, TD, WELD, Facts

PRACTICAL = "http://data.europa.eu/snb/assessment/6a4db9f11d"
ORAL = "http://data.europa.eu/snb/assessment/d30284d7df"
OPEN_QUIZ = {"timelimit": 0, "seb_required": False, "access_rules": [], "has_password": False, "subnet": None}


def unit(**extra) -> Unit:
    data = {"code": "U", "title": {"en": "U"}, "evidence": {"course_completed": "CNC101"}}
    data.update(extra)
    return Unit.model_validate(data)


def school(checks_id: bool) -> School:
    return School(code="s", legal_name={"en": "S"}, country="HR", checks_id_at_supervised_exams=checks_id)


def derive(u: Unit, facts, checks_id: bool = True, course_mode=None):
    return derive_unit(u, [(f, "rule") for f in facts], school(checks_id), course_mode or {})


def test_open_quiz_is_an_unsupervised_quiz():
    d = derive(unit(), [Facts.quiz(3, CNC, 80, settings=OPEN_QUIZ, fid="q")])
    assert d.assessment_types.value == (ASSESS_QUIZ,) and d.assessment_types.source == "evidence"
    assert d.supervision.value is SupervisionLevel.UNSUPERVISED_NO_ID
    assert d.supervision.value.uri == "http://data.europa.eu/snb/supervision-verification/c598449d64"
    assert d.supervision.provenance[0].evidence_ids == ("q",)
    assert "no proctoring or IP restriction" in d.supervision.provenance[0].reason


@pytest.mark.parametrize("settings", [{"seb_required": True, "subnet": ""},
                                      {"access_rules": ["quizaccess_seb"], "subnet": ""},
                                      {"seb_requiresafeexambrowser": 1, "subnet": "", "browsersecurity": "-"}])
def test_safe_exam_browser_alone_is_no_evidence_of_supervision(settings):
    # it locks the browser, wherever the learner is: no person in the room, no ID check
    d = derive(unit(), [Facts.quiz(3, CNC, 80, settings=settings)], checks_id=True)
    assert d.supervision.value is SupervisionLevel.UNSUPERVISED_NO_ID
    assert "Safe Exam Browser only" in d.supervision.provenance[0].reason
    assert d.assessment_types.value == (ASSESS_QUIZ,)


@pytest.mark.parametrize(("settings", "checks_id", "level", "why"), [
    ({"access_rules": ["quizaccess_proctoring"]}, True, SupervisionLevel.SUPERVISED_ONLINE_ID, "proctoring"),
    ({"subnet": "10.1.2.0/24"}, True, SupervisionLevel.SUPERVISED_ONSITE_ID, "IP/subnet"),
    ({"subnet": "10.1.2.0/24", "seb_required": True}, True, SupervisionLevel.SUPERVISED_ONSITE_ID,
     "Safe Exam Browser, IP/subnet"),
    ({"subnet": "10.1.2.0/24"}, False, SupervisionLevel.SUPERVISED_NO_ID, "does not declare ID checks"),
    ({"subnet": "10.1.2.0/24", "id_verification": True}, False, SupervisionLevel.SUPERVISED_ONSITE_ID, "checks ID"),
])
def test_supervised_quiz(settings, checks_id, level, why):
    d = derive(unit(), [Facts.quiz(3, CNC, 80, settings=settings)], checks_id=checks_id)
    assert d.supervision.value is level
    assert why in d.supervision.provenance[0].reason
    assert d.assessment_types.value == (ASSESS_WRITTEN_EXAM,)


def test_supervision_without_verified_uri_keeps_label():
    assert SupervisionLevel.SUPERVISED_NO_ID.uri is None
    assert SupervisionLevel.SUPERVISED_NO_ID.label == "Supervised without ID verification"


def test_weakest_supervision_wins():
    facts = [Facts.quiz(3, CNC, 80, settings={"subnet": "10.1.2.0/24"}, fid="lab"),
             Facts.quiz(6, WELD, 80, settings=OPEN_QUIZ, fid="open")]
    d = derive(unit(), facts, checks_id=True)
    assert d.supervision.value is SupervisionLevel.UNSUPERVISED_NO_ID
    assert {p.evidence_ids for p in d.supervision.provenance} == {("lab",), ("open",)}


def test_levels_that_are_not_weaker_than_each_other_meet():
    # supervised without ID beside unsupervised with ID: neither holds for both, so neither is claimed
    facts = [Facts.quiz(3, CNC, 80, settings={"subnet": "10.1.2.0/24"}, fid="lab"),
             Facts.external("EXAM", result="pass", supervised="no", id_checked="yes")]
    assert derive(unit(), facts, checks_id=False).supervision.value is SupervisionLevel.UNSUPERVISED_NO_ID
    online_and_onsite = [Facts.quiz(3, CNC, 80, settings={"subnet": "10.1.2.0/24"}, fid="lab"),
                         Facts.quiz(6, WELD, 80, settings={"access_rules": ["quizaccess_proctoring"]}, fid="p")]
    assert derive(unit(), online_and_onsite, checks_id=True).supervision.value is \
        SupervisionLevel.SUPERVISED_ONLINE_ID


def test_a_supervised_quiz_does_not_make_the_take_home_work_beside_it_supervised():
    facts = [Facts.quiz(3, CNC, 80, settings={"subnet": "10.1.2.0/24"}, fid="lab"), Facts.assign(2, CNC, 80, fid="a")]
    d = derive(unit(), facts, checks_id=True)
    assert d.supervision.value is SupervisionLevel.UNSUPERVISED_NO_ID
    assert any("no record of supervision" in p.reason for p in d.supervision.provenance)
    # unless the unit declares how the work it cannot see evidence for is supervised
    declared = unit(supervision="Supervised with ID Verification")
    assert derive(declared, facts, checks_id=True).supervision.value is SupervisionLevel.SUPERVISED_ONLINE_ID


def test_quiz_without_settings_falls_back_to_declared_supervision():
    u = unit(supervision="Supervised with ID Verification")
    d = derive(u, [Facts.quiz(3, CNC, 80)])
    assert d.supervision.value is SupervisionLevel.SUPERVISED_ONLINE_ID and d.supervision.source == "declared"
    assert derive(unit(), [Facts.quiz(3, CNC, 80)]).supervision.value is None


@pytest.mark.parametrize(("columns", "level"), [
    ({"supervised": "yes", "id_checked": "yes", "mode": "onsite"}, SupervisionLevel.SUPERVISED_ONSITE_ID),
    ({"id_checked": "1"}, SupervisionLevel.UNSUPERVISED_ID),  # supervision not said: not claimed
    ({"supervised": "yes", "id_checked": "yes", "mode": "online"}, SupervisionLevel.SUPERVISED_ONLINE_ID),
    ({"supervised": "true", "id_checked": "no"}, SupervisionLevel.SUPERVISED_NO_ID),
    ({"supervised": "no"}, SupervisionLevel.UNSUPERVISED_NO_ID),
    ({"supervised": "no", "id_checked": "yes"}, SupervisionLevel.UNSUPERVISED_ID),
])
def test_external_supervision(columns, level):
    d = derive(unit(), [Facts.external("EXAM", result="pass", **columns)])
    assert d.supervision.value is level


def test_assignment_is_marked_assignment_unless_declared_more_precisely():
    f = Facts.assign(2, CNC, 80, fid="a")
    assert derive(unit(), [f]).assessment_types.value == (ASSESS_MARKED_ASSIGNMENT,)
    d = derive(unit(assessment_types=["practical assessment", "oral examination"]), [f])
    # the assignment is the practical assessment; the oral examination it does not show is still stated
    assert set(d.assessment_types.value) == {PRACTICAL, ORAL}
    assert "declares what kind of work" in d.assessment_types.provenance[0].reason
    assert d.assessment_types.provenance[1] == Provenance((), "unit.assessment_types", "declared on unit U", (ORAL,))


def test_competency_attendance_and_external_types():
    assert derive(unit(), [Facts.comp("ME-C1")]).assessment_types.value == (ASSESS_CONTINUOUS,)
    att = Facts.activity(11, CNC, modname="attendance")
    assert derive(unit(), [att]).assessment_types.value == (ASSESS_ATTENDANCE,)
    ext = Facts.external("EXAM", result="pass", assessment_type="Oral examination")
    assert derive(unit(), [ext]).assessment_types.value == (ORAL,)
    bad = Facts.external("EXAM", result="pass", assessment_type="interview")
    d = derive(unit(assessment_types=[PRACTICAL]), [bad])
    assert d.assessment_types.value == (PRACTICAL,) and "interview" in d.assessment_types.provenance[0].reason
    assert derive(unit(), [bad]).assessment_types.value == ()


def test_completion_evidence_falls_back_to_declared_type():
    d = derive(unit(assessment_types=["practical assessment"]), [Facts.course(CNC, fid="cc")])
    assert d.assessment_types.value == (PRACTICAL,) and d.assessment_types.source == "declared"
    assert d.assessment_types.provenance[0].evidence_ids == ("cc",)


def test_mixed_evidence_gives_several_types():
    d = derive(unit(), [Facts.quiz(3, CNC, 80, settings=OPEN_QUIZ), Facts.comp("ME-C2"), Facts.assign(2, CNC, 80)])
    assert set(d.assessment_types.value) == {ASSESS_QUIZ, ASSESS_CONTINUOUS, ASSESS_MARKED_ASSIGNMENT}


def _mode(mode, source="evidence"):
    return (mode, source, Provenance((), "r", source))


def test_mode_from_courses():
    quiz_cnc, quiz_weld = Facts.quiz(3, CNC, 80), Facts.quiz(6, WELD, 80)
    d = derive(unit(mode="Online"), [quiz_cnc], course_mode={CNC: _mode(PRESENTIAL, "course_declaration")})
    assert d.mode.value == PRESENTIAL and d.mode.source == "course_declaration"
    d = derive(unit(), [quiz_cnc, quiz_weld], course_mode={CNC: _mode(PRESENTIAL), WELD: _mode(ONLINE)})
    assert d.mode.value == BLENDED and d.mode.source == "evidence"
    d = derive(unit(mode="Online"), [quiz_cnc])
    assert d.mode.value == ONLINE and d.mode.source == "declared"
    # a mode guessed from activity types does not overrule the unit's declaration
    d = derive(unit(mode="Presential"), [quiz_cnc], course_mode={CNC: _mode(ONLINE)})
    assert d.mode.value == PRESENTIAL and d.mode.source == "declared"
    d = derive(unit(mode="Workbased"), [quiz_cnc], course_mode={CNC: _mode(ONLINE)})
    assert d.mode.value == WORKBASED
    assert derive(unit(), [Facts.external("X", result="pass")]).mode.value is None


def test_infer_course_mode():
    online = [Facts.quiz(9, TD, 80, fid="q"), Facts.activity(7, TD, modname="page", fid="p")]
    onsite = [Facts.activity(12, TD, modname="attendance", fid="att")]
    assert infer_course_mode(online)[:2] == (ONLINE, "online activities only")
    assert infer_course_mode(online)[2] == ("p", "q")
    assert infer_course_mode(onsite)[0] == PRESENTIAL
    assert infer_course_mode(online + onsite)[0] == BLENDED
    lab_quiz = Facts.quiz(9, TD, 80, settings={"subnet": "10.0.0.0/8"})
    assert infer_course_mode([lab_quiz])[0] == PRESENTIAL
    assert infer_course_mode([Facts.external("X", mode="work-based")])[0] == WORKBASED
    assert infer_course_mode([Facts.external("X", mode="Presential")])[0] == PRESENTIAL
    assert infer_course_mode([Facts.comp("ME-C1")])[0] is None


def test_combine_modes():
    assert combine_modes([]) is None
    assert combine_modes([ONLINE, ONLINE]) == ONLINE
    assert combine_modes([ONLINE, PRESENTIAL]) == BLENDED
    assert combine_modes([ONLINE, WORKBASED]) == WORKBASED


def test_grade():
    scheme = {"title": {"en": "Grade"}, "basis": "mean", "bands": [
        {"min_percent": 90, "label": {"en": "excellent"}}, {"min_percent": 60, "label": {"en": "good"}},
        {"min_percent": 0, "label": {"en": "pass"}}]}
    facts = [Facts.quiz(3, CNC, 100, fid="q"), Facts.assign(2, CNC, 70, fid="a"), Facts.comp("ME-C1")]
    g = derive(unit(grading=scheme), facts).grade
    assert g.percent == Decimal("85.00") and g.label == {"en": "good"}
    assert g.provenance.evidence_ids == ("a", "q")
    assert derive(unit(grading={**scheme, "basis": "max"}), facts).grade.label == {"en": "excellent"}
    assert derive(unit(grading={**scheme, "basis": "min"}), facts).grade.percent == Decimal("70.00")
    assert derive(unit(grading={"title": {"en": "%"}}), facts).grade.label is None
    assert derive(unit(), facts).grade is None
    assert derive(unit(grading=scheme), [Facts.comp("ME-C1")]).grade is None


def test_grade_bands_must_descend():
    with pytest.raises(ValueError, match="from the highest min_percent"):
        unit(grading={"title": {"en": "g"}, "bands": [{"min_percent": 10, "label": {"en": "a"}},
                                                     {"min_percent": 50, "label": {"en": "b"}}]})
