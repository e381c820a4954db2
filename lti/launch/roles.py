"""LIS role URIs to the three roles the tool knows (LTI Core §A.2).

Accepts full URIs (context, institution and system vocabularies), the short context forms LTI 1.1
tools and some platforms send (``Instructor``, ``Learner``), sub-roles (``…/membership/Instructor#TeachingAssistant``)
and ignores unknown roles, so an unusual role never blocks a launch, it only grants nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

INSTRUCTOR = "instructor"
LEARNER = "learner"
ADMINISTRATOR = "administrator"

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
_CONTEXT_ROLES = {
    "Instructor": INSTRUCTOR,
    "ContentDeveloper": INSTRUCTOR,
    "Mentor": None,
    "TeachingAssistant": INSTRUCTOR,
    "Learner": LEARNER,
    "Administrator": ADMINISTRATOR,
    "Manager": INSTRUCTOR,
}
_PERSON_ROLES = {"Administrator": ADMINISTRATOR, "SysAdmin": ADMINISTRATOR, "Instructor": INSTRUCTOR,
                 "Faculty": INSTRUCTOR, "Student": LEARNER, "Learner": LEARNER}


def _one(role: str) -> str | None:
    role = role.strip()
    if role.startswith(_LIS + "membership/"):  # sub-role: the principal role is the path segment
        principal = role[len(_LIS + "membership/"):].split("#", 1)[0]
        return _CONTEXT_ROLES.get(principal)
    if role.startswith(_LIS + "membership#"):
        return _CONTEXT_ROLES.get(role.split("#", 1)[1])
    if role.startswith((_LIS + "institution/person#", _LIS + "system/person#")):
        return _PERSON_ROLES.get(role.split("#", 1)[1])
    if role.startswith("urn:lti:role:ims/lis/"):  # LTI 1.1 URN form
        return _CONTEXT_ROLES.get(role.rsplit("/", 1)[1])
    if role.startswith(("urn:lti:instrole:ims/lis/", "urn:lti:sysrole:ims/lis/")):
        return _PERSON_ROLES.get(role.rsplit("/", 1)[1])
    if "/" not in role and "#" not in role:  # short form
        return _CONTEXT_ROLES.get(role)
    return None


def tool_roles(lis_roles: Iterable[object]) -> list[str]:
    """The tool roles, in a stable order (administrator, instructor, learner)."""
    found = {r for r in (_one(x) for x in lis_roles if isinstance(x, str)) if r}
    return [r for r in (ADMINISTRATOR, INSTRUCTOR, LEARNER) if r in found]
