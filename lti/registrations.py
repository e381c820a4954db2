"""Finding the platform registration a login or launch belongs to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.store.models import LtiRegistration
from credbridge.lti.launch.errors import LaunchError


def find_registration(session: Session, issuer: str, client_id: str | None) -> LtiRegistration:
    """By (iss, client_id); without client_id only when the issuer has exactly one registration."""
    query = select(LtiRegistration).where(LtiRegistration.issuer == issuer)
    if client_id:
        registration = session.scalars(query.where(LtiRegistration.client_id == client_id)).first()
        if registration is None:
            raise LaunchError("registration", f"no registration for issuer {issuer!r} and client_id {client_id!r}",
                              status=401)
    else:
        found = session.scalars(query).all()
        if len(found) != 1:
            raise LaunchError("client_id", f"the login has no client_id and issuer {issuer!r} has "
                              f"{len(found)} registrations", status=400)
        registration = found[0]
    if registration.status != "active":
        raise LaunchError("registration", f"the registration of {issuer!r} is {registration.status}", status=403)
    return registration
