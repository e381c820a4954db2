"""Typed failures of a Moodle Web Services call.

Moodle answers almost every failure with HTTP 200 and a JSON object ``{exception, errorcode,
message[, debuginfo]}``; :func:`error_from_response` turns that into the exception the caller can
act on (wrong token, missing capability, function not in the service…). Each exception names the
WS function and Moodle's errorcode, so an operator can tell what to change in Moodle.
"""

from __future__ import annotations

from typing import Any


class MoodleError(Exception):
    """Moodle refused or failed a call; ``function`` and ``errorcode`` say which and why."""

    #: what the Moodle admin can do about it, shown by ``connections check``
    hint = "see Moodle's message"

    def __init__(self, function: str, errorcode: str, message: str, *, exception: str = "",
                 debuginfo: str | None = None) -> None:
        self.function = function
        self.errorcode = errorcode
        self.moodle_message = message
        self.exception = exception
        self.debuginfo = debuginfo
        super().__init__(f"{function}: {errorcode}: {message}")


class InvalidToken(MoodleError):
    hint = "the web-service token is wrong, expired or restricted to other IP addresses"


class MissingCapability(MoodleError):
    hint = "the web-service user's role lacks a capability (or is not allowed in this course context)"


class FunctionNotInService(MoodleError):
    hint = "add the function to the external service the token belongs to"


class InvalidParameter(MoodleError):
    hint = "credbridge sent a parameter this Moodle version does not accept"


class NotEnrolled(MoodleError):
    hint = "the user is not (or no longer) enrolled in the course"


class CourseNotFound(MoodleError):
    hint = "the course was deleted or its id is wrong"


class RecordNotFound(MoodleError):
    """A record the call names (a quiz, an assignment…) no longer exists: typically deleted by a teacher."""

    hint = "the activity or record was deleted in Moodle"


class MalformedResponse(Exception):
    """The answer was not the JSON Moodle sends (an HTML error page, truncated output…)."""

    def __init__(self, function: str, detail: str, *, status: int | None = None) -> None:
        self.function = function
        self.status = status
        super().__init__(f"{function}: malformed response{f' (HTTP {status})' if status else ''}: {detail}")


class TransportError(Exception):
    """Moodle could not be reached, timed out or kept failing (5xx, 429) after every retry."""

    def __init__(self, function: str, detail: str, *, status: int | None = None) -> None:
        self.function = function
        self.status = status
        super().__init__(f"{function}: {detail}")


_CAPABILITY_CODES = {"nopermissions", "requireloginerror", "errorcoursecontextnotvalid", "accessdenied",
                     "nopermissiontoviewgrades", "notingroup", "criteriaerror"}


def error_from_response(function: str, body: dict[str, Any]) -> MoodleError:
    """Map Moodle's error object to the most specific exception (errorcodes from Moodle 4.5)."""
    code = str(body.get("errorcode") or "")
    exception = str(body.get("exception") or "")
    message = str(body.get("message") or "")
    kwargs = {"exception": exception, "debuginfo": body.get("debuginfo")}
    cls: type[MoodleError] = MoodleError
    if code in ("invalidtoken", "invalidtokensession") or code.startswith("invalidtoken"):
        cls = InvalidToken
    elif code == "accessexception" or "webservice_access_exception" in exception:
        cls = FunctionNotInService
    elif code == "invalidrecord" and "external_functions" in message:
        # the function does not exist in this Moodle at all (removed, or plugin not installed)
        cls = FunctionNotInService
    elif code in _CAPABILITY_CODES or "required_capability_exception" in exception \
            or "require_login_exception" in exception:
        cls = MissingCapability
    elif code == "invalidparameter" or "invalid_parameter_exception" in exception:
        cls = InvalidParameter
    elif code in ("usernotenroled", "notenrolled", "usernotenrolled"):
        cls = NotEnrolled
    elif code in ("invalidcourseid", "coursenotfound") or (
            code == "invalidrecord" and "table course." in message):
        cls = CourseNotFound
    elif code == "invalidrecord":
        cls = RecordNotFound
    return cls(function, code or "unknown", message, **kwargs)
