"""Which Web Services connection an LTI registration belongs to.

Moodle's LTI issuer is its wwwroot, which is also the connection's base URL: matching the two tells
which of a school's Moodles a launch's course and user ids refer to.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.store.models import LmsConnection, LtiRegistration


def _addresses(url: str) -> list[str]:
    address = url.rstrip("/")
    return [address, address + "/"]


def connection_at(session: Session, school_id: int, issuer: str) -> LmsConnection | None:
    """The school's connection to the Moodle whose wwwroot is ``issuer``."""
    return session.scalars(select(LmsConnection).where(LmsConnection.school_id == school_id,
                                                       LmsConnection.base_url.in_(_addresses(issuer)))).first()


def link_unlinked_registrations(session: Session, connection: LmsConnection, *, actor: str) -> list[LtiRegistration]:
    """Link the school's registrations made before this connection existed, whose issuer is its address."""
    rows = list(session.scalars(select(LtiRegistration).where(
        LtiRegistration.school_id == connection.school_id, LtiRegistration.connection_id.is_(None),
        LtiRegistration.issuer.in_(_addresses(connection.base_url)))))
    for registration in rows:
        registration.connection_id = connection.id
        audit(session, school_id=connection.school_id, actor=actor, action="registration.linked",
              subject_type="lti_registration", subject_id=registration.id, connection=connection.name)
    return rows
