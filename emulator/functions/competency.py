"""core_competency_*, tool_lp_data_for_*, report_competency_data_for_report."""

from __future__ import annotations

import base64
import time
from typing import Any

from credbridge.emulator.dataset import Course, Site, UserCompetencyCourse
from credbridge.emulator.errors import invalid_parameter, invalid_record, not_enrolled
from credbridge.emulator.functions.render import competency_record, comppath, framework_record, user_summary
from credbridge.emulator.params import Multiple, Single, Value
from credbridge.emulator.ws import Call, ws_function

RULE_OUTCOMES = ((0, "Do nothing"), (1, "Attach evidence"), (2, "Send for review"), (3, "Complete the competency"))


def _framework(call: Call, fid: int):
    fw = call.site.frameworks.get(fid)
    if fw is None:
        raise invalid_record("competency_framework")
    call.require("moodle/competency:competencyview")
    return fw


def _competency(call: Call, cid: int):
    comp = call.site.competencies.get(cid)
    if comp is None:
        raise invalid_record("competency")
    return comp


@ws_function("core_competency_list_competency_frameworks", {
    "sort": Value("alpha", default=""), "order": Value("alpha", default=""), "skip": Value("int", default=0),
    "limit": Value("int", default=0),
    "context": Single({"contextid": Value("int", default=0), "contextlevel": Value("alpha", default=""),
                       "instanceid": Value("int", default=0)}),
    "includes": Value("alpha", default="children"), "onlyvisible": Value("bool", default=False),
    "query": Value("raw", default="")})
def list_frameworks(call: Call) -> list[dict[str, Any]]:
    call.require("moodle/competency:competencyview")
    p = call.params
    sort = p["sort"] or "shortname"
    if sort not in ("shortname", "idnumber", "id", "sortorder"):
        raise invalid_parameter("sort: invalid sort column")
    fws = sorted(call.site.frameworks.values(), key=lambda f: getattr(f, sort if sort != "sortorder" else "id"),
                 reverse=p["order"].upper() == "DESC")
    if p["query"]:
        fws = [f for f in fws if p["query"].lower() in (f.shortname + f.idnumber).lower()]
    fws = fws[p["skip"]:]
    if p["limit"]:
        fws = fws[:p["limit"]]
    return [framework_record(call.site, f) for f in fws]


@ws_function("core_competency_read_competency_framework", {"id": Value("int")})
def read_framework(call: Call) -> dict[str, Any]:
    return framework_record(call.site, _framework(call, call.params["id"]))


@ws_function("core_competency_list_competencies", {
    "filters": Multiple(Single({"column": Value("alpha"), "value": Value("raw")})),
    "sort": Value("alpha", default=""), "order": Value("alpha", default=""), "skip": Value("int", default=0),
    "limit": Value("int", default=0)})
def list_competencies(call: Call) -> list[dict[str, Any]]:
    call.require("moodle/competency:competencyview")
    comps = sorted(call.site.competencies.values(), key=lambda c: c.id)
    columns = {"competencyframeworkid": "frameworkid", "id": "id", "idnumber": "idnumber",
               "shortname": "shortname", "parentid": None}
    for f in call.params["filters"]:
        if f["column"] not in columns:
            raise invalid_parameter(f"filters: unknown column {f['column']}")
        attr = columns[f["column"]]
        comps = [c for c in comps if (str(getattr(c, attr)) if attr else "0") == f["value"]]
    comps = comps[call.params["skip"]:]
    if call.params["limit"]:
        comps = comps[:call.params["limit"]]
    return [competency_record(call.site, c) for c in comps]


@ws_function("core_competency_read_competency", {"id": Value("int")})
def read_competency(call: Call) -> dict[str, Any]:
    call.require("moodle/competency:competencyview")
    return competency_record(call.site, _competency(call, call.params["id"]))


def _course_links(site: Site, courseid: int):
    return sorted((cc for cc in site.course_competencies.values() if cc.courseid == courseid),
                  key=lambda cc: cc.sortorder)


def _cc_record(site: Site, cc) -> dict[str, Any]:
    return {"courseid": cc.courseid, "competencyid": cc.competencyid, "sortorder": cc.sortorder,
            "ruleoutcome": cc.ruleoutcome, "id": cc.id, "timecreated": cc.timecreated,
            "timemodified": cc.timemodified, "usermodified": site.config.admin_userid}


@ws_function("core_competency_list_course_competencies", {"id": Value("int")})
def list_course_competencies(call: Call) -> list[dict[str, Any]]:
    courseid = call.params["id"]
    call.course_context(courseid)
    call.require("moodle/competency:coursecompetencyview")
    site = call.site
    return [{"competency": competency_record(site, site.competencies[cc.competencyid]),
             "coursecompetency": _cc_record(site, cc)} for cc in _course_links(site, courseid)]


@ws_function("core_competency_list_course_module_competencies", {"cmid": Value("int")})
def list_module_competencies(call: Call) -> list[dict[str, Any]]:
    site = call.site
    m = site.modules.get(call.params["cmid"])
    if m is None:
        raise invalid_record("course_modules")
    call.module_context(m)
    call.require("moodle/competency:coursecompetencyview")
    links = sorted((mc for mc in site.module_competencies.values() if mc.cmid == m.id), key=lambda mc: mc.sortorder)
    return [{"competency": competency_record(site, site.competencies[mc.competencyid]),
             "coursemodulecompetency": {"cmid": mc.cmid, "competencyid": mc.competencyid, "sortorder": mc.sortorder,
                                        "ruleoutcome": mc.ruleoutcome, "overridegrade": False, "id": mc.id,
                                        "timecreated": mc.timecreated, "timemodified": mc.timemodified,
                                        "usermodified": site.config.admin_userid}} for mc in links]


def course_svg(course: Course) -> str:
    """Moodle's generated course pattern image as a data URI (only the colour is course-specific)."""
    hue = (course.id * 47) % 360
    svg = (f'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="320" height="320">'
           f'<rect x="0" y="0" width="100%" height="100%" fill="hsl({hue}, 60%, 70%)" /></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def course_summary(site: Site, course: Course) -> dict[str, Any]:
    category = site.categories.get(course.categoryid)
    return {"id": course.id, "fullname": course.fullname, "shortname": course.shortname, "idnumber": course.idnumber,
            "summary": course.summary, "summaryformat": 1, "startdate": course.startdate, "enddate": course.enddate,
            "visible": bool(course.visible), "showactivitydates": False, "showcompletionconditions": True,
            "pdfexportfont": "", "fullnamedisplay": course.fullname,
            "viewurl": f"{site.config.wwwroot}/course/view.php?id={course.id}", "courseimage": course_svg(course),
            "progress": 0, "hasprogress": False, "isfavourite": False, "hidden": False, "showshortname": False,
            "coursecategory": category.name if category else ""}


def competency_detail(site: Site, comp) -> dict[str, Any]:
    """tool_lp competency_summary_exporter."""
    fw = site.frameworks[comp.frameworkid]
    base = framework_record(site, fw)
    return {"linkedcourses": [], "relatedcompetencies": [], "competency": competency_record(site, comp),
            "framework": base, "hascourses": False, "hasrelatedcompetencies": False, "scaleid": fw.scaleid,
            "scaleconfiguration": base["scaleconfiguration"], "taxonomyterm": "Competency",
            "comppath": comppath(site, fw), "pluginbaseurl": f"{site.config.wwwroot}/admin/tool/lp"}


def ucc_record(site: Site, ucc: UserCompetencyCourse | None, userid: int, courseid: int, compid: int) -> dict[str, Any]:
    fw = site.frameworks[site.competencies[compid].frameworkid]
    if ucc is None:
        return {"userid": userid, "courseid": courseid, "competencyid": compid, "proficiency": None, "grade": None,
                "id": 0, "timecreated": 0, "timemodified": 0, "usermodified": 0, "gradename": "-",
                "proficiencyname": "-"}
    return {"userid": ucc.userid, "courseid": ucc.courseid, "competencyid": ucc.competencyid,
            "proficiency": ucc.proficiency, "grade": ucc.grade, "id": ucc.id, "timecreated": ucc.timecreated,
            "timemodified": ucc.timemodified, "usermodified": ucc.usermodified,
            "gradename": fw.scale.get(ucc.grade, "-") if ucc.grade is not None else "-",
            "proficiencyname": "-" if ucc.proficiency is None else ("Yes" if ucc.proficiency else "No")}


def userdate(ts: int) -> str:
    t = time.gmtime(ts)
    hour = t.tm_hour % 12 or 12
    return time.strftime(f"%A, {t.tm_mday} %B %Y, {hour}:%M ", t) + ("AM" if t.tm_hour < 12 else "PM")


def evidence(site: Site, ucc: UserCompetencyCourse, course: Course) -> list[dict[str, Any]]:
    fw = site.frameworks[site.competencies[ucc.competencyid].frameworkid]
    rows = []
    cc = site.course_completions.get((course.id, ucc.userid))
    done = (cc.aggregated_at or cc.timecompleted) if cc is not None else None
    if done:
        rows.append({"usercompetencyid": ucc.id, "contextid": course.contextid, "action": 0, "actionuserid": None,
                     "descidentifier": "evidence_coursecompleted", "desccomponent": "core_competency",
                     "desca": f'"{course.shortname}"',
                     "url": f"{site.config.wwwroot}/report/completion/index.php?course={course.id}", "grade": None,
                     "note": None, "id": 10_000 + ucc.id, "timecreated": done, "timemodified": done,
                     "usermodified": site.config.admin_userid,
                     "description": f"The course '{course.shortname}' was completed.", "gradename": "-",
                     "userdate": userdate(done), "candelete": False})
    if ucc.grade is not None:
        rater = site.users.get(ucc.usermodified)
        row = {"usercompetencyid": ucc.id, "contextid": course.contextid, "action": 3,
               "actionuserid": ucc.usermodified, "descidentifier": "evidence_manualoverrideincourse",
               "desccomponent": "core_competency", "desca": f'"Course: {course.fullname}"', "url": None,
               "grade": ucc.grade, "note": ucc.note or ("Demonstrated in the workshop assessment."
                                                         if ucc.proficiency else ""),
               "id": ucc.id, "timecreated": ucc.timemodified, "timemodified": ucc.timemodified,
               "usermodified": ucc.usermodified}
        if rater is not None:
            row["actionuser"] = user_summary(site, rater)
        row.update({"description": "The competency rating was manually set in the course "
                                   f"'Course: {course.fullname}'.",
                    "gradename": fw.scale.get(ucc.grade, "-"), "userdate": userdate(ucc.timemodified),
                    "candelete": False})
        rows.append(row)
    rows.sort(key=lambda r: -r["timecreated"])
    return rows


@ws_function("tool_lp_data_for_user_competency_summary_in_course", {
    "userid": Value("int"), "competencyid": Value("int"), "courseid": Value("int")})
def user_competency_summary_in_course(call: Call) -> dict[str, Any]:
    site = call.site
    p = call.params
    call.course_context(p["courseid"])
    if p["userid"] not in site.users:
        raise invalid_record("user")
    comp = _competency(call, p["competencyid"])
    if p["userid"] != call.principal.userid:
        call.require("moodle/competency:usercompetencyview")
    if not site.is_enrolled(p["courseid"], p["userid"]):
        raise not_enrolled()
    if not any(cc.competencyid == comp.id for cc in _course_links(site, p["courseid"])):
        raise invalid_record("competency_coursecomp")
    course = site.courses[p["courseid"]]
    ucc = site.user_comp_course.get((p["userid"], course.id, comp.id))
    if ucc is None:
        # Moodle creates the user_competency_course row on first read (grade/proficiency null).
        now = site.clock.now()
        ucc = UserCompetencyCourse(id=site.next_id("competency_usercompcourse"), userid=p["userid"],
                                   courseid=course.id, competencyid=comp.id, grade=None, proficiency=None,
                                   timecreated=now, timemodified=now, usermodified=call.principal.userid)
        site.user_comp_course[(p["userid"], course.id, comp.id)] = ucc
    return {"usercompetencysummary": {
        "showrelatedcompetencies": True, "cangrade": False, "competency": competency_detail(site, comp),
        "user": user_summary(site, site.users[p["userid"]]),
        "usercompetencycourse": ucc_record(site, ucc, p["userid"], course.id, comp.id),
        "evidence": evidence(site, ucc, course)},
        "course": course_summary(site, course), "coursemodules": [], "plans": [],
        "pluginbaseurl": f"{site.config.wwwroot}/admin/tool/lp"}


@ws_function("tool_lp_data_for_course_competencies_page", {"courseid": Value("int"),
                                                           "moduleid": Value("int", default=0)})
def course_competencies_page(call: Call) -> dict[str, Any]:
    site = call.site
    courseid = call.params["courseid"]
    call.course_context(courseid)
    call.require("moodle/competency:coursecompetencyview")
    course = site.courses[courseid]
    links = _course_links(site, courseid)
    proficient_counts = {cc.competencyid: sum(1 for (u, c, comp), ucc in site.user_comp_course.items()
                                              if c == courseid and comp == cc.competencyid and ucc.proficiency)
                         for cc in links}
    me = call.principal.userid
    mine = sum(1 for cc in links if (u := site.user_comp_course.get((me, courseid, cc.competencyid))) and u.proficiency)
    least = sorted(links, key=lambda cc: (proficient_counts[cc.competencyid], cc.sortorder))[:3]
    pct = (mine / len(links) * 100) if links else 0
    comps = []
    for cc in links:
        modules = [site.modules[mc.cmid] for mc in site.module_competencies.values()
                   if mc.competencyid == cc.competencyid and mc.cmid in site.modules
                   and site.modules[mc.cmid].course == courseid]
        fw = site.frameworks[site.competencies[cc.competencyid].frameworkid]
        comps.append({
            "competency": competency_record(site, site.competencies[cc.competencyid]),
            "coursecompetency": _cc_record(site, cc),
            "coursemodules": [{"id": m.id, "name": m.name,
                               "url": f"{site.config.wwwroot}/mod/{m.modname}/view.php?id={m.id}"} for m in modules],
            "ruleoutcomeoptions": [{"value": v, "text": t, "selected": v == cc.ruleoutcome} for v, t in RULE_OUTCOMES],
            "comppath": comppath(site, fw), "plans": []})
    return {"courseid": courseid, "pagecontextid": course.contextid, "canmanagecompetencyframeworks": False,
            "canmanagecoursecompetencies": False, "canconfigurecoursecompetencies": False,
            "cangradecompetencies": False,
            "settings": {"courseid": courseid, "pushratingstouserplans": True, "id": 0, "timecreated": 0,
                         "timemodified": 0, "usermodified": 0},
            "statistics": {"competencycount": len(links), "proficientcompetencycount": mine,
                           "proficientcompetencypercentage": int(pct) if float(pct).is_integer() else pct,
                           "proficientcompetencypercentageformatted": f"{pct:.1f}",
                           "leastproficient": [competency_record(site, site.competencies[cc.competencyid])
                                               for cc in least],
                           "leastproficientcount": len(least), "canbegradedincourse": False,
                           "canmanagecoursecompetencies": False},
            "competencies": comps, "manageurl": None, "pluginbaseurl": f"{site.config.wwwroot}/admin/tool/lp"}


@ws_function("report_competency_data_for_report", {"courseid": Value("int"), "userid": Value("int", default=0),
                                                   "moduleid": Value("int", default=0)})
def data_for_report(call: Call) -> dict[str, Any]:
    site = call.site
    courseid = call.params["courseid"]
    call.course_context(courseid)
    userid = call.params["userid"] or call.principal.userid
    if userid not in site.users:
        raise invalid_record("user")
    if userid != call.principal.userid:
        call.require("moodle/competency:usercompetencyview")
    course = site.courses[courseid]
    rows = []
    for cc in _course_links(site, courseid):
        comp = site.competencies[cc.competencyid]
        ucc = site.user_comp_course.get((userid, courseid, comp.id))
        rows.append({"usercompetencycourse": ucc_record(site, ucc, userid, courseid, comp.id),
                     "competency": competency_detail(site, comp)})
    return {"courseid": courseid, "user": user_summary(site, site.users[userid]),
            "course": course_summary(site, course), "usercompetencies": rows, "pushratingstouserplans": True}
