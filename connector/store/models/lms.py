"""LMS connections and what sync learns of their structure: courses, activities, grade items,
competencies, learners (with one identity per source) and enrolments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from credbridge.connector.store.base import Base, utcnow
from credbridge.connector.store.secrets import EncryptedBytes, Secret


class LmsConnection(Base):
    """One school's Moodle reached over Web Services (REST)."""

    __tablename__ = "lms_connection"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="moodle")
    base_url: Mapped[str] = mapped_column(String(500))
    ws_token: Mapped[Secret] = mapped_column(EncryptedBytes)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    sync_interval_minutes: Mapped[int | None]
    course_filter: Mapped[dict[str, Any]] = mapped_column(
        default=dict, doc="which courses to sync: {'category_idnumber': …} or {'course_ids': […]}"
    )
    site_info: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="release, version, functions")
    last_sync_at: Mapped[datetime | None]
    last_full_sync_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:  # the token never appears, whatever the caller logs
        return f"<LmsConnection {self.id} {self.name!r} {self.base_url}>"


class Course(Base):
    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("connection_id", "moodle_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("lms_connection.id", ondelete="CASCADE"), index=True)
    moodle_id: Mapped[int] = mapped_column(BigInteger)
    shortname: Mapped[str] = mapped_column(String(255))
    idnumber: Mapped[str | None] = mapped_column(String(100))
    fullname: Mapped[str] = mapped_column(String(500))
    category_id: Mapped[int | None] = mapped_column(BigInteger)
    timemodified: Mapped[int | None] = mapped_column(BigInteger, doc="Moodle's course timemodified")
    mode: Mapped[str | None] = mapped_column(String(200), doc="declared form of participation (URI)")
    visible: Mapped[bool] = mapped_column(Boolean, default=True)

    activities: Mapped[list[Activity]] = relationship(back_populates="course", cascade="all, delete-orphan")


class Activity(Base):
    """A course module (cmid) with the settings that matter for evidence and supervision."""

    __tablename__ = "activity"
    __table_args__ = (UniqueConstraint("course_id", "cmid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    cmid: Mapped[int] = mapped_column(BigInteger)
    modname: Mapped[str] = mapped_column(String(50))
    instance: Mapped[int | None] = mapped_column(BigInteger)
    idnumber: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(500))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="quiz time limit, SEB, password…")

    course: Mapped[Course] = relationship(back_populates="activities")


class GradeItem(Base):
    __tablename__ = "grade_item"
    __table_args__ = (UniqueConstraint("course_id", "moodle_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    moodle_id: Mapped[int] = mapped_column(BigInteger)
    itemtype: Mapped[str] = mapped_column(String(30))
    itemmodule: Mapped[str | None] = mapped_column(String(50))
    cmid: Mapped[int | None] = mapped_column(BigInteger)
    idnumber: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(500), default="")
    grademax: Mapped[float | None] = mapped_column(Numeric(12, 5, asdecimal=False))


class CourseCompetency(Base):
    __tablename__ = "course_competency"
    __table_args__ = (UniqueConstraint("course_id", "competency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    competency_id: Mapped[int] = mapped_column(BigInteger)
    idnumber: Mapped[str | None] = mapped_column(String(100))
    shortname: Mapped[str] = mapped_column(String(500))


class Learner(Base):
    """A person credentials are issued to, one per school however many sources know them."""

    __tablename__ = "learner"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    full_name: Mapped[str] = mapped_column(String(300))
    given_name: Mapped[str | None] = mapped_column(String(150))
    family_name: Mapped[str | None] = mapped_column(String(150))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    idnumber: Mapped[str | None] = mapped_column(String(100), index=True)
    locale: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(
        doc="personal data erased on request (connector/privacy): the row stays, pseudonymised, for the awards")

    identities: Mapped[list[LearnerIdentity]] = relationship(back_populates="learner")


class LearnerIdentity(Base):
    """The learner as one source knows them: Moodle user id for a connection (= LTI ``sub``)."""

    __tablename__ = "learner_identity"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("lms_connection.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(100), doc="Moodle user.id as a string")
    username: Mapped[str | None] = mapped_column(String(100))

    learner: Mapped[Learner] = relationship(back_populates="identities")


class Enrolment(Base):
    __tablename__ = "enrolment"
    __table_args__ = (UniqueConstraint("course_id", "learner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(20), default="active", server_default="active",
                                       doc="active | suspended (suspended or ended in Moodle, still enrolled) | left")
    lastcourseaccess: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
