"""Landing pages after a launch: the teacher's course view and the learner's own records. Minimal on
purpose; the full pages build on these routes and their authorisation."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from credbridge.connector.store.models import (
    Course,
    Enrolment,
    Learner,
    LtiRegistration,
    ResourceLinkTemplate,
)
from credbridge.lti.auth import current_session, require_course, require_learner, require_role
from credbridge.lti.launch.claims import numeric_id
from credbridge.lti.launch.identity import ANONYMOUS
from credbridge.lti.views.lti import runtime

bp = Blueprint("pages", __name__)


@bp.get("/")
def home() -> str | Response:
    session = current_session()
    if session is None:
        return render_template("error.html", title="credbridge",
                               message=gettext("Open credbridge from an activity in your Moodle course."))
    if session.learner_id is not None and not session.context_id:
        return redirect(f"/learners/{session.learner_id}")
    if session.subject == ANONYMOUS:
        # LTI allows launches without `sub`; with no one to match, there are no records to show
        return render_template("error.html", title="credbridge", check="sub", message=gettext(
            "The platform opened credbridge without saying who you are, so there are no records to show."),
            hint=gettext("Ask your Moodle administrator to let this tool receive the user's identity, "
                         "then open the activity again."))
    return render_template("error.html", title="credbridge", message=gettext(
        "Signed in as %(name)s. Teachers open credbridge from a course; learners see their own records here "
        "once the school's Moodle has been synced.", name=session.name or gettext("guest")))


@bp.get("/courses/<context_id>")
@require_role("instructor")
def course(context_id: str) -> str:
    session = require_course(context_id)
    with runtime().db.unit_of_work() as db:
        registration = db.get(LtiRegistration, session.registration_id)
        if registration is None or registration.school_id != session.school_id:
            abort(403, description="this course belongs to another school")
        learners: list[Learner] = []
        title = session.context_title or f"Course {context_id}"
        moodle_id = numeric_id(context_id)
        if registration.connection_id is not None and moodle_id is not None:
            stored = db.scalars(select(Course).where(Course.connection_id == registration.connection_id,
                                                     Course.moodle_id == moodle_id)).first()
            if stored is not None:
                title = stored.fullname
                learners = list(db.scalars(
                    select(Learner).join(Enrolment, Enrolment.learner_id == Learner.id)
                    .where(Enrolment.course_id == stored.id, Enrolment.active.is_(True),
                           Learner.school_id == session.school_id)
                    .order_by(Learner.full_name)))
        templates = sorted(set(db.scalars(select(ResourceLinkTemplate.template_code).where(
            ResourceLinkTemplate.registration_id == session.registration_id,
            ResourceLinkTemplate.context_id == context_id))))
        db.expunge_all()
    return render_template("teacher_course.html", title=title, learners=learners, session=session,
                           templates=templates)


@bp.get("/learners/<int:learner_id>")
def learner(learner_id: int) -> str:
    session = require_learner(learner_id)
    with runtime().db.unit_of_work() as db:
        row = db.get(Learner, learner_id)
        if row is None or row.school_id != session.school_id:
            abort(403 if row is not None else 404, description="no such learner in your school")
        db.expunge(row)
    return render_template("learner.html", learner=row)


@bp.get("/my")
@require_role("learner")
def my_records() -> Response:
    session = current_session()
    if session is None or session.learner_id is None:
        abort(403, description="this session has no learner record")
    return redirect(f"/learners/{session.learner_id}")
