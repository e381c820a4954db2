"""What the teacher's matrix must show, worked out from the emulated Moodle's own tables.

An independent oracle for the end-to-end browser test: the mapping file's evidence rules are read
with plain YAML and checked directly against the emulator's ``Site`` (gradebook, quiz attempts,
competency ratings, course completions), never through credbridge's sync store or its evaluation.
Because it reads the live ``Site``, the same functions give the expectation again after the test
changes something in Moodle.

Only the rule kinds the example mapping uses are understood; any other kind fails loudly, so a new
rule in the example cannot be silently counted as met or unmet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from credbridge.emulator.dataset import ROLE_STUDENT, Module, Site

#: what the teacher's matrix shows for an award's status (lti/pages/queries.py documents the mapping)
AWARD_CELL_STATE = {"teacher_approval": "pending_approval", "automatic": "issued"}


@dataclass(frozen=True)
class Mapping:
    units: dict[str, dict[str, Any]]  # code -> the unit as written
    templates: dict[str, dict[str, Any]]  # code -> the template as written

    @classmethod
    def read(cls, path: Path) -> Mapping:
        data = YAML(typ="safe").load(path.read_text("utf-8"))
        return cls({u["code"]: u for u in data["units"]}, {t["code"]: t for t in data["templates"]})

    def template_units(self, code: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """A template's own units plus those of every template stacked into it (``part_of``)."""
        units = set(self.templates[code]["units"])
        for child, tpl in self.templates.items():
            if code in (tpl.get("part_of") or []) and child not in seen | {code}:
                units |= self.template_units(child, seen | {code})
        return units

    def issue_policy(self, code: str) -> str:
        return str(self.templates[code].get("issue_policy", "automatic"))

    def course_columns(self, shortname: str) -> list[str]:
        """Units whose rules name the course, templates built from them and templates stacked into those."""
        units = {code for code, unit in self.units.items() if _names_course(unit["evidence"], shortname)}
        chosen = {code for code, tpl in self.templates.items() if set(tpl["units"]) & units}
        chosen |= {code for code, tpl in self.templates.items() if set(tpl.get("part_of") or []) & chosen}
        return sorted(chosen) + sorted(units)


def _names_course(rule: Any, shortname: str) -> bool:
    if isinstance(rule, dict):
        return rule.get("course") == shortname or any(_names_course(v, shortname) for v in rule.values())
    if isinstance(rule, list):
        return any(_names_course(v, shortname) for v in rule)
    return rule == shortname


class Truth:
    """Rule checks against one emulated site."""

    def __init__(self, site: Site, mapping: Mapping) -> None:
        self.site, self.mapping = site, mapping

    def course(self, shortname: str) -> int:
        return next(c.id for c in self.site.courses.values() if c.shortname == shortname)

    def module(self, shortname: str, modname: str, name: str) -> Module:
        course_id = self.course(shortname)
        found = [m for m in self.site.modules.values() if m.course == course_id and m.modname == modname
                 and m.name == name]
        assert len(found) == 1, f"{modname} {name!r} in {shortname}: {len(found)} found"
        return found[0]

    def _percent_of_best_attempt(self, userid: int, quiz: Module) -> float | None:
        marks = [a.sumgrades or 0.0 for a in self.site.quiz_attempts.values()
                 if a.quiz == quiz.instance and a.userid == userid and a.state == "finished"]
        return max(marks) / float(quiz.settings.get("sumgrades", 3.0)) * 100 if marks else None

    def _percent_of_grade(self, userid: int, module: Module) -> float | None:
        item = self.site.module_grade_item(module.id)
        grade = self.site.grades.get((item.id, userid)) if item is not None else None
        if item is None or grade is None or grade.rawgrade is None:
            return None
        return grade.rawgrade / item.grademax * 100

    def _proficient(self, userid: int, idnumber: str, shortname: str | None) -> bool:
        competency = self.site.competency_by_idnumber(idnumber)
        course_id = self.course(shortname) if shortname else None
        return any(r.userid == userid and r.competencyid == competency.id and r.proficiency
                   and (course_id is None or r.courseid == course_id) for r in self.site.user_comp_course.values())

    def holds(self, rule: dict[str, Any], userid: int) -> bool:
        (kind, arg), = rule.items()
        if kind == "all":
            return all(self.holds(r, userid) for r in arg)
        if kind == "any":
            return any(self.holds(r, userid) for r in arg)
        if kind == "quiz_passed":
            assert arg.get("attempt", "best") == "best", arg
            percent = self._percent_of_best_attempt(userid, self.module(arg["course"], "quiz", arg["quiz"]))
            return percent is not None and percent >= arg["min_percent"]
        if kind == "assignment_graded":
            percent = self._percent_of_grade(userid, self.module(arg["course"], "assign", arg["assignment"]))
            return percent is not None and percent >= arg["min_percent"]
        if kind == "competency_proficient":
            return self._proficient(userid, arg["competency"], arg.get("course"))
        if kind == "course_completed":
            return self.site.course_completed_at(self.course(arg), userid) is not None
        raise AssertionError(f"the oracle does not know the evidence rule {kind!r}; teach it")

    def achieved_units(self, userid: int) -> set[str]:
        return {code for code, unit in self.mapping.units.items() if self.holds(unit["evidence"], userid)}

    def earned_templates(self, userid: int) -> set[str]:
        achieved = self.achieved_units(userid)
        return {code for code in self.mapping.templates if self.mapping.template_units(code) <= achieved}

    def has_evidence(self, userid: int) -> bool:
        """Anything Moodle recorded about the learner's work anywhere: a completed or viewed activity,
        a grade, a quiz attempt, a competency rating or a course completion."""
        site = self.site
        return (any(c.userid == userid and (c.state > 0 or c.viewed) for c in site.activity_completion.values())
                or any(g.userid == userid and g.rawgrade is not None for g in site.grades.values())
                or any(a.userid == userid for a in site.quiz_attempts.values())
                or any(r.userid == userid and r.grade is not None for r in site.user_comp_course.values())
                or any(c.userid == userid and c.timecompleted for c in site.course_completions.values()))

    def students(self, shortname: str) -> dict[int, str]:
        """Active student enrolments of the course: Moodle user id -> full name."""
        course_id = self.course(shortname)
        return {e.userid: self.site.users[e.userid].fullname
                for e in self.site.enrolled(course_id, onlyactive=True, roleid=ROLE_STUDENT)}

    def cell_states(self, userid: int, columns: list[str]) -> dict[str, str]:
        """The state each column's cell must show for this learner."""
        achieved, earned = self.achieved_units(userid), self.earned_templates(userid)
        otherwise = "in_progress" if self.has_evidence(userid) else "not_started"
        states = {}
        for code in columns:
            if code in self.mapping.templates:
                states[code] = (AWARD_CELL_STATE[self.mapping.issue_policy(code)] if code in earned else otherwise)
            else:
                states[code] = "achieved" if code in achieved else otherwise
        return states

    def matrix(self, shortname: str) -> dict[str, dict[str, str]]:
        """Learner full name -> column code -> state, for every active student of the course."""
        columns = self.mapping.course_columns(shortname)
        return {name: self.cell_states(userid, columns) for userid, name in self.students(shortname).items()}
