"""Moodle WS exceptions, with the exact class names, error codes and messages Moodle 4.5 sends.

Texts are those of the recorded responses (fixtures moodle-4.5/moodle-ws/*ERROR*.json) and of
Moodle's language strings for the few cases that were not recorded.
"""

from __future__ import annotations

from typing import Any


class MoodleException(Exception):
    """Rendered as HTTP 200 {"exception", "errorcode", "message"[, "debuginfo"]} like Moodle's REST server."""

    def __init__(self, exception: str, errorcode: str, message: str, debuginfo: str | None = None) -> None:
        super().__init__(f"{errorcode}: {message}")
        self.exception = exception
        self.errorcode = errorcode
        self.message = message
        self.debuginfo = debuginfo

    def as_json(self, *, debug: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"exception": self.exception, "errorcode": self.errorcode, "message": self.message}
        if debug and self.debuginfo:
            body["debuginfo"] = self.debuginfo
        return body


def invalid_parameter(debuginfo: str) -> MoodleException:
    return MoodleException("core\\exception\\invalid_parameter_exception", "invalidparameter",
                           "Invalid parameter value detected", debuginfo)


def invalid_token() -> MoodleException:
    return MoodleException("core\\exception\\moodle_exception", "invalidtoken", "Invalid token - token not found")


def access_exception(debuginfo: str = "") -> MoodleException:
    return MoodleException("webservice_access_exception", "accessexception", "Access control exception",
                           debuginfo or None)


def function_does_not_exist(name: str) -> MoodleException:
    return MoodleException("dml_missing_record_exception", "invalidrecord",
                           "Can't find data record in database table external_functions.",
                           f"external function {name!r} is not installed")


def invalid_record(table: str) -> MoodleException:
    return MoodleException("dml_missing_record_exception", "invalidrecord",
                           f"Can't find data record in database table {table}.")


def require_login(debuginfo: str | None = None) -> MoodleException:
    return MoodleException("core\\exception\\require_login_exception", "requireloginerror",
                           "Course or activity not accessible.", debuginfo)


def course_context_not_valid(courseid: int) -> MoodleException:
    return MoodleException(
        "core\\exception\\moodle_exception", "errorcoursecontextnotvalid",
        f"You cannot execute functions in the course context (course id:{courseid}). "
        "The context error message was: Course or activity not accessible.")


# Capability -> the human name Moodle puts in "Sorry, but you do not currently have permissions to do that (...)".
CAPABILITY_NAMES = {
    "moodle/role:review": "Review permissions for others",
    "moodle/course:managegroups": "Manage groups",
    "moodle/course:viewparticipants": "View participants",
    "report/completion:view": "View course completion report",
    "report/progress:view": "View activity completion reports",
    "gradereport/user:view": "View your own grade report",
    "moodle/grade:viewall": "View grades of other users",
    "mod/assign:grade": "Grade assignment",
    "mod/quiz:viewreports": "View quiz reports",
    "moodle/competency:coursecompetencyview": "View course competencies",
    "moodle/competency:usercompetencyview": "View user competency",
    "moodle/reportbuilder:view": "View custom reports",
    "moodle/category:manage": "Manage course categories",
}


def nopermissions(capability: str) -> MoodleException:
    name = CAPABILITY_NAMES.get(capability, capability)
    return MoodleException("core\\exception\\required_capability_exception", "nopermissions",
                           f"Sorry, but you do not currently have permissions to do that ({name}).")


def not_enrolled() -> MoodleException:
    return MoodleException("core\\exception\\moodle_exception", "usernotenroled", "User is not enrolled in this course")


def no_criteria() -> MoodleException:
    return MoodleException("core\\exception\\moodle_exception", "nocriteriaset",
                           "No completion criteria set for this course")


def criteria_error() -> MoodleException:
    return MoodleException("core\\exception\\moodle_exception", "criteriaerror",
                           "Missing permissions to search on a criterion.")


def moodle_exception(errorcode: str, message: str) -> MoodleException:
    return MoodleException("core\\exception\\moodle_exception", errorcode, message)
