"""The course structure interface: what the connector knows about a Moodle site's courses.

Mapping files refer to courses by shortname or idnumber, to activities by idnumber or name and
to grade items by idnumber; :func:`credbridge.mappings.resolve` turns those into Moodle ids with
this structure. The connector fills it from core_course_get_contents, core_grades_get_gradeitems /
gradereport_user_get_grade_items and core_competency_* (or from its store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["Activity", "CompetencyRef", "Course", "CourseStructure", "GradeItem"]


@dataclass(frozen=True, slots=True)
class Activity:
    cmid: int
    modname: str
    instance: int
    name: str
    idnumber: str | None = None


@dataclass(frozen=True, slots=True)
class GradeItem:
    id: int
    itemname: str | None = None
    idnumber: str | None = None
    itemtype: str = "mod"  # mod | manual | course | category
    itemmodule: str | None = None
    cmid: int | None = None
    grademax: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Course:
    id: int
    shortname: str
    fullname: str
    idnumber: str | None = None
    activities: tuple[Activity, ...] = ()
    grade_items: tuple[GradeItem, ...] = ()
    #: form of participation declared in the LMS or by the connector, if any (vocabulary label or URI)
    declared_mode: str | None = None


@dataclass(frozen=True, slots=True)
class CompetencyRef:
    id: int
    idnumber: str
    shortname: str


@dataclass(frozen=True)
class CourseStructure:
    courses: tuple[Course, ...] = ()
    competencies: tuple[CompetencyRef, ...] = ()
    _by_key: dict[str, Course] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for c in self.courses:
            self._by_key.setdefault(c.shortname, c)
        for c in self.courses:
            if c.idnumber:
                self._by_key.setdefault(c.idnumber, c)

    def course(self, ref: str) -> Course | None:
        """Course by shortname, else by idnumber."""
        return self._by_key.get(ref)

    def course_by_id(self, course_id: int) -> Course | None:
        return next((c for c in self.courses if c.id == course_id), None)

    def competency(self, ref: str) -> CompetencyRef | None:
        return next((c for c in self.competencies if c.idnumber == ref), None) or next(
            (c for c in self.competencies if c.shortname == ref), None)

    @staticmethod
    def activity(course: Course, ref: str, modname: str | None = None) -> list[Activity]:
        """Activities of ``course`` whose idnumber, else whose name, equals ``ref``."""
        pool = [a for a in course.activities if modname is None or a.modname == modname]
        by_idnumber = [a for a in pool if a.idnumber and a.idnumber == ref]
        return by_idnumber or [a for a in pool if a.name == ref]

    @staticmethod
    def grade_item(course: Course, ref: str) -> list[GradeItem]:
        by_idnumber = [g for g in course.grade_items if g.idnumber and g.idnumber == ref]
        return by_idnumber or [g for g in course.grade_items if g.itemname == ref]
