"""core_completion_get_course_completion_status, core_completion_get_activities_completion_status."""

from __future__ import annotations

from typing import Any

from credbridge.emulator.dataset import CRITERIA_TYPE_ACTIVITY, CRITERIA_TYPE_GRADE, Module, Site
from credbridge.emulator.errors import invalid_record, moodle_exception, no_criteria, not_enrolled
from credbridge.emulator.functions.course import RULE_TEXT
from credbridge.emulator.params import Value
from credbridge.emulator.ws import Call, ws_function


def _check_user(call: Call, courseid: int, userid: int, capability: str) -> None:
    if courseid not in call.site.courses:
        raise invalid_record("course")
    call.course_context(courseid)
    if userid not in call.site.users:
        raise invalid_record("user")
    if userid != call.principal.userid:
        call.require(capability)


def requirement_text(m: Module) -> str:
    parts = []
    if m.completionview:
        parts.append(f"Viewing the {m.modname}")
    if m.completionusegrade:
        parts.append("Achieving grade")
    if m.completionpassgrade:
        parts.append("Achieving passing grade")
    return ", ".join(parts)


def criterion_rows(site: Site, courseid: int, userid: int) -> list[dict[str, Any]]:
    rows = []
    course = site.courses[courseid]
    www = site.config.wwwroot
    for crit in course.criteria:
        done_at = site.criterion_completion(crit, userid)
        if crit.criteriatype == CRITERIA_TYPE_ACTIVITY:
            m = site.modules[crit.moduleinstance or 0]
            rows.append({"type": CRITERIA_TYPE_ACTIVITY, "title": "Activity completion",
                         "status": "Yes" if done_at else "No", "complete": done_at is not None,
                         "timecompleted": done_at,
                         "details": {"type": "Activity completion",
                                     "criteria": f'<a href="{www}/mod/{m.modname}/view.php?id={m.id}">{m.name}</a>',
                                     "requirement": requirement_text(m), "status": ""}})
        elif crit.criteriatype == CRITERIA_TYPE_GRADE:
            total = site.course_total(courseid, userid)
            required = f"{crit.gradepass or 0:.2f}"
            grade = f"{total:.2f}" if total is not None else "No grade"
            rows.append({"type": CRITERIA_TYPE_GRADE, "title": "Course grade",
                         "status": f"{grade} ({required} required)",
                         "complete": done_at is not None, "timecompleted": done_at,
                         "details": {"type": "Course grade", "criteria": "Required course grade",
                                     "requirement": required, "status": f"{total:.2f}" if total is not None else ""}})
    return rows


@ws_function("core_completion_get_course_completion_status", {"courseid": Value("int"), "userid": Value("int")})
def get_course_completion_status(call: Call) -> dict[str, Any]:
    courseid, userid = call.params["courseid"], call.params["userid"]
    _check_user(call, courseid, userid, "report/completion:view")
    site = call.site
    course = site.courses[courseid]
    if not course.enablecompletion:
        raise moodle_exception("completionnotenabled", "Completion is not enabled for this course")
    if not site.is_tracked(courseid, userid):
        raise not_enrolled()  # completion_info::is_tracked_user: an active enrolment only
    if not course.criteria:
        raise no_criteria()
    cc = site.course_completions.get((courseid, userid))
    return {"completionstatus": {"completed": bool(cc and cc.timecompleted is not None),
                                 "aggregation": course.completion_aggregation,
                                 "completions": criterion_rows(site, courseid, userid)},
            "warnings": []}


def is_overall_complete(rules: list[tuple[str, int]]) -> bool:
    for _name, status in rules:
        if status in (0, 3):
            return False
    return bool(rules)


@ws_function("core_completion_get_activities_completion_status", {"courseid": Value("int"),
                                                                  "userid": Value("int")})
def get_activities_completion_status(call: Call) -> dict[str, Any]:
    courseid, userid = call.params["courseid"], call.params["userid"]
    _check_user(call, courseid, userid, "report/progress:view")
    site = call.site
    tracked = site.is_enrolled(courseid, userid)
    statuses = []
    for m in site.course_modules(courseid):
        if not m.completion or not call.cm_visible(m):
            continue  # "Check if current user has visibility on this activity" (completion/classes/external.php)
        state, t = site.activity_state(m.id, userid)
        rules = site.rule_statuses(m, userid) if tracked else [(n, 0) for n, _ in site.rule_statuses(m, -1)]
        statuses.append({"cmid": m.id, "modname": m.modname, "instance": m.instance, "state": state,
                         "timecompleted": t, "tracking": m.completion, "overrideby": None, "valueused": False,
                         "hascompletion": True, "isautomatic": m.completion == 2, "istrackeduser": tracked,
                         "uservisible": True,
                         "details": [{"rulename": n, "rulevalue": {"status": s, "description": RULE_TEXT[n]}}
                                     for n, s in rules],
                         "isoverallcomplete": is_overall_complete(rules) if tracked else False})
    return {"statuses": statuses, "warnings": []}
