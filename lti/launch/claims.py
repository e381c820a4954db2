"""Claim names of LTI 1.3 / Advantage messages."""

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
RESOURCE_LINK = LTI + "resource_link"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
CUSTOM = LTI + "custom"
LIS = LTI + "lis"
EXT = LTI + "ext"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
DL_MSG = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
MESSAGE_TYPES = frozenset({RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST})
LTI_VERSION = "1.3.0"

#: LTI Core §5.3.5 / §5.1.2.1: ids "MUST NOT exceed 255 ASCII characters"
MAX_ID = 255
#: the largest id a database integer holds (PostgreSQL BIGINT, SQLite INTEGER)
MAX_INTEGER_ID = 2**63 - 1


def obj(value: object) -> dict:
    """A claim that must be a JSON object, or ``{}`` when the platform sent something else."""
    return value if isinstance(value, dict) else {}


def text(value: object, limit: int) -> str | None:
    """A claim that must be a short string: stripped, or None when absent, not a string, empty or
    longer than ``limit`` (the column it is stored in); a value is never silently cut."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= limit else None


def identifier(value: object) -> str | None:
    """An LTI id (context, resource link): a string or a number, at most 255 characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return text(value, MAX_ID)


def numeric_id(value: object) -> int | None:
    """A Moodle record id carried as text (``context.id`` is the course id), or None when the text is
    not a number a database id can be (an id of another platform, or a hostile one)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    digits = str(value)
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        return None
    number = int(digits)
    return number if number <= MAX_INTEGER_ID else None
