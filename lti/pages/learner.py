"""The learner's own page: units and credentials, progress, downloads and a share link."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template
from flask_babel import get_locale, gettext

from credbridge.connector.store.models import Award, Learner, School
from credbridge.lti.auth import require_learner, require_role, require_session
from credbridge.lti.pages.common import identity_of, public_verification_url, settle_locale
from credbridge.lti.pages.queries import annex_rows, course_matrix, learner_awards, learner_courses
from credbridge.lti.pages.runtime import evaluation_sources, unit_of_work
from credbridge.lti.pages.security import check_csrf

bp = Blueprint("learner", __name__, url_prefix="/learner")
bp.before_request(check_csrf)
# settle the language before any view opens a unit of work (see verify.py)
bp.before_request(settle_locale)


def _own_learner_id() -> int:
    launch = require_session()
    if launch.learner_id is None:
        abort(403, description=gettext("Your Moodle account is not linked to a learner record yet."))
    return launch.learner_id


@bp.get("/")
@require_role("learner")
def home() -> Any:
    learner_id = _own_learner_id()
    launch = require_session()
    with unit_of_work() as session:
        learner = session.get(Learner, learner_id)
        if learner is None or learner.school_id != launch.school_id:
            abort(403)
        awards = learner_awards(session, learner_id)
        courses = learner_courses(session, learner_id)
        # the same cells the teacher sees, for this learner only
        sources, locale = evaluation_sources(), str(get_locale() or "en")
        progress = [course_matrix(session, launch.school_id, course, str(course.moodle_id), sources=sources,
                                  locale=locale, learner_id=learner_id) for course in courses]
        school = identity_of(session.get(School, launch.school_id))
        session.expunge_all()
    return render_template("pages/learner.html", learner=learner, awards=awards, progress=progress, page_school=school)


@bp.get("/records.json")
@require_role("learner")
def records_json() -> Any:
    learner_id = _own_learner_id()
    with unit_of_work() as session:
        rows = learner_awards(session, learner_id)
        body = {"learner_id": learner_id, "awards": [
            {"id": a.id, "template": a.template_code, "version": a.template_version, "status": a.status,
             "credentials": [{"uuid": c.uuid, "format": c.format, "revoked": c.revoked_at is not None,
                              "url": public_verification_url(c.uuid)}
                             for c in creds]}
            for a, creds in rows]}
    return jsonify(body)


@bp.get("/awards/<int:award_id>")
@require_role("learner")
def award(award_id: int) -> Any:
    launch = require_session()
    with unit_of_work() as session:
        found = session.get(Award, award_id)
        if found is None or found.school_id != launch.school_id:
            abort(404)
        require_learner(found.learner_id)
        facts = {f.id: f for f in evaluation_sources().evidence_facts(session, found.learner_id)}
        annex = annex_rows(found.snapshot, str(get_locale() or "en"), facts)
        school = identity_of(session.get(School, found.school_id))
        session.expunge_all()
    return render_template("pages/learner_award.html", award=found, annex=annex, page_school=school)
