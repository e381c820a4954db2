"""Who is asking, and what they may see: a teacher only the courses they launched from, a learner
only their own records, everyone only their own school's data (403 otherwise)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import abort, current_app, g, request

from credbridge.connector.store.models import LaunchSession
from credbridge.lti.launch.claims import numeric_id
from credbridge.lti.launch.roles import ADMINISTRATOR, INSTRUCTOR, LEARNER
from credbridge.lti.sessions import SESSION_COOKIE, session_id_from_cookie

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
ROLES = (INSTRUCTOR, LEARNER, ADMINISTRATOR)


def current_session() -> LaunchSession | None:
    """The verified launch session of this request, or None (no, forged or expired cookie)."""
    if "launch_session" in g:
        return g.launch_session
    found: LaunchSession | None = None
    session_id = session_id_from_cookie(request.cookies.get(SESSION_COOKIE))
    if session_id is not None:
        with current_app.extensions["credbridge"].db.unit_of_work() as db:
            row = db.get(LaunchSession, session_id)
            if row is not None and row.expires_at > datetime.now(UTC):
                db.expunge(row)
                found = row
    g.launch_session = found
    return found


def require_session() -> LaunchSession:
    session = current_session()
    if session is None:
        abort(401, description="no valid session: launch the tool from Moodle again")
    return session


def _enrolled_in_launch_course(session: LaunchSession, learner_id: int) -> bool:
    from sqlalchemy import select

    from credbridge.connector.store.models import Course, Enrolment, LtiRegistration

    moodle_id = numeric_id(session.context_id)
    if moodle_id is None or session.registration_id is None:
        return False
    with current_app.extensions["credbridge"].db.unit_of_work() as db:
        registration = db.get(LtiRegistration, session.registration_id)
        if registration is None or registration.connection_id is None:
            return False
        return db.scalars(
            select(Enrolment.id).join(Course, Course.id == Enrolment.course_id)
            .where(Course.connection_id == registration.connection_id,
                   Course.moodle_id == moodle_id, Enrolment.learner_id == learner_id)
        ).first() is not None


def require_role(*roles: str) -> Callable[[F], F]:
    """The view needs one of ``roles`` (instructor | learner | administrator); administrators pass too."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            session = require_session()
            have = set(session.roles or [])
            if not have & (set(roles) | {ADMINISTRATOR}):
                log.info("forbidden: session role %s, needed %s for %s", sorted(have), roles, request.path)
                abort(403, description=f"this page needs the role {' or '.join(roles)}")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def require_course(context_id: str) -> LaunchSession:
    """The session launched from this course (LTI context id), else 403."""
    session = require_session()
    if str(session.context_id) != str(context_id):
        log.info("forbidden: session of course %s asked for course %s", session.context_id, context_id)
        abort(403, description="you can only open the course you launched the tool from")
    return session


def require_learner(learner_id: int) -> LaunchSession:
    """A learner sees only their own records; an administrator any learner of the school (the page
    checks the school); a teacher only learners enrolled in the course they launched from."""
    session = require_session()
    roles = set(session.roles or [])
    if session.learner_id == learner_id or ADMINISTRATOR in roles:
        return session
    if INSTRUCTOR in roles and _enrolled_in_launch_course(session, learner_id):
        return session
    log.info("forbidden: learner %s asked for learner %s", session.learner_id, learner_id)
    abort(403, description="you can only open your own records")
    raise AssertionError  # unreachable, abort raises
