"""Web Services dispatcher: token -> principal, function lookup, service check, parameter validation.

The order of checks follows webservice/rest/server.php + external_api::call_external_function:
invalid token first, then unknown function (dml_missing_record_exception), then function not in
the token's service (webservice_access_exception), then parameter validation, then the function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from credbridge.emulator.dataset import Module, Site
from credbridge.emulator.errors import (
    MoodleException,
    access_exception,
    course_context_not_valid,
    function_does_not_exist,
    invalid_parameter,
    invalid_record,
    invalid_token,
    nopermissions,
    require_login,
)
from credbridge.emulator.params import validate
from credbridge.emulator.roles import AUTHENTICATED_USER, REST_ONLY, SYNC_ROLE, module_view_capability
from credbridge.emulator.versions import release

# The vet_sync service of the recorded site (ws-setup.json), in the recorded order.
RECORDED_SERVICE_FUNCTIONS = (
    "core_webservice_get_site_info", "core_course_get_courses", "core_course_get_courses_by_field",
    "core_enrol_get_enrolled_users", "core_completion_get_course_completion_status",
    "core_completion_get_activities_completion_status", "gradereport_user_get_grade_items",
    "mod_quiz_get_quizzes_by_courses", "mod_quiz_get_user_attempts", "mod_assign_get_grades",
    "core_competency_list_course_competencies", "tool_lp_data_for_user_competency_summary_in_course",
    "core_user_get_users_by_field", "core_course_get_contents", "core_course_get_categories",
    "core_course_get_course_module", "core_enrol_get_users_courses", "core_user_get_users",
    "core_grades_get_gradeitems", "gradereport_user_get_grades_table", "gradereport_overview_get_course_grades",
    "mod_assign_get_assignments", "mod_assign_get_submissions", "mod_quiz_get_user_best_grade",
    "mod_page_get_pages_by_courses", "mod_lti_get_ltis_by_courses", "core_competency_list_competency_frameworks",
    "core_competency_read_competency_framework", "core_competency_list_competencies",
    "core_competency_read_competency", "core_competency_list_course_module_competencies",
    "tool_lp_data_for_course_competencies_page", "report_competency_data_for_report", "core_group_get_course_groups",
    "core_badges_get_user_badges",
)
DEFAULT_SERVICE_FUNCTIONS = (*RECORDED_SERVICE_FUNCTIONS, "core_course_get_updates_since",
                             "core_reportbuilder_list_reports", "core_reportbuilder_retrieve_report")
# Functions that exist in Moodle 4.5 but that the emulator does not serve: calling them gives the
# "not in service" error rather than "does not exist", as on a real site whose service lacks them.
OTHER_MOODLE_FUNCTIONS = frozenset({
    "core_user_create_users", "core_user_update_users", "core_user_delete_users", "core_course_create_courses",
    "core_course_update_courses", "core_course_delete_courses", "core_course_check_updates",
    "enrol_manual_enrol_users", "enrol_manual_unenrol_users", "core_group_create_groups",
    "core_reportbuilder_set_filters",
    "core_completion_update_activity_completion_status_manually", "core_completion_mark_course_self_completed",
    "core_grades_update_grades", "core_badges_get_badge", "core_message_send_instant_messages",
})

# The token roles: the default sync token holds the role credbridge's README tells schools to create.
VET_SYNC_CAPABILITIES = SYNC_ROLE
REST_ONLY_CAPABILITIES = REST_ONLY


@dataclass(frozen=True)
class Principal:
    """The user behind a token and what its role allows (system context), plus what every logged-in
    user may do through the Authenticated user role."""

    userid: int
    capabilities: frozenset[str]

    def can(self, capability: str) -> bool:
        return capability in self.capabilities or capability in AUTHENTICATED_USER


@dataclass
class WsConfig:
    functions: tuple[str, ...] = DEFAULT_SERVICE_FUNCTIONS
    debug: bool = False


@dataclass
class Call:
    site: Site
    principal: Principal
    params: dict[str, Any]
    config: WsConfig
    function: str = ""

    def require(self, capability: str) -> None:
        if not self.principal.can(capability):
            raise nopermissions(capability)

    def cm_visible(self, m: Module) -> bool:
        """cm_info::uservisible for the caller: a hidden activity needs moodle/course:viewhiddenactivities,
        and every activity needs its module's own view capability (enrolled users have it by their role)."""
        if self.site.is_enrolled(m.course, self.principal.userid):
            return True
        if not m.visible and not self.principal.can("moodle/course:viewhiddenactivities"):
            return False
        return self.principal.can(module_view_capability(m.modname))

    def module_context(self, m: Module) -> None:
        """validate_context() for a module: require_login(course, cm) refuses an activity the caller cannot see
        with "Activity is hidden" (recorded: capabilities/readme-role/mod_quiz_get_user_attempts.json)."""
        self.course_context(m.course)
        if not self.cm_visible(m):
            raise require_login("Activity is hidden")

    def course_context(self, courseid: int, *, wrapped: bool = False) -> None:
        """validate_context() for a course: the principal must be able to enter the course."""
        if courseid not in self.site.courses:
            raise invalid_record("course")
        if not self.principal.can("moodle/course:view") and not self.site.is_enrolled(courseid,
                                                                                      self.principal.userid):
            raise course_context_not_valid(courseid) if wrapped else require_login()

    @property
    def www(self) -> str:
        return self.site.config.wwwroot


@dataclass
class FunctionDef:
    name: str
    spec: dict[str, Any]
    handler: Callable[[Call], Any]


REGISTRY: dict[str, FunctionDef] = {}


def ws_function(name: str, spec: dict[str, Any] | None = None) -> Callable[[Callable[[Call], Any]],
                                                                          Callable[[Call], Any]]:
    def register(handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
        REGISTRY[name] = FunctionDef(name, spec or {}, handler)
        return handler

    return register


@dataclass
class Dispatcher:
    site: Site
    tokens: dict[str, Principal]
    config: WsConfig = field(default_factory=WsConfig)

    def call(self, form: dict[str, Any]) -> Any:
        """Run one REST request (already PHP-parsed). Raises MoodleException for Moodle errors."""
        _load_functions()
        token = form.get("wstoken")
        principal = self.tokens.get(token) if isinstance(token, str) else None
        if principal is None:
            raise invalid_token()
        name = form.get("wsfunction")
        if not isinstance(name, str) or not name:
            raise invalid_parameter("wsfunction => Missing required key: wsfunction")
        if (name not in REGISTRY and name not in OTHER_MOODLE_FUNCTIONS) \
                or name in release(self.site.config.moodle).lacks:
            raise function_does_not_exist(name)
        if name not in self.config.functions or name not in REGISTRY:
            raise access_exception(f"Access to the function {name}() is not allowed. There could be multiple "
                                   "reasons for this: 1. The service linked to the user token does not contain "
                                   "the function.")
        fdef = REGISTRY[name]
        raw = {k: v for k, v in form.items() if k not in ("wstoken", "wsfunction", "moodlewsrestformat")}
        params = validate(fdef.spec, raw)
        with self.site.lock:
            if self.site.aggregation_lag:
                # Moodle's cron keeps running between requests: aggregate what has waited long enough.
                self.site.run_cron()
            return fdef.handler(Call(self.site, principal, params, self.config, name))


def error_body(exc: MoodleException, config: WsConfig) -> dict[str, Any]:
    return exc.as_json(debug=config.debug)


_loaded = False


def _load_functions() -> None:
    global _loaded
    if not _loaded:
        from credbridge.emulator.functions import load_all

        load_all()
        _loaded = True
