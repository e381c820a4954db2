"""Result sheets, AGS results, and the conversion of stored evidence for the mapping layer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select

from credbridge.connector.sources.lti_ags import import_ags_results
from credbridge.connector.sources.results_file import import_results, parse
from credbridge.connector.store.models import Evidence, Learner, LearnerIdentity, LmsConnection
from credbridge.connector.sync.facts import course_structure, current_facts
from credbridge.mappings.evidence import EvidenceKind
from tests.sync.conftest import Harness


def test_parse_reports_every_problem_with_file_row_and_column(tmp_path: Path):
    sheet = tmp_path / "exam.csv"
    sheet.write_text("email,assessment,grade,max,date,id_checked,mode,colour\n"
                     "a@x.example,,abc,0,2026-13-01,perhaps,moon,red\n", encoding="utf-8")
    rows, errors = parse(sheet)
    assert rows == []
    assert [str(e) for e in errors] == [
        "exam.csv:1:colour: unknown column; expected one of " + str(sorted({
            "assessment", "assessment_name", "date", "email", "grade", "id_checked", "idnumber", "max", "mode",
            "result", "supervised", "username"})),
        "exam.csv:2:assessment: the assessment code is required (e.g. WELD-PRACT-1)",
        "exam.csv:2:grade: expected a number, got 'abc'",
        "exam.csv:2:max: expected a positive number",
        "exam.csv:2:date: expected a date as YYYY-MM-DD or DD.MM.YYYY, got '2026-13-01'",
        "exam.csv:2:id_checked: expected yes or no, got 'perhaps'",
        "exam.csv:2:mode: expected one of ['blended', 'hybrid', 'online', 'onsite'], got 'moon'",
    ]


def test_parse_rejects_duplicates_and_grades_out_of_range(tmp_path: Path):
    sheet = tmp_path / "exam.csv"
    sheet.write_text("idnumber,assessment,grade,max,date\nS1,P1,21,20,2026-06-01\nS1,P1,10,20,2026-06-01\n",
                     encoding="utf-8")
    _, errors = parse(sheet)
    assert [str(e) for e in errors] == ["exam.csv:2:grade: expected a grade between 0 and 20, got 21",
                                        "exam.csv:3:idnumber: the same learner and assessment already appear on row 2"]


def test_xlsx_import_is_idempotent_and_versions_corrections(harness: Harness, tmp_path: Path):
    harness.sync()

    def write(grade: int) -> Path:
        book = Workbook()
        sheet = book.active
        sheet.append(["Username", "Assessment", "Assessment name", "Grade", "Max", "Date", "Supervised", "Mode"])
        sheet.append(["aino.virtanen", "CNC-PRACT", "CNC practical exam", grade, 20, date(2026, 6, 1), "yes", "onsite"])
        path = tmp_path / "exam.xlsx"
        book.save(path)
        return path

    with harness.db.unit_of_work() as session:
        conn = session.get(LmsConnection, harness.connection_id)
        first = import_results(session, conn, write(15))
        assert first.written and first.counts.new == 1 and first.errors == []
    with harness.db.unit_of_work() as session:
        conn = session.get(LmsConnection, harness.connection_id)
        again = import_results(session, conn, write(15))
        assert (again.counts.new, again.counts.changed) == (0, 0)
        fixed = import_results(session, conn, write(17))
        assert fixed.counts.changed == 1
    with harness.db.unit_of_work() as session:
        learner = session.scalar(select(LearnerIdentity.learner_id).where(LearnerIdentity.username == "aino.virtanen"))
        facts = [f for f in current_facts(session, learner) if f.kind is EvidenceKind.EXTERNAL]
        assert len(facts) == 1
        fact = facts[0]
        assert fact.activity_idnumber == "CNC-PRACT" and fact.raw == Decimal(17) and fact.max == Decimal(20)
        assert fact.external["supervised"] is True and fact.external["mode"] == "onsite"
        assert fact.occurred_at.date() == date(2026, 6, 1) and fact.id.endswith(":v2")


def test_ags_results_become_evidence_and_vanished_results_are_withdrawn(harness: Harness):
    harness.sync()
    lineitem = {"id": "https://moodle.example/mod/lti/services.php/2/lineitems/7/lineitem", "label": "Simulator",
                "scoreMaximum": 100, "tag": "cnc-sim"}
    with harness.db.unit_of_work() as session:
        conn = session.get(LmsConnection, harness.connection_id)
        counts = import_ags_results(session, conn, lineitem, [
            {"userId": "5", "resultScore": 80, "resultMaximum": 100, "timestamp": "2026-06-01T10:00:00Z"},
            {"userId": "6", "resultScore": 55.5, "resultMaximum": 100},
            {"userId": "999", "resultScore": 10}], course_moodle_id=2)
        assert counts.new == 2
    with harness.db.unit_of_work() as session:
        conn = session.get(LmsConnection, harness.connection_id)
        counts = import_ags_results(session, conn, lineitem, [{"userId": "5", "resultScore": 80, "resultMaximum": 100,
                                                               "timestamp": "2026-06-01T10:00:00Z"}])
        assert (counts.new, counts.changed, counts.withdrawn) == (0, 0, 1)
        rows = session.scalars(select(Evidence).where(Evidence.source == "lti_ags", Evidence.is_current)).all()
        assert sorted((r.payload["raw"], r.withdrawn) for r in rows) == [("55.5", True), ("80", False)]


def test_facts_and_structure_for_the_mapping_layer(harness: Harness):
    harness.sync()
    with harness.db.unit_of_work() as session:
        structure = course_structure(session, harness.connection_id)
        cnc = structure.course("VET-ME-CNC101")
        assert cnc is not None and cnc.shortname == "CNC101" and cnc.id == 2
        assert {a.cmid for a in cnc.activities} == {1, 2, 3, 10}
        quiz_item = next(g for g in cnc.grade_items if g.cmid == 3)
        assert quiz_item.itemmodule == "quiz" and quiz_item.grademax == Decimal(10)
        assert structure.competency("ME-C1") is not None
        learner = session.scalar(select(Learner).where(Learner.idnumber == "STU-2026-001"))
        facts = current_facts(session, learner.id)
        by_kind = {}
        for fact in facts:
            by_kind.setdefault(fact.kind, []).append(fact)
        completion = next(f for f in by_kind[EvidenceKind.COURSE_COMPLETION] if f.course_id == 2)
        assert completion.completed is True and completion.course_shortname == "CNC101"
        attempt = by_kind[EvidenceKind.QUIZ_ATTEMPT][0]
        assert attempt.attempt_state == "finished" and attempt.max == Decimal(10)
        assert "timelimit" in attempt.quiz_settings and attempt.quiz_settings["seb_required"] is False
        grade = next(f for f in by_kind[EvidenceKind.GRADE_ITEM] if f.cmid == 2)
        assert grade.raw == Decimal(69) and grade.effective_percent == Decimal("69")
        competencies = by_kind[EvidenceKind.COMPETENCY]
        assert {c.competency_idnumber for c in competencies} >= {"ME-C1"}
        assert all(f.occurred_at.tzinfo is not None for f in facts)
