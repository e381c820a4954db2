"""resolve(): every Moodle reference of a mapping file is checked against the site, with file/line."""

from __future__ import annotations

from datetime import datetime

import pytest

from credbridge.mappings import MappingError, load_mapping_text, resolve
from credbridge.mappings.evidence import EvidenceFact, EvidenceKind
from credbridge.mappings.structure import Course, CourseStructure
from tests.mappings.helpers import EXAMPLES


def _text() -> str:
    return (EXAMPLES / "vet-college.yaml").read_text("utf-8")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_dangling_quiz_and_course_declaration_are_placed(site):
    text = _text().replace("quiz: Welding safety check", "quiz: Welding safety quiz").replace(
        "  WELD201: {mode: Presential}", "  WELD201: {mode: Presential}\n  WELD202: {mode: Online}")
    ms = load_mapping_text(text, "school.yaml")
    with pytest.raises(MappingError) as info:
        resolve(ms, site)
    problems = {p.code for p in info.value.problems}
    assert problems == {"dangling_moodle_reference"}
    quiz = next(p for p in info.value.problems if "Welding safety quiz" in p.message)
    assert quiz.file == "school.yaml"
    assert quiz.line == _line_of(text, "quiz: Welding safety quiz")
    assert quiz.message.startswith("unit WELD-SAFE: no quiz with idnumber or name 'Welding safety quiz' in course "
                                   "WELD201 (there: 'Welding safety check')")
    course = next(p for p in info.value.problems if "WELD202" in p.message)
    assert (course.line, course.column) == (_line_of(text, "WELD202"), 3)
    assert len(info.value.problems) == 2


def test_resolution_against_an_empty_site_lists_every_reference(example_set):
    with pytest.raises(MappingError) as info:
        resolve(example_set, CourseStructure())
    # every reference: TD-READ 2, CNC-PROG 2, CNC-OPS 2, WELD-SAFE 2, + the two course declarations
    assert len(info.value.problems) == 8 + 2
    assert len({(p.line, p.column) for p in info.value.problems}) == 10


def test_ambiguous_activity_name(example_set):
    from credbridge.mappings.structure import Activity

    twice = Course(2, "CNC101", "CNC", "VET-ME-CNC101", (Activity(3, "quiz", 1, "CNC fundamentals quiz"),
                                                        Activity(30, "quiz", 9, "CNC fundamentals quiz")))
    with pytest.raises(MappingError, match="2 quiz activities are named 'CNC fundamentals quiz'"):
        resolve(example_set, CourseStructure((twice,)))


def test_course_declared_mode_from_structure(example_set, site):
    r = resolve(example_set, site)
    assert r.course_modes == {2: "http://data.europa.eu/snb/learning-assessment/e92d221e4d",
                              3: "http://data.europa.eu/snb/learning-assessment/9191af2ed9"}
    td = next(c for c in site.courses if c.shortname == "TD110")
    other = CourseStructure(tuple(c if c is not td else Course(td.id, td.shortname, td.fullname, td.idnumber,
                                                                td.activities, (), declared_mode="online")
                                  for c in site.courses), site.competencies)
    assert resolve(example_set, other).course_modes[4] == "http://data.europa.eu/snb/learning-assessment/920fbb3cbe"


def test_evidence_needs_timezone():
    with pytest.raises(ValueError, match="timezone-aware"):
        EvidenceFact("x", EvidenceKind.COURSE_COMPLETION, datetime(2026, 1, 1), course_id=2, completed=True)
    f = EvidenceFact("x", "external", datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
                     external={"result": "pass", "tags": ["a"]})
    assert f.kind is EvidenceKind.EXTERNAL and f.external["tags"] == ("a",)
    with pytest.raises(TypeError):
        f.external["result"] = "fail"  # type: ignore[index]
