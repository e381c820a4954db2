"""LTI 1.3: platform registrations, deployments, the tool's signing keys, single-use login state
and nonces, launch sessions, and the resource links teachers attached templates to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from credbridge.connector.store.base import Base, utcnow
from credbridge.connector.store.secrets import EncryptedBytes, Secret


class LtiRegistration(Base):
    """A platform (a school's Moodle) that may launch the tool, found by (issuer, client_id)."""

    __tablename__ = "lti_registration"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("lms_connection.id", ondelete="SET NULL"),
        doc="the Web Services connection to the same Moodle: LTI sub == Moodle user id there",
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(500))
    auth_token_url: Mapped[str] = mapped_column(String(500))
    token_audience: Mapped[str | None] = mapped_column(String(500))
    key_set_url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="active", doc="active | disabled")
    registered_by: Mapped[str] = mapped_column(String(20), default="manual", doc="manual | dynamic")
    platform_config: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="openid-configuration")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[LtiDeployment]] = relationship(back_populates="registration")


class LtiDeployment(Base):
    __tablename__ = "lti_deployment"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    registration: Mapped[LtiRegistration] = relationship(back_populates="deployments")


class SigningKey(Base):
    """A private key of the tool (RS256, LTI) or of a school's issuer (EdDSA, credentials).

    Retired keys stay published until ``unpublish_after`` so tokens and credentials signed before a
    rotation still verify.
    """

    __tablename__ = "signing_key"
    __table_args__ = (
        UniqueConstraint("kid"),
        # One current key per school and purpose (and one current tool key), enforced by the database:
        # two workers signing a school's first credential at the same moment must not both create one.
        Index("uq_signing_key_current_school", "school_id", "purpose", unique=True,
              sqlite_where=text("retired_at IS NULL AND school_id IS NOT NULL"),
              postgresql_where=text("retired_at IS NULL AND school_id IS NOT NULL")),
        Index("uq_signing_key_current_tool", "purpose", unique=True,
              sqlite_where=text("retired_at IS NULL AND school_id IS NULL"),
              postgresql_where=text("retired_at IS NULL AND school_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), doc="lti | credential")
    kid: Mapped[str] = mapped_column(String(100))
    alg: Mapped[str] = mapped_column(String(20))
    private_key: Mapped[Secret] = mapped_column(EncryptedBytes, doc="PKCS#8 PEM, encrypted at rest")
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
    unpublish_after: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<SigningKey {self.kid} {self.purpose} {self.alg}>"


class LtiLoginState(Base):
    """State and nonce of an OIDC login in progress; single use, short-lived."""

    __tablename__ = "lti_login_state"

    state: Mapped[str] = mapped_column(String(100), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100))
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    target_link_uri: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LtiUsedNonce(Base):
    """Nonces already accepted, kept until their token could no longer be valid (replay guard)."""

    __tablename__ = "lti_used_nonce"
    __table_args__ = (UniqueConstraint("registration_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LaunchSession(Base):
    """Who is asking, after a verified launch: the web session cookie only carries this row's id."""

    __tablename__ = "launch_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    deployment_id: Mapped[str | None] = mapped_column(String(255))
    context_id: Mapped[str | None] = mapped_column(String(255), doc="LTI context.id = Moodle course id")
    context_title: Mapped[str | None] = mapped_column(String(500))
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255), doc="LTI sub, or admin:<id> for console logins")
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learner.id", ondelete="SET NULL"))
    admin_user_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id", ondelete="CASCADE"))
    roles: Mapped[list[Any]] = mapped_column(default=list, doc="instructor | learner | administrator")
    name: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str | None] = mapped_column(String(20))
    claims: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="services endpoints, custom, DL settings")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ResourceLinkTemplate(Base):
    """Credential templates a teacher attached to an LTI resource link by deep linking."""

    __tablename__ = "resource_link_template"
    __table_args__ = (UniqueConstraint("registration_id", "resource_link_id", "template_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    template_code: Mapped[str] = mapped_column(String(100))
    lineitem_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
