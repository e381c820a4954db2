"""A school's policy (``School.policy``): the choices a school makes about issuance, one place for their
names, allowed values and defaults, read by evaluation, notification, the CLI (`credbridge schools
show|set`) and the console.

Issuing targets (``policy["targets"]``) are configured elsewhere (connector/issuing/pipeline/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.store.models import LtiRegistration, ResourceLinkTemplate, School


@dataclass(frozen=True)
class Setting:
    key: str
    choices: tuple[str, ...]
    default: str
    meaning: str


SETTINGS = (
    Setting("ags_score", ("on", "off", "default"), "default",
            'post a "credential issued" score to the Moodle gradebook (AGS); default: on when the platform '
            "granted AGS (it sends line items)"),
    Setting("notify_email", ("on", "off"), "off",
            "e-mail the learner when a credential is issued (needs CREDBRIDGE_SMTP_*)"),
    Setting("suspended_enrolment", ("teacher_approval", "issue", "hold"), "teacher_approval",
            "a learner no longer actively enrolled (suspended, ended, unenrolled) who earned a credential: ask "
            "the teacher, issue as the template says, or hold it"),
    Setting("revoke_on_regression", ("ask", "auto"), "ask",
            "a grade reversed in Moodle flags the award; auto also revokes an issued credential"),
)
BY_KEY = {s.key: s for s in SETTINGS}
SWITCHES = ("ags_score", "notify_email")  # stored as booleans (absent = the default)


def value(school: School, key: str) -> str:
    """The setting as the school chose it, in the CLI's words (``on``/``off``/``default`` for switches)."""
    setting = BY_KEY[key]
    raw = (school.policy or {}).get(key)
    if key in SWITCHES:
        return setting.default if raw is None else ("on" if raw else "off")
    return str(raw) if raw in setting.choices else setting.default


def set_value(school: School, key: str, choice: str) -> dict[str, Any]:
    """Change one setting; returns the new policy. A wrong key or value raises ValueError naming it."""
    setting = BY_KEY.get(key)
    if setting is None:
        raise ValueError(f"unknown policy setting {key!r}; one of {', '.join(BY_KEY)}")
    if choice not in setting.choices:
        raise ValueError(f"{key} must be one of {', '.join(setting.choices)}, not {choice!r}")
    policy = dict(school.policy or {})
    if key in SWITCHES:
        if choice == "default":
            policy.pop(key, None)
        else:
            policy[key] = choice == "on"
    else:
        policy[key] = choice
    school.policy = policy  # a new dict, so the JSON column is marked dirty
    return policy


def platform_granted_ags(session: Session, school_id: int) -> bool:
    """The school's Moodle sends AGS line items with its launches, which it does only for a tool it granted
    the AGS services (Moodle: the tool's "IMS LTI Assignment and Grade Services" setting)."""
    return session.scalar(select(ResourceLinkTemplate.id).join(
        LtiRegistration, LtiRegistration.id == ResourceLinkTemplate.registration_id).where(
        LtiRegistration.school_id == school_id, LtiRegistration.status == "active",
        ResourceLinkTemplate.lineitem_url.is_not(None)).limit(1)) is not None


def ags_enabled(session: Session, school: School) -> bool:
    chosen = (school.policy or {}).get("ags_score")
    return bool(chosen) if chosen is not None else platform_granted_ags(session, school.id)


def email_enabled(school: School) -> bool:
    return bool((school.policy or {}).get("notify_email"))
