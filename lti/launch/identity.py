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


def display_name(claims: dict[str, Any]) -> str | None:
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    parts = [claims.get("given_name"), claims.get("family_name")]
    joined = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return joined or None


def _find(session: Session, registration: LtiRegistration, sub: str, claims: dict[str, Any]) -> Learner | None:
    candidates = select(Learner).where(Learner.school_id == registration.school_id)
    if registration.connection_id is not None:
        learner = session.scalars(
            select(Learner).join(LearnerIdentity)
            .where(LearnerIdentity.connection_id == registration.connection_id, LearnerIdentity.external_id == sub)
        ).first()
        if learner is not None:
            return learner
        # a learner this Moodle knows as another user is another person (as in sync's learners_for)
        candidates = candidates.where(Learner.id.not_in(select(LearnerIdentity.learner_id).where(
            LearnerIdentity.connection_id == registration.connection_id)))
    lis = claims.get(c.LIS) if isinstance(claims.get(c.LIS), dict) else {}
    sourcedid = (lis or {}).get("person_sourcedid")
    if isinstance(sourcedid, str) and sourcedid.strip():
        matches = session.scalars(candidates.where(Learner.idnumber == sourcedid.strip())).all()
        if len(matches) == 1:
            return matches[0]
    email = claims.get("email")
    if isinstance(email, str) and email.strip():
        matches = session.scalars(candidates.where(func.lower(Learner.email) == email.strip().lower())).all()
        if len(matches) == 1:
            return matches[0]
    return None


def link_learner(session: Session, registration: LtiRegistration, claims: dict[str, Any]) -> Learner | None:
    """The learner for this launch: by identity on the registration's connection, else by idnumber
    (lis.person_sourcedid), else by a unique email among learners this Moodle does not already know
    as another user; created when sync has not seen them yet.
    Anonymous launches (no ``sub``) have none."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return None
    learner = _find(session, registration, sub, claims)
    if learner is None:
        lis = claims.get(c.LIS) if isinstance(claims.get(c.LIS), dict) else {}
        email = claims.get("email")
        learner = Learner(
            school_id=registration.school_id,
            full_name=display_name(claims) or f"User {sub}",
            given_name=claims.get("given_name") or None,
            family_name=claims.get("family_name") or None,
            email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
            idnumber=((lis or {}).get("person_sourcedid") or None),
            locale=(claims.get(c.LAUNCH_PRESENTATION) or {}).get("locale"),
        )
        session.add(learner)
        session.flush()
    if registration.connection_id is not None:
        _ensure_identity(session, learner, registration.connection_id, sub, claims)
    return learner


def _ensure_identity(session: Session, learner: Learner, connection_id: int, sub: str,
                     claims: dict[str, Any]) -> None:
    existing = session.scalars(select(LearnerIdentity).where(LearnerIdentity.connection_id == connection_id,
                                                             LearnerIdentity.external_id == sub)).first()
    if existing is not None:
        return
    username = (claims.get(c.EXT) or {}).get("user_username") if isinstance(claims.get(c.EXT), dict) else None
    try:
        with session.begin_nested():  # a parallel launch of the same user may have just added it
            session.add(LearnerIdentity(learner_id=learner.id, connection_id=connection_id, external_id=sub,
                                        username=username))
    except IntegrityError:
        pass
