"""gradereport_user_get_grade_items, gradereport_user_get_grades_table, gradereport_overview_get_course_grades,
core_grades_get_gradeitems."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from credbridge.emulator.dataset import ROLE_STUDENT, GradeItem, Site
from credbridge.emulator.errors import invalid_record, moodle_exception
from credbridge.emulator.functions.render import num
from credbridge.emulator.params import Value
from credbridge.emulator.ws import Call, ws_function

CHECK_ICON = ('<i class="icon fa fa-check text-success fa-fw inline"  title="Pass" role="img" '
              'aria-label="Pass"></i>')
CROSS_ICON = ('<i class="icon fa fa-times text-danger fa-fw inline"  title="Fail" role="img" '
              'aria-label="Fail"></i>')
MOD_LABEL = {"assign": "Assignment", "quiz": "Quiz", "lti": "External tool", "page": "Page"}


def _range(gi: GradeItem) -> str:
    return f"{num(gi.grademin)}&ndash;{num(gi.grademax)}"


def grade_cell(gi: GradeItem, raw: float | None) -> str:
    if raw is None:
        return "-"
    text = f"{raw:.2f}"
    if gi.itemtype != "course" and gi.gradepass > 0:
        return (CHECK_ICON if raw >= gi.gradepass else CROSS_ICON) + text
    return text


def percentage(gi: GradeItem, raw: float | None) -> str:
    if raw is None or gi.grademax == gi.grademin:
        return "-"
    return f"{(raw - gi.grademin) / (gi.grademax - gi.grademin) * 100:.2f} %"


def user_items(site: Site, courseid: int, userid: int,
               shown: Callable[[GradeItem], bool] = lambda _gi: True) -> list[dict[str, Any]]:
    """The gradeitems array of one user (natural aggregation weights, as grade_report_user exports).

    Items ``shown`` refuses are left out, and only them: totals and weights stay those of the whole
    gradebook (recorded: capabilities/readme-role/gradereport_user_get_grade_items.json)."""
    items = site.course_grade_items(courseid)
    course_item = next(gi for gi in items if gi.itemtype == "course")
    course_grade = site.grades.get((course_item.id, userid))
    aggregated = course_grade is not None and course_grade.rawgrade is not None
    graded_max = sum(gi.grademax for gi in items if gi.itemtype != "course" and gi.in_total
                     and (g := site.grades.get((gi.id, userid))) is not None and g.rawgrade is not None)
    rows = []
    for gi in items:
        if not shown(gi):
            continue
        g = site.grades.get((gi.id, userid))
        raw = g.rawgrade if g is not None else None
        if gi.itemtype == "course" and aggregated:
            # Natural aggregation: the course total's range only counts items that have a grade.
            gi = GradeItem(**{**{f: getattr(gi, f) for f in gi.__dataclass_fields__}, "grademax": graded_max})
        row: dict[str, Any] = {"id": gi.id, "itemname": gi.itemname, "itemtype": gi.itemtype,
                               "itemmodule": gi.itemmodule, "iteminstance": gi.iteminstance,
                               "itemnumber": gi.itemnumber, "idnumber": gi.idnumber,
                               "categoryid": gi.categoryid if gi.itemtype != "course" else None,
                               "outcomeid": None, "scaleid": None, "locked": False}
        if gi.cmid is not None:
            row["cmid"] = gi.cmid
        if aggregated and gi.itemtype != "course":
            counted = raw is not None and gi.in_total
            weight = round(gi.grademax / graded_max, 5) if counted and graded_max else 0
            row["weightraw"] = num(weight)
            row["weightformatted"] = f"{weight * 100:.2f} %"
            if not counted:
                row["status"] = "novalue"
        row.update({
            "graderaw": num(raw) if raw is not None else None,
            "gradedatesubmitted": g.datesubmitted if g is not None else None,
            "gradedategraded": g.dategraded if g is not None and raw is not None else None,
            "gradehiddenbydate": False, "gradeneedsupdate": False, "gradeishidden": False, "gradeislocked": False,
            "gradeisoverridden": False, "gradeformatted": grade_cell(gi, raw), "grademin": num(gi.grademin),
            "grademax": num(gi.grademax), "rangeformatted": _range(gi), "percentageformatted": percentage(gi, raw),
            "feedback": g.feedback if g is not None else "",
            "feedbackformat": (g.feedbackformat if g is not None and raw is not None else 2) if aggregated else 0,
        })
        rows.append(row)
    return rows


def _report_users(call: Call, courseid: int, userid: int) -> list[int]:
    site = call.site
    if courseid not in site.courses:
        raise invalid_record("course")
    call.course_context(courseid)
    if userid and userid not in site.users:
        raise invalid_record("user")
    if userid != call.principal.userid:
        call.require("gradereport/user:view")
        call.require("moodle/grade:viewall")
    if userid:
        if not site.is_enrolled(courseid, userid):
            raise moodle_exception("notenrolled", f"{site.users[userid].fullname} is not enrolled in this course")
        return [userid]  # one user: whatever the state of their enrolment
    # All users: active enrolments only, unless the caller holds moodle/course:viewsuspendedusers and
    # "show only active enrolments" is off (grade_report_showonlyactiveenrol, on by default).
    onlyactive = site.config.grade_report_showonlyactiveenrol \
        or not call.principal.can("moodle/course:viewsuspendedusers")
    return [e.userid for e in site.enrolled(courseid, onlyactive=onlyactive) if e.roleid == ROLE_STUDENT]


def visible_item(call: Call) -> Callable[[GradeItem], bool]:
    """grade_report_user hides an activity's item when the activity is not visible to the viewer."""
    def shown(gi: GradeItem) -> bool:
        if gi.itemtype != "mod" or gi.cmid is None or gi.cmid not in call.site.modules:
            return True
        return call.cm_visible(call.site.modules[gi.cmid])

    return shown


@ws_function("gradereport_user_get_grade_items", {"courseid": Value("int"), "userid": Value("int", default=0),
                                                  "groupid": Value("int", default=0)})
def get_grade_items(call: Call) -> dict[str, Any]:
    site = call.site
    courseid = call.params["courseid"]
    users = _report_users(call, courseid, call.params["userid"])
    course = site.courses[courseid]
    out = []
    for uid in users:
        user = site.users[uid]
        out.append({"courseid": courseid, "courseidnumber": course.idnumber, "userid": uid,
                    "userfullname": user.fullname, "useridnumber": user.idnumber, "maxdepth": 2,
                    "gradeitems": user_items(site, courseid, uid, visible_item(call))})
    return {"usergrades": out, "warnings": []}


def _cell(cls: str, content: str, headers: str) -> dict[str, Any]:
    return {"class": cls, "content": content, "headers": headers}


@ws_function("gradereport_user_get_grades_table", {"courseid": Value("int"), "userid": Value("int", default=0),
                                                   "groupid": Value("int", default=0)})
def get_grades_table(call: Call) -> dict[str, Any]:
    site = call.site
    courseid = call.params["courseid"]
    users = _report_users(call, courseid, call.params["userid"])
    course = site.courses[courseid]
    www = site.config.wwwroot
    tables = []
    for uid in users:
        items = user_items(site, courseid, uid, visible_item(call))
        gis = {gi.id: gi for gi in site.course_grade_items(courseid)}
        catid = next((it["categoryid"] for it in items if it["categoryid"]), 1)
        cat = f"cat_{catid}_{uid}"
        data: list[dict[str, Any]] = [
            {"itemname": {"class": "level1 d1 b1b b1t category column-itemname", "colspan": 8,
                          "content": f'<div class="d-flex category-content"><span>{course.fullname}</span></div>',
                          "id": cat}, "parentcategories": []},
            {"leader": {"class": "level1 d1 b1t b2b b1l", "rowspan": len(items) + 1}, "parentcategories": [catid]},
        ]
        course_max = next(it["grademax"] for it in items if it["itemtype"] == "course")
        for it in items:
            gi = gis[it["id"]]
            row_id = f"row_{gi.id}_{uid}"
            level = "level1 d1 baggt b2b" if gi.itemtype == "course" else "level2 item b1b"
            if gi.itemtype == "course":
                title = '<span class="gradeitemheader " title="Course total" tabindex="0">Course total</span>'
            elif gi.cmid:
                label = MOD_LABEL.get(gi.itemmodule or "", gi.itemmodule or "")
                title = (f'<a title="{label} activity {gi.itemname}" class="gradeitemheader " '
                         f'href="{www}/mod/{gi.itemmodule}/view.php?id={gi.cmid}">{gi.itemname}</a>')
            else:
                title = f'<span class="gradeitemheader " title="{gi.itemname}" tabindex="0">{gi.itemname}</span>'
            raw = it["graderaw"]
            # Contribution to the course total: this item's grade as a share of the total's range.
            contribution = "-" if gi.itemtype == "course" or raw is None or not course_max \
                else f"{raw / course_max * 100:.2f} %"
            data.append({
                "itemname": {"class": f"{level} column-itemname", "colspan": 1,
                             "content": f'<div class="item d-flex align-items-center"><div class="rowtitle">'
                                        f"{title}</div></div>", "id": row_id},
                "weight": _cell(f"{level} itemcenter  column-weight", it.get("weightformatted", "-"),
                                f"{cat} {row_id} weight{uid}"),
                "grade": _cell(f"{level} itemcenter   column-grade", it["gradeformatted"],
                               f"{cat} {row_id} grade{uid}"),
                "range": _cell(f"{level} itemcenter  column-range", it["rangeformatted"],
                               f"{cat} {row_id} range{uid}"),
                "percentage": _cell(f"{level} itemcenter  column-percentage", it["percentageformatted"],
                                    f"{cat} {row_id} percentage{uid}"),
                "feedback": _cell(f"{level} feedbacktext column-feedback", it["feedback"] or "&nbsp;",
                                  f"{cat} {row_id} feedback{uid}"),
                "contributiontocoursetotal": _cell(f"{level} itemcenter  column-contributiontocoursetotal",
                                                   contribution, f"{cat} {row_id} contributiontocoursetotal{uid}"),
                "parentcategories": [catid]})
        tables.append({"courseid": courseid, "userid": uid, "userfullname": site.users[uid].fullname,
                       "maxdepth": 2, "tabledata": data})
    return {"tables": tables, "warnings": []}


@ws_function("gradereport_overview_get_course_grades", {"userid": Value("int", default=0)})
def get_course_grades(call: Call) -> dict[str, Any]:
    site = call.site
    userid = call.params["userid"] or call.principal.userid
    if userid not in site.users:
        raise invalid_record("user")
    if userid != call.principal.userid:
        call.require("moodle/grade:viewall")
    out = []
    for cid in site.user_courses(userid):
        e = site.enrolments[(cid, userid)]
        if e.roleid != ROLE_STUDENT:
            continue
        total = site.course_total(cid, userid)
        out.append({"courseid": cid, "grade": f"{total:.2f}" if total is not None else "-",
                    "rawgrade": f"{total:.5f}" if total is not None else None})
    return {"grades": out, "warnings": []}


@ws_function("core_grades_get_gradeitems", {"courseid": Value("int")})
def get_gradeitems(call: Call) -> dict[str, Any]:
    site = call.site
    courseid = call.params["courseid"]
    if courseid not in site.courses:
        raise invalid_record("course")
    call.course_context(courseid)
    items = [gi for gi in site.course_grade_items(courseid) if gi.itemtype != "course"]
    items.sort(key=lambda gi: str(gi.id))  # Moodle returns them keyed and ordered by id as a string
    fullname = site.courses[courseid].fullname
    return {"gradeItems": [{"id": str(gi.id), "itemname": gi.itemname, "category": fullname} for gi in items],
            "warnings": []}
