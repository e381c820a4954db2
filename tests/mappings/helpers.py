"""Test helpers: the recorded Moodle 4.5 site as a CourseStructure, the worked example, fact builders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from credbridge.mappings.evidence import EvidenceFact, EvidenceKind
from credbridge.mappings.structure import Activity, CompetencyRef, Course, CourseStructure, GradeItem

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"  # vendored copies, see tests/data/SOURCES.md
FIXTURES = DATA / "moodle-4.5"
WS = FIXTURES / "moodle-ws"
EXAMPLES = REPO / "mappings" / "examples"
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def _json(name: str):
    return json.loads((WS / name).read_text("utf-8"))


def recorded_site() -> CourseStructure:
    """The recorded site's courses, activities, grade items and competencies, from the WS captures."""
    testdata = json.loads((FIXTURES / "testdata.json").read_text("utf-8"))
    contents = {2: _json("core_course_get_contents__courseid=2.json"),
                3: _json("core_course_get_contents__courseid=3_excludecontents.json")}
    quizzes = _json("mod_quiz_get_quizzes_by_courses__courseids=all3.json")["quizzes"]
    items2 = _json("gradereport_user_get_grade_items__courseid=2_userid=5.json")["usergrades"][0]["gradeitems"]
    courses = []
    for short, c in testdata["courses"].items():
        acts = {}
        for section in contents.get(c["id"], []):
            for m in section["modules"]:
                acts[m["id"]] = Activity(m["id"], m["modname"], m["instance"], m["name"], m.get("idnumber") or None)
        for q in quizzes:  # TD110's contents were not captured; its quiz is in the quiz list
            if q["course"] == c["id"] and q["coursemodule"] not in acts:
                acts[q["coursemodule"]] = Activity(q["coursemodule"], "quiz", q["id"], q["name"])
        items = ()
        if c["id"] == 2:
            items = tuple(GradeItem(g["id"], g["itemname"], g["idnumber"] or None, g["itemtype"], g["itemmodule"],
                                    g.get("cmid"), Decimal(str(g["grademax"]))) for g in items2)
        courses.append(Course(c["id"], short, c["fullname"], c["idnumber"], tuple(acts.values()), items))
    comps = tuple(CompetencyRef(v["id"], k, v["shortname"])
                  for k, v in testdata["competencies"]["competencies"].items())
    return CourseStructure(tuple(courses), comps)


class Facts:
    """Builders for evidence facts of the recorded site (course ids and cmids as recorded)."""

    n = 0

    @classmethod
    def _id(cls, prefix: str) -> str:
        cls.n += 1
        return f"{prefix}:{cls.n}"

    @classmethod
    def at(cls, minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    @classmethod
    def quiz(cls, cmid: int, course_id: int, percent: float, t: int = 0, attempt: int = 1, settings=None,
             state: str = "finished", fid: str | None = None, withdrawn: bool = False) -> EvidenceFact:
        return EvidenceFact(fid or cls._id("quiz"), EvidenceKind.QUIZ_ATTEMPT, cls.at(t), course_id=course_id,
                            cmid=cmid, modname="quiz", percent=Decimal(str(percent)), attempt=attempt,
                            attempt_state=state, quiz_settings=settings, withdrawn=withdrawn)

    @classmethod
    def assign(cls, cmid: int, course_id: int, percent: float, t: int = 0, fid: str | None = None,
               withdrawn: bool = False) -> EvidenceFact:
        return EvidenceFact(fid or cls._id("assign"), EvidenceKind.ASSIGNMENT_GRADE, cls.at(t), course_id=course_id,
                            cmid=cmid, modname="assign", raw=Decimal(str(percent)), max=Decimal(100),
                            withdrawn=withdrawn)

    @classmethod
    def comp(cls, idnumber: str, proficient: bool = True, course_id: int | None = None, t: int = 0,
             fid: str | None = None, withdrawn: bool = False) -> EvidenceFact:
        return EvidenceFact(fid or cls._id("comp"), EvidenceKind.COMPETENCY, cls.at(t), course_id=course_id,
                            competency_idnumber=idnumber, proficient=proficient, withdrawn=withdrawn)

    @classmethod
    def course(cls, course_id: int, completed: bool = True, t: int = 0, fid: str | None = None,
               withdrawn: bool = False) -> EvidenceFact:
        return EvidenceFact(fid or cls._id("course"), EvidenceKind.COURSE_COMPLETION, cls.at(t),
                            course_id=course_id, completed=completed, withdrawn=withdrawn)

    @classmethod
    def activity(cls, cmid: int, course_id: int, state: int = 1, modname: str = "page", t: int = 0,
                 fid: str | None = None) -> EvidenceFact:
        return EvidenceFact(fid or cls._id("cm"), EvidenceKind.ACTIVITY_COMPLETION, cls.at(t), course_id=course_id,
                            cmid=cmid, modname=modname, state=state)

    @classmethod
    def grade_item(cls, item_id: int, course_id: int, raw: float, grademax: float = 100, t: int = 0,
                   modname: str | None = None, fid: str | None = None) -> EvidenceFact:
        return EvidenceFact(fid or cls._id("gi"), EvidenceKind.GRADE_ITEM, cls.at(t), course_id=course_id,
                            grade_item_id=item_id, modname=modname, raw=Decimal(str(raw)),
                            max=Decimal(str(grademax)))

    @classmethod
    def external(cls, assessment: str, t: int = 0, fid: str | None = None, course_id: int | None = None,
                 **columns) -> EvidenceFact:
        return EvidenceFact(fid or cls._id("ext"), EvidenceKind.EXTERNAL, cls.at(t), course_id=course_id,
                            activity_idnumber=assessment, external=columns)


# recorded ids: CNC101 = course 2 (quiz cm 3, assign cm 2, page cm 1, lti cm 10), WELD201 = course 3
# (page cm 4, assign cm 5, quiz cm 6), TD110 = course 4 (quiz cm 9)
CNC, WELD, TD = 2, 3, 4


def cnc_operator_learner(t: int = 0) -> list[EvidenceFact]:
    """Evidence that earns CNC-OPERATOR (and TD-BASICS): like recorded student 1 (aino.virtanen)."""
    return [
        Facts.quiz(3, CNC, 100, t=t + 10, fid="q-cnc-1"),
        Facts.assign(2, CNC, 69, t=t + 20, fid="a-cnc-1"),
        Facts.comp("ME-C2", course_id=CNC, t=t + 30, fid="c-me2"),
        Facts.comp("ME-C1", course_id=CNC, t=t + 5, fid="c-me1"),
        Facts.course(CNC, t=t + 40, fid="course-cnc"),
    ]


OPEN_QUIZ_SETTINGS = {"timelimit": 0, "seb_required": False, "access_rules": [], "has_password": False,
                      "subnet": None}


def recorded_evidence() -> dict[int, list[EvidenceFact]]:
    """Evidence of the recorded site's 30 students (testdata.json), as the connector would build it."""
    testdata = json.loads((FIXTURES / "testdata.json").read_text("utf-8"))
    comp_idnumber = {v["id"]: k for k, v in testdata["competencies"]["competencies"].items()}
    out: dict[int, list[EvidenceFact]] = {}
    for short, c in testdata["courses"].items():
        cms = c["cms"]
        for r in c["results"]:
            facts = out.setdefault(r["student"], [])
            when = datetime.fromtimestamp(r["course_timecompleted"] or 1795316000, UTC)
            uid = r["userid"]
            if r.get("quiz_grade") is not None:
                facts.append(EvidenceFact(f"quiz:{cms['quiz']}:{uid}:1", EvidenceKind.QUIZ_ATTEMPT, when,
                                          course_id=c["id"], course_shortname=short, cmid=cms["quiz"],
                                          modname="quiz", raw=Decimal(str(r["quiz_grade"])), max=Decimal(10),
                                          attempt=1, attempt_state="finished", quiz_settings=OPEN_QUIZ_SETTINGS))
            if r.get("assign_grade") is not None:
                facts.append(EvidenceFact(f"assign:{cms['assign']}:{uid}", EvidenceKind.ASSIGNMENT_GRADE, when,
                                          course_id=c["id"], cmid=cms["assign"], modname="assign",
                                          raw=Decimal(r["assign_grade"]), max=Decimal(100)))
            for mod, state in r["activity_completion"].items():
                if state != "none":
                    code = {"complete": 1, "complete_pass": 2, "complete_fail": 3}[state]
                    facts.append(EvidenceFact(f"cm:{cms[mod]}:{uid}", EvidenceKind.ACTIVITY_COMPLETION, when,
                                              course_id=c["id"], cmid=cms[mod], modname=mod, state=code))
            if r["course_completed"]:
                facts.append(EvidenceFact(f"course:{c['id']}:{uid}", EvidenceKind.COURSE_COMPLETION, when,
                                          course_id=c["id"], completed=True))
    for row in testdata["competencies"]["user_competency_course"]:
        out.setdefault(row["student"], []).append(EvidenceFact(
            f"comp:{row['courseid']}:{row['competencyid']}:{row['userid']}", EvidenceKind.COMPETENCY,
            datetime.fromtimestamp(1795316300, UTC), course_id=row["courseid"],
            competency_idnumber=comp_idnumber[row["competencyid"]], proficient=bool(row["proficiency"])))
    return out


def vet_college_with_national_credits() -> str:
    """The worked example with every CNC-OPERATOR unit also credited in two national systems declared
    as ``other`` (one named in English, one only in Serbian): 3 + 3 + 3 = 9 "Slovenian KT" and
    1 + 1 + 1 = 3 "srpski bodovi" (TD-BASICS, made of TD-READ alone, gets 3 and 1)."""
    national = "{system: other, points: 3, label: {en: Slovenian KT, sl: kreditne točke}}, " \
               "{system: other, points: 1, label: {sr: srpski bodovi}}"
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    workloads = ["credits: [{system: CSVET, points: 2}, {system: ECVET, points: 1}]",
                 "{credits: [{system: CSVET, points: 2}, {system: ECVET, points: 2}], hours: 50}",
                 "{credits: [{system: CSVET, points: 1}, {system: ECVET, points: 1}], hours: 25}"]
    for workload in workloads:
        assert text.count(workload) == 1, workload
        text = text.replace(workload, workload.replace("}]", "}, " + national + "]", 1))
    return text
