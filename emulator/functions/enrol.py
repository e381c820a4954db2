"""core_enrol_get_enrolled_users, core_enrol_get_users_courses."""

from __future__ import annotations

from typing import Any

from credbridge.emulator.dataset import ROLE_SHORTNAMES, Site, User
from credbridge.emulator.errors import invalid_parameter, invalid_record, nopermissions
from credbridge.emulator.functions.render import course_image, num, pix
from credbridge.emulator.params import Multiple, Single, Value
from credbridge.emulator.ws import Call, Principal, ws_function

ALL_USER_FIELDS = ("id", "username", "firstname", "lastname", "fullname", "email", "department", "institution",
                   "idnumber", "firstaccess", "lastaccess", "lastcourseaccess", "city", "country",
                   "profileimageurlsmall", "profileimageurl", "roles", "enrolledcourses")
ROLE_SORTORDER = {3: 0, 4: 0, 5: 0}
# A few course-level capabilities of Moodle's archetype roles, for the withcapability option.
ROLE_CAPABILITIES = {
    5: frozenset({"mod/assign:submit", "mod/quiz:attempt", "moodle/course:isincompletionreports",
                  "moodle/competency:coursecompetencygradable", "mod/assign:view", "mod/quiz:view"}),
    4: frozenset({"mod/assign:grade", "moodle/grade:viewall", "mod/quiz:viewreports", "mod/assign:view",
                  "mod/quiz:view", "moodle/course:viewparticipants"}),
    3: frozenset({"mod/assign:grade", "moodle/grade:viewall", "mod/quiz:viewreports", "mod/assign:view",
                  "mod/quiz:view", "moodle/course:viewparticipants", "moodle/grade:edit",
                  "moodle/competency:competencygrade", "moodle/course:manageactivities"}),
}


def identity_visible(principal: Principal) -> tuple[bool, bool, bool]:
    """(username, email, idnumber) visibility, as user_get_user_details decides (M:user/lib.php)."""
    alldetails = principal.can("moodle/user:viewalldetails")
    identity = principal.can("moodle/site:viewuseridentity")
    return (alldetails,
            alldetails or principal.can("moodle/course:useremail") or identity,
            alldetails or identity)


def user_details(call: Call, user: User, fields: set[str], courseid: int | None = None) -> dict[str, Any]:
    site = call.site
    show_username, show_email, show_idnumber = identity_visible(call.principal)
    out: dict[str, Any] = {}
    for name in ALL_USER_FIELDS:
        if name not in fields and name not in ("id", "fullname"):
            continue
        if name == "id":
            out["id"] = user.id
        elif name == "username":
            if show_username:
                out["username"] = user.username
        elif name == "fullname":
            out[name] = user.fullname
        elif name in ("firstname", "lastname"):
            # user_get_user_details: the name parts only with moodle/site:viewfullnames
            if call.principal.can("moodle/site:viewfullnames"):
                out[name] = getattr(user, name)
        elif name == "email":
            if show_email:
                out["email"] = user.email
        elif name == "idnumber":
            if show_idnumber and user.idnumber:
                out["idnumber"] = user.idnumber
        elif name in ("department", "institution", "city", "country"):
            value = getattr(user, name)
            if value:
                out[name] = value
        elif name in ("firstaccess", "lastaccess"):
            out[name] = getattr(user, name)
        elif name == "lastcourseaccess" and courseid is not None:
            e = site.enrolments.get((courseid, user.id))
            out[name] = e.lastcourseaccess if e else 0
        elif name == "profileimageurlsmall":
            out[name] = pix(site, "f2")
        elif name == "profileimageurl":
            out[name] = pix(site, "f1")
        elif name == "roles" and courseid is not None:
            e = site.enrolments.get((courseid, user.id))
            out["roles"] = [] if e is None else [{"roleid": e.roleid, "name": "",
                                                  "shortname": ROLE_SHORTNAMES[e.roleid],
                                                  "sortorder": ROLE_SORTORDER.get(e.roleid, 0)}]
        elif name == "enrolledcourses":
            out["enrolledcourses"] = [{"id": cid, "fullname": site.courses[cid].fullname,
                                       "shortname": site.courses[cid].shortname}
                                      for cid in site.user_courses(user.id)]
    return out


@ws_function("core_enrol_get_enrolled_users", {
    "courseid": Value("int"),
    "options": Multiple(Single({"name": Value("alphanum"), "value": Value("raw")}), default=[])})
def get_enrolled_users(call: Call) -> list[dict[str, Any]]:
    site = call.site
    courseid = call.params["courseid"]
    if courseid not in site.courses:
        raise invalid_record("course")
    call.course_context(courseid, wrapped=True)
    opts: dict[str, str] = {}
    for o in call.params["options"]:
        opts[o["name"].lower()] = o["value"]
    known = {"withcapability", "groupid", "onlyactive", "onlysuspended", "userfields", "limitfrom", "limitnumber",
             "sortby", "sortdirection"}
    unknown = set(opts) - known
    if unknown:
        raise invalid_parameter(f"Invalid option name(s): {', '.join(sorted(unknown))}")
    call.require("moodle/course:viewparticipants")
    withcapability = opts.get("withcapability", "").strip()
    if withcapability and not call.principal.can("moodle/role:review"):
        raise nopermissions("moodle/role:review")
    onlyactive = opts.get("onlyactive", "0").strip().lower() in ("1", "true")
    onlysuspended = opts.get("onlysuspended", "0").strip().lower() in ("1", "true")
    if onlyactive and onlysuspended:
        raise invalid_parameter("Both onlyactive and onlysuspended are set, this is not allowed")
    if (onlyactive or onlysuspended) and not call.principal.can("moodle/course:enrolreview"):
        raise nopermissions("moodle/course:enrolreview")
    try:
        limitfrom = int(opts.get("limitfrom", "0"))
        limitnumber = int(opts.get("limitnumber", "0"))
    except ValueError:
        raise invalid_parameter("limitfrom / limitnumber must be integers") from None
    sortby = opts.get("sortby", "id")
    if sortby not in ("id", "firstname", "lastname", "siteorder"):
        raise invalid_parameter("Invalid sort field")
    descending = opts.get("sortdirection", "ASC").upper() == "DESC"
    fields = set(ALL_USER_FIELDS)
    if opts.get("userfields"):
        fields = {f.strip() for f in opts["userfields"].split(",") if f.strip()}
    enrolments = site.enrolled(courseid, onlyactive=onlyactive)
    if onlysuspended:
        # get_enrolled_sql(onlysuspended): every enrolment that is not active (suspended, ended)
        enrolments = [e for e in enrolments if not site.is_active(e)]
    if withcapability:
        enrolments = [e for e in enrolments if withcapability in ROLE_CAPABILITIES.get(e.roleid, frozenset())]
    users = [site.users[e.userid] for e in enrolments]
    if sortby in ("firstname", "lastname"):
        users.sort(key=lambda u: (getattr(u, sortby), u.id), reverse=descending)
    elif descending:
        users.reverse()
    users = users[limitfrom:]
    if limitnumber > 0:
        users = users[:limitnumber]
    return [user_details(call, u, fields, courseid) for u in users]


def course_progress(site: Site, courseid: int, userid: int) -> float | None:
    """core_completion\\progress::get_course_progress_percentage: share of tracked activities complete."""
    modules = [m for m in site.course_modules(courseid) if m.completion]
    if not modules:
        return None
    done = sum(1 for m in modules if site.activity_state(m.id, userid)[0] in (1, 2))
    return done / len(modules) * 100


@ws_function("core_enrol_get_users_courses", {"userid": Value("int"),
                                              "returnusercount": Value("bool", default=True)})
def get_users_courses(call: Call) -> list[dict[str, Any]]:
    site = call.site
    userid = call.params["userid"]
    if userid not in site.users:
        raise invalid_record("user")
    if userid != call.principal.userid and not call.principal.can("moodle/user:viewdetails"):
        raise nopermissions("moodle/user:viewdetails")
    out = []
    for cid in site.user_courses(userid):
        c = site.courses[cid]
        if userid != call.principal.userid and not call.principal.can("moodle/course:viewparticipants"):
            continue
        row: dict[str, Any] = {"id": c.id, "shortname": c.shortname, "fullname": c.fullname,
                               "displayname": c.fullname}
        if call.params["returnusercount"]:
            row["enrolledusercount"] = len(site.enrolled(cid, onlyactive=True))
        progress = course_progress(site, cid, userid)
        cc = site.course_completions.get((cid, userid))
        row.update({
            "idnumber": c.idnumber, "visible": c.visible, "summary": c.summary, "summaryformat": 1,
            "format": c.format, "courseimage": course_image(site, c), "showgrades": True, "lang": "",
            "enablecompletion": bool(c.enablecompletion), "completionhascriteria": bool(c.criteria),
            "completionusertracked": cc is not None, "category": c.categoryid,
            "progress": num(progress) if progress is not None else None,
            "completed": bool(cc and cc.timecompleted), "startdate": c.startdate, "enddate": c.enddate,
            "marker": 0, "lastaccess": None, "isfavourite": False, "hidden": False, "overviewfiles": [],
            "showactivitydates": False, "showcompletionconditions": True, "timemodified": c.timemodified})
        out.append(row)
    return out
