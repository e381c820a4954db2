"""core_course_*: courses, categories, contents, course module, updates since."""

from __future__ import annotations

import json
from typing import Any

from credbridge.emulator.dataset import Course, Module, Site
from credbridge.emulator.errors import criteria_error, invalid_parameter, invalid_record
from credbridge.emulator.functions.render import course_image
from credbridge.emulator.params import Multiple, Single, Value
from credbridge.emulator.ws import Call, ws_function

MODULE_IDS = {"assign": 1, "lti": 15, "page": 16, "quiz": 17}
PURPOSE = {"page": "content", "assign": "assessment", "quiz": "assessment", "lti": "other"}
PLURAL = {"page": "Pages", "assign": "Assignments", "quiz": "Quizzes", "lti": "External tools"}
RULE_TEXT = {"completionview": "View", "completionsubmit": "Make a submission",
             "completionusegrade": "Receive a grade", "completionpassgrade": "Receive a passing grade"}
FILTERS = ("displayh5p", "activitynames", "mathjaxloader", "emoticon", "urltolink", "mediaplugin")


def visible_courses(call: Call) -> list[Course]:
    courses = sorted(call.site.courses.values(), key=lambda c: c.id)
    if not call.principal.can("moodle/course:viewhiddencourses"):
        courses = [c for c in courses if c.visible]
    return courses


def course_basic(site: Site, c: Course, full: bool = False) -> dict[str, Any]:
    """core_course_get_courses row; `full` = the caller has moodle/course:update (all settings)."""
    site_course = c.format == "site"
    category = site.categories.get(c.categoryid)
    row: dict[str, Any] = {"id": c.id, "shortname": c.shortname, "categoryid": c.categoryid}
    if full:
        row["categorysortorder"] = category.sortorder + (c.sortorder % 10000) if category else 1
    row.update(fullname=c.fullname, displayname=c.fullname)
    if full:
        row["idnumber"] = c.idnumber
    row.update(summary=c.summary, summaryformat=1, format=c.format)
    if full:
        row.update(showgrades=1, newsitems=3 if site_course else 0)
    row.update(startdate=c.startdate, enddate=c.enddate)
    nsections = max(len(c.sections) - 1, 0) if not site_course else 1
    if full:
        row.update(numsections=nsections, maxbytes=0, showreports=0, visible=c.visible)
        if not site_course:
            row["hiddensections"] = 1
        row.update(groupmode=0, groupmodeforce=0, defaultgroupingid=0, timecreated=c.timecreated,
                   timemodified=c.timemodified, enablecompletion=c.enablecompletion, completionnotify=0, lang="",
                   forcetheme="",
                   courseformatoptions=[{"name": "numsections", "value": 1}] if site_course else
                   [{"name": "hiddensections", "value": 1}, {"name": "coursedisplay", "value": 0}])
    elif site_course:
        row["numsections"] = 1
    row.update(showactivitydates=False, showcompletionconditions=None if site_course else True)
    return row


@ws_function("core_course_get_courses", {"options": Single({"ids": Multiple(Value("int"), default=[])},
                                                           default={"ids": []})})
def get_courses(call: Call) -> list[dict[str, Any]]:
    ids = call.params["options"]["ids"]
    if ids:
        missing = [i for i in ids if i not in call.site.courses]
        if missing:
            raise invalid_record("course")
        courses = [call.site.courses[i] for i in ids]
    else:
        courses = visible_courses(call)
    return [course_basic(call.site, c, call.principal.can("moodle/course:update")) for c in courses]


def course_full(site: Site, c: Course, full: bool = False) -> dict[str, Any]:
    """core_course_get_courses_by_field row (course_summary_exporter + course settings)."""
    category = site.categories.get(c.categoryid)
    return {
        "id": c.id, "fullname": c.fullname, "displayname": c.fullname, "shortname": c.shortname,
        "courseimage": course_image(site, c), "categoryid": c.categoryid,
        "categoryname": category.name if category else "", "sortorder": c.sortorder, "summary": c.summary,
        "summaryformat": 1, "summaryfiles": [], "overviewfiles": [], "showactivitydates": False,
        "showcompletionconditions": True,
        "contacts": [{"id": uid, "fullname": site.users[uid].fullname} for uid in c.contacts if uid in site.users],
        "enrollmentmethods": ["manual"],
        **({"idnumber": c.idnumber} if full else {}),
        "format": c.format, "showgrades": 1,
        "newsitems": 0, "startdate": c.startdate, "enddate": c.enddate, "maxbytes": 0, "showreports": 0,
        "visible": c.visible, "groupmode": 0, "groupmodeforce": 0, "defaultgroupingid": 0,
        "enablecompletion": c.enablecompletion, "completionnotify": 0, "lang": "", "theme": "", "marker": 0,
        **({"legacyfiles": 0, "calendartype": "", "timecreated": c.timecreated, "timemodified": c.timemodified,
            "requested": 0, "cacherev": max(c.timemodified, c.timecreated)} if full else {}),
        "filters": [{"filter": f, "localstate": 0, "inheritedstate": 1} for f in FILTERS],
        "courseformatoptions": [{"name": "hiddensections", "value": 1}, {"name": "coursedisplay", "value": 0},
                                {"name": "indentation", "value": "1"}],
    }


@ws_function("core_course_get_courses_by_field", {"field": Value("alpha", default=""),
                                                  "value": Value("raw", default="")})
def get_courses_by_field(call: Call) -> dict[str, Any]:
    field, value = call.params["field"], call.params["value"]
    site = call.site
    courses = [c for c in visible_courses(call) if c.format != "site"]
    if field == "":
        selected = courses
    elif field == "id":
        selected = [c for c in courses if str(c.id) == value.strip()]
    elif field == "ids":
        wanted = {v.strip() for v in value.split(",") if v.strip()}
        if not all(v.isdigit() for v in wanted):
            raise invalid_parameter("Invalid parameter value detected: ids must be a comma-separated list of ints")
        selected = [c for c in courses if str(c.id) in wanted]
    elif field == "shortname":
        selected = [c for c in courses if c.shortname == value]
    elif field == "idnumber":
        selected = [c for c in courses if c.idnumber == value]
    elif field == "category":
        selected = [c for c in courses if str(c.categoryid) == value.strip()]
    else:
        raise invalid_parameter("Invalid field name")
    # idnumber / timemodified and the other course settings are only exported to users with
    # moodle/course:update (recorded: variant-with-course-update/); the read-only role does not see them.
    full = call.principal.can("moodle/course:update")
    return {"courses": [course_full(site, c, full) for c in selected], "warnings": []}


def category_row(site: Site, cat: Any) -> dict[str, Any]:
    return {"id": cat.id, "name": cat.name, "idnumber": cat.idnumber, "description": cat.description,
            "descriptionformat": 1, "parent": cat.parent, "sortorder": cat.sortorder,
            "coursecount": sum(1 for c in site.courses.values() if c.categoryid == cat.id), "depth": cat.depth,
            "path": cat.path}


@ws_function("core_course_get_categories", {
    "criteria": Multiple(Single({"key": Value("alpha"), "value": Value("raw")}), default=[]),
    "addsubcategories": Value("bool", default=True)})
def get_categories(call: Call) -> list[dict[str, Any]]:
    site = call.site
    cats = sorted(site.categories.values(), key=lambda c: c.sortorder)
    for crit in call.params["criteria"]:
        key, value = crit["key"], crit["value"]
        if key in ("idnumber", "visible", "theme") and not call.principal.can("moodle/category:manage"):
            raise criteria_error()
        if key == "id":
            cats = [c for c in cats if str(c.id) == value.strip()]
        elif key == "ids":
            wanted = {v.strip() for v in value.split(",")}
            cats = [c for c in cats if str(c.id) in wanted]
        elif key == "name":
            cats = [c for c in cats if c.name == value]
        elif key == "parent":
            cats = [c for c in cats if str(c.parent) == value.strip()]
        elif key == "idnumber":
            cats = [c for c in cats if c.idnumber == value]
        else:
            raise invalid_parameter(f"criteria key {key!r} is not supported")
    rows = []
    for cat in cats:
        row = category_row(site, cat)
        if not call.principal.can("moodle/category:manage"):
            row.pop("idnumber")  # Moodle hides category idnumber from non-managers
        rows.append(row)
    return rows


def completion_details(site: Site, m: Module, userid: int, tracked: bool) -> list[dict[str, Any]]:
    rules = site.rule_statuses(m, userid) if tracked else [(name, 0) for name, _ in site.rule_statuses(m, -1)]
    return [{"rulename": name, "rulevalue": {"status": status, "description": RULE_TEXT[name]}}
            for name, status in rules]


def customdata(m: Module) -> str:
    if m.modname == "assign":
        dates = {"duedate": m.settings["duedate"]} if m.settings.get("duedate") else {}
        if m.settings.get("allowsubmissionsfromdate"):
            dates["allowsubmissionsfromdate"] = str(m.settings["allowsubmissionsfromdate"])
        return json.dumps({"customcompletionrules": {"completionsubmit": "1"} if m.completionsubmit else {},
                           **dates}, separators=(",", ":"))
    if m.modname == "quiz":
        return '{"customcompletionrules":{"completionpassorattemptsexhausted":[],"completionminattempts":"0"}}'
    return '""'


def module_row(call: Call, m: Module, include_contents: bool) -> dict[str, Any]:
    site, www = call.site, call.www
    tracked = site.is_enrolled(m.course, call.principal.userid)
    state, t = site.activity_state(m.id, call.principal.userid) if tracked else (0, 0)
    row: dict[str, Any] = {
        "id": m.id, "url": f"{www}/mod/{m.modname}/view.php?id={m.id}", "name": m.name, "instance": m.instance,
        "contextid": m.contextid, "visible": m.visible, "uservisible": True, "visibleoncoursepage": 1,
        "modicon": f"{www}/theme/image.php/boost/{m.modname}/{site.config.theme_rev}/monologo?filtericon=1",
        "modname": m.modname, "purpose": PURPOSE.get(m.modname, "other"), "branded": False,
        "modplural": PLURAL.get(m.modname, m.modname.title() + "s"),
        # the availability conditions only for who may see hidden activities or edit the course
        **({"availability": None} if call.principal.can("moodle/course:viewhiddenactivities")
           or call.principal.can("moodle/course:update") else {}),
        "indent": 0, "onclick": "", "afterlink": None, "customdata": customdata(m), "noviewlink": False,
        "completion": m.completion,
        "completiondata": {"state": state, "timecompleted": t, "overrideby": None, "valueused": False,
                           "hascompletion": True, "isautomatic": True, "istrackeduser": tracked,
                           "uservisible": True, "details": completion_details(site, m, call.principal.userid, tracked),
                           "isoverallcomplete": state in (1, 2)},
        "downloadcontent": 1,
        "dates": [] if m.modname != "assign" else [
            {"label": label, "timestamp": m.settings[key], "dataid": key}
            for label, key in (("Opened:", "allowsubmissionsfromdate"), ("Due:", "duedate")) if m.settings.get(key)],
        "groupmode": 0,
    }
    if m.modname == "page":
        row["contents"] = [] if not include_contents else [{
            "type": "file", "filename": "index.html", "filepath": "/", "filesize": 0,
                            "fileurl": f"{www}/webservice/pluginfile.php/{m.contextid}/mod_page/content/index.html"
                                       "?forcedownload=1",
                            "timecreated": None, "timemodified": m.timemodified, "sortorder": 1, "userid": None,
                            "author": None, "license": None}]
        row["contentsinfo"] = {"filescount": 1, "filessize": 0, "lastmodified": m.timemodified, "mimetypes": [],
                               "repositorytype": ""}
    return row


@ws_function("core_course_get_contents", {
    "courseid": Value("int"),
    "options": Multiple(Single({"name": Value("alphanum"), "value": Value("raw")}), default=[])})
def get_contents(call: Call) -> list[dict[str, Any]]:
    courseid = call.params["courseid"]
    if courseid not in call.site.courses:
        raise invalid_record("course")
    call.course_context(courseid, wrapped=True)
    opts = {o["name"].lower(): o["value"] for o in call.params["options"]}
    exclude_modules = opts.get("excludemodules", "0") in ("1", "true")
    include_contents = opts.get("excludecontents", "0") not in ("1", "true")
    only_section = opts.get("sectionnumber")
    only_cm = opts.get("cmid")
    only_mod = opts.get("modname")
    course = call.site.courses[courseid]
    out = []
    for s in course.sections:
        if only_section is not None and str(s.section) != only_section:
            continue
        modules = []
        if not exclude_modules:
            for cmid in s.sequence:
                m = call.site.modules.get(cmid)
                if m is None or (only_cm and str(m.id) != only_cm) or (only_mod and m.modname != only_mod):
                    continue
                if not call.cm_visible(m):
                    continue  # left out without a warning, as Moodle does (recorded: readme-role/)
                modules.append(module_row(call, m, include_contents))
        out.append({"id": s.id, "name": s.name or ("General" if s.section == 0 else "New section"), "visible": 1,
                    "summary": "", "summaryformat": 1, "section": s.section, "hiddenbynumsections": 0,
                    "uservisible": True, "component": None, "itemid": None, "modules": modules})
    return out


@ws_function("core_course_get_course_module", {"cmid": Value("int")})
def get_course_module(call: Call) -> dict[str, Any]:
    m = call.site.modules.get(call.params["cmid"])
    if m is None:
        raise invalid_record("course_modules")
    call.module_context(m)
    course = call.site.courses[m.course]
    section = next(s for s in course.sections if s.section == m.section)
    cm: dict[str, Any] = {"id": m.id, "course": m.course, "module": MODULE_IDS.get(m.modname, 99), "name": m.name,
                          "modname": m.modname, "instance": m.instance, "section": section.id,
                          "sectionnum": m.section, "groupmode": 0, "groupingid": 0, "completion": m.completion,
                          "downloadcontent": 1}
    if m.idnumber and call.principal.can("moodle/course:manageactivities"):
        cm["idnumber"] = m.idnumber
    return {"cm": cm, "warnings": []}


def module_updates(call: Call, m: Module, since: int, filters: set[str]) -> list[dict[str, Any]]:
    """course_check_module_updates_since + the module's own <mod>_check_updates_since."""
    site = call.site

    def wanted(name: str) -> bool:
        return not filters or name in filters

    updates: list[dict[str, Any]] = []

    def add(name: str, timeupdated: int | None = None, itemids: list[int] | None = None) -> None:
        area: dict[str, Any] = {"name": name}
        if timeupdated:
            area["timeupdated"] = timeupdated
        if itemids:
            area["itemids"] = itemids
        updates.append(area)

    if wanted("configuration") and m.timemodified > since:
        add("configuration", m.timemodified)
    me = call.principal.userid
    ac = site.activity_completion.get((m.id, me))
    if wanted("completion") and ac is not None and ac.timemodified > since:
        add("completion", ac.timemodified)
    gi = site.module_grade_item(m.id)
    if wanted("gradeitems") and gi is not None:
        g = site.grades.get((gi.id, me))
        if g is not None and g.timemodified > since:
            add("gradeitems", g.timemodified, [gi.id])
    if m.modname == "assign" and call.principal.can("mod/assign:grade"):
        subs = [s for s in site.submissions_of(m.instance) if s.timemodified > since]
        if wanted("usersubmissions") and subs:
            add("usersubmissions", max(s.timemodified for s in subs), sorted(s.id for s in subs))
        grades = [g for g in site.assign_grades_of(m.instance) if g.timemodified > since]
        if wanted("usergrades") and grades:
            add("usergrades", max(g.timemodified for g in grades), sorted(g.id for g in grades))
    if m.modname == "quiz" and call.principal.can("mod/quiz:viewreports"):
        attempts = [a for a in site.attempts_of(m.instance) if a.timemodified > since]
        if wanted("userattempts") and attempts:
            add("userattempts", max(a.timemodified for a in attempts), sorted(a.id for a in attempts))
    return updates


@ws_function("core_course_get_updates_since", {
    "courseid": Value("int"), "since": Value("int"),
    "filter": Multiple(Value("alpha"), default=[])})
def get_updates_since(call: Call) -> dict[str, Any]:
    courseid = call.params["courseid"]
    call.course_context(courseid)
    filters = set(call.params["filter"])
    instances = []
    for m in call.site.course_modules(courseid):
        if not call.cm_visible(m):
            continue
        updates = module_updates(call, m, call.params["since"], filters)
        if updates:
            instances.append({"contextlevel": "module", "id": m.id, "updates": updates})
    return {"instances": instances, "warnings": []}
