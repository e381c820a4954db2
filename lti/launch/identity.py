"""Who launched: the learner record of the launching user (LTI sub == Moodle user id, §5)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credbridge.connector.store.models import Learner, LearnerIdentity, LtiRegistration
from credbridge.lti.launch import claims as c

#: LaunchSession.subject of a launch without ``sub`` (LTI Core §5.3.6 allows anonymous launches)
ANONYMOUS = "anonymous"
#: LearnerIdentity.external_id holds a Moodle user id; a longer ``sub`` is no user of a linked Moodle
MAX_SUB_FOR_IDENTITY = 100


def display_name(claims: dict[str, Any]) -> str | None:
    name = c.text(claims.get("name"), 300)
    if name:
        return name
    parts = [c.text(claims.get("given_name"), 150), c.text(claims.get("family_name"), 150)]
    joined = " ".join(p for p in parts if p)
    return joined or None


def _email(claims: dict[str, Any]) -> str | None:
    email = c.text(claims.get("email"), 320)
    return email.lower() if email else None


def _idnumber(claims: dict[str, Any]) -> str | None:
    return c.text(c.obj(claims.get(c.LIS)).get("person_sourcedid"), 100)


def _find(session: Session, registration: LtiRegistration, connection_id: int, sub: str,
          claims: dict[str, Any]) -> Learner | None:
    learner = session.scalars(
        select(Learner).join(LearnerIdentity)
        .where(LearnerIdentity.connection_id == connection_id, LearnerIdentity.external_id == sub)
    ).first()
    if learner is not None:
        return learner
    # a learner this Moodle knows as another user is another person (as in sync's learners_for)
    candidates = select(Learner).where(Learner.school_id == registration.school_id, Learner.id.not_in(
        select(LearnerIdentity.learner_id).where(LearnerIdentity.connection_id == connection_id)))
    sourcedid = _idnumber(claims)
    if sourcedid:
        matches = session.scalars(candidates.where(Learner.idnumber == sourcedid)).all()
        if len(matches) == 1:
            return matches[0]
    email = _email(claims)
    if email:
        matches = session.scalars(candidates.where(func.lower(Learner.email) == email)).all()
        if len(matches) == 1:
            return matches[0]
    return None


def link_learner(session: Session, registration: LtiRegistration, claims: dict[str, Any]) -> Learner | None:
    """The learner for this launch: by identity on the registration's connection, else by idnumber
    (lis.person_sourcedid), else by a unique email among learners this Moodle does not already know
    as another user; created when sync has not seen them yet.

    None for anonymous launches (no ``sub``), and for every launch from a platform that is not linked
    to a Web Services connection: such a platform may be anyone holding the school's registration
    link, and an e-mail or idnumber it claims proves nothing. It gets no learner, neither an existing
    one nor a new one (which could never receive evidence and would make the school's later e-mail
    and idnumber matches ambiguous), until an administrator links it to the school's Moodle."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or registration.connection_id is None:
        return None
    connection_id = registration.connection_id
    learner = _find(session, registration, connection_id, sub, claims)
    if learner is None:
        learner = Learner(
            school_id=registration.school_id,
            full_name=display_name(claims) or f"User {sub}"[:300],
            given_name=c.text(claims.get("given_name"), 150),
            family_name=c.text(claims.get("family_name"), 150),
            email=_email(claims),
            idnumber=_idnumber(claims),
            locale=c.text(c.obj(claims.get(c.LAUNCH_PRESENTATION)).get("locale"), 20),
        )
        session.add(learner)
        session.flush()
    if len(sub) <= MAX_SUB_FOR_IDENTITY:
        _ensure_identity(session, learner, connection_id, sub, claims)
    return learner


def _ensure_identity(session: Session, learner: Learner, connection_id: int, sub: str,
                     claims: dict[str, Any]) -> None:
    existing = session.scalars(select(LearnerIdentity).where(LearnerIdentity.connection_id == connection_id,
                                                             LearnerIdentity.external_id == sub)).first()
    if existing is not None:
        return
    username = c.text(c.obj(claims.get(c.EXT)).get("user_username"), 100)
    try:
        with session.begin_nested():  # a parallel launch of the same user may have just added it
            session.add(LearnerIdentity(learner_id=learner.id, connection_id=connection_id, external_id=sub,
                                        username=username))
    except IntegrityError:
        pass
