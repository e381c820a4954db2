"""core_webservice_get_site_info, core_badges_get_user_badges, core_group_get_course_groups."""

from __future__ import annotations

import hashlib
from typing import Any

from credbridge.emulator.errors import invalid_record
from credbridge.emulator.functions.render import pix
from credbridge.emulator.params import Value
from credbridge.emulator.versions import release
from credbridge.emulator.ws import RECORDED_SERVICE_FUNCTIONS, Call, ws_function

ADVANCED_FEATURES = (("usecomments", 1), ("usetags", 1), ("enablenotes", 1), ("messaging", 1), ("enableblogs", 1),
                     ("enablecompletion", 1), ("enablebadges", 1), ("messagingallusers", 0),
                     ("enablecustomreports", 1), ("enableglobalsearch", 0), ("mnet_dispatcher_mode", 0),
                     ("enablecompetencies", 1))
# Moodle lists service functions ordered by component (core "moodle" functions, then core
# subsystems, then plugin types); the recorded order is kept for the recorded functions.
_RECORDED_SITE_INFO_ORDER = (
    "core_badges_get_user_badges", "core_completion_get_activities_completion_status",
    "core_completion_get_course_completion_status", "core_course_get_categories", "core_course_get_contents",
    "core_course_get_course_module", "core_course_get_courses", "core_course_get_courses_by_field",
    "core_course_get_updates_since", "core_enrol_get_enrolled_users", "core_enrol_get_users_courses",
    "core_grades_get_gradeitems", "core_group_get_course_groups", "core_user_get_users",
    "core_user_get_users_by_field", "core_competency_read_competency_framework",
    "core_competency_list_competency_frameworks", "core_competency_read_competency",
    "core_competency_list_competencies", "core_competency_list_course_module_competencies",
    "core_competency_list_course_competencies", "core_reportbuilder_list_reports",
    "core_reportbuilder_retrieve_report",
    "core_webservice_get_site_info", "mod_assign_get_grades", "mod_assign_get_assignments",
    "mod_assign_get_submissions", "mod_lti_get_ltis_by_courses", "mod_page_get_pages_by_courses",
    "mod_quiz_get_quizzes_by_courses", "mod_quiz_get_user_attempts", "mod_quiz_get_user_best_grade",
    "mod_quiz_get_user_quiz_attempts",
    "report_competency_data_for_report", "gradereport_overview_get_course_grades",
    "gradereport_user_get_grades_table", "gradereport_user_get_grade_items",
    "tool_lp_data_for_course_competencies_page", "tool_lp_data_for_user_competency_summary_in_course",
)
assert set(RECORDED_SERVICE_FUNCTIONS) <= set(_RECORDED_SITE_INFO_ORDER)


def _order(name: str) -> tuple[int, str]:
    try:
        return (_RECORDED_SITE_INFO_ORDER.index(name), name)
    except ValueError:
        return (len(_RECORDED_SITE_INFO_ORDER), name)


@ws_function("core_webservice_get_site_info", {"serviceshortnames": Value("raw", default=None)})
def get_site_info(call: Call) -> dict[str, Any]:
    site, cfg = call.site, call.site.config
    user = site.user(call.principal.userid)
    return {
        "sitename": cfg.sitename, "username": user.username, "firstname": user.firstname,
        "lastname": user.lastname, "fullname": user.fullname, "lang": user.lang, "userid": user.id,
        "siteurl": cfg.wwwroot, "userpictureurl": pix(site, "f1"),
        # a service holds only functions the release has (external_services_functions joins external_functions)
        "functions": [{"name": n, "version": cfg.version} for n in sorted(call.config.functions, key=_order)
                      if n not in release(cfg.moodle).lacks],
        "downloadfiles": 1, "uploadfiles": 0, "release": cfg.release, "version": cfg.version, "mobilecssurl": "",
        "advancedfeatures": [{"name": n, "value": v} for n, v in ADVANCED_FEATURES],
        "usercanmanageownfiles": True, "userquota": 104857600, "usermaxuploadfilesize": 67108864,
        "userhomepage": 1,
        "userprivateaccesskey": hashlib.md5(f"{user.id}:{user.username}".encode(), usedforsecurity=False).hexdigest(),
        "siteid": 1, "sitecalendartype": "gregorian", "usercalendartype": "gregorian", "userissiteadmin": False,
        "theme": "boost", "limitconcurrentlogins": 0, "policyagreed": 0,
    }


@ws_function("core_badges_get_user_badges", {
    "userid": Value("int", default=0), "courseid": Value("int", default=0), "page": Value("int", default=0),
    "perpage": Value("int", default=0), "search": Value("raw", default=""), "onlypublic": Value("bool", default=False)})
def get_user_badges(call: Call) -> dict[str, Any]:
    # The emulated site awards no Moodle badges (credbridge issues the credentials).
    if call.params["userid"] and call.params["userid"] not in call.site.users:
        raise invalid_record("user")
    return {"badges": [], "warnings": []}


@ws_function("core_group_get_course_groups", {"courseid": Value("int")})
def get_course_groups(call: Call) -> list[dict[str, Any]]:
    call.course_context(call.params["courseid"])
    call.require("moodle/course:managegroups")
    return []
