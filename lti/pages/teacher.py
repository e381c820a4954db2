"""The teacher's course view: learners × units/credentials, sync, award decisions, preview."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from sqlalchemy import select

from credbridge.connector.store.models import Award, Course, Enrolment, LaunchSession, LtiRegistration, WorkItem
from credbridge.connector.sync.worker import request_course_sync
from credbridge.lti.auth import require_course, require_role
from credbridge.lti.pages import charts
from credbridge.lti.pages.award_actions import ACTIONS, ActionRefused, apply
from credbridge.lti.pages.common import ACTION_LABELS, STATE_LABELS, who
from credbridge.lti.pages.preview import credential_preview
from credbridge.lti.pages.queries import STATES, Matrix, course_columns, course_matrix, find_course, state_counts
from credbridge.lti.pages.runtime import evaluation_sources, unit_of_work
from credbridge.lti.pages.security import check_csrf

bp = Blueprint("teacher", __name__, url_prefix="/teacher")
bp.before_request(check_csrf)


def _locale() -> str:
    return str(get_locale() or "en")


def _course_for(session: Any, launch: LaunchSession, context_id: str) -> Any:
    """The launched course, on the Moodle connection of the platform the teacher launched from.

    Without a linked connection there is no telling which of the school's Moodles the context id
    belongs to, so nothing is shown rather than another Moodle's course of the same id.
    """
    registration = session.get(LtiRegistration, launch.registration_id) if launch.registration_id else None
    if registration is None or registration.connection_id is None:
        abort(404, description=gettext("This platform is not linked to a Moodle connection yet: a school "
                                       "administrator links it in Admin › LTI registrations."))
    course = find_course(session, launch.school_id, context_id, registration.connection_id)
    if course is None:
        abort(404, description=gettext("This course has not been synchronised from Moodle yet."))
    return course


def _matrix(context_id: str, search: str = "") -> tuple[LaunchSession, Matrix]:
    launch = require_course(context_id)
    with unit_of_work() as session:
        course = _course_for(session, launch, context_id)
        matrix = course_matrix(session, launch.school_id, course, context_id, search=search, locale=_locale(),
                               sources=evaluation_sources())
        session.expunge_all()
    return launch, matrix


@bp.get("/course/<context_id>")
@require_role("instructor")
def course(context_id: str) -> Any:
    search = request.args.get("q", "")[:200]
    state_filter = request.args.get("state", "")
    unit_filter = request.args.get("unit", "")
    launch, matrix = _matrix(context_id, search)
    columns = [c for c in matrix.columns if not unit_filter or c.code == unit_filter]
    learners = [lr for lr in matrix.learners
                if not state_filter or any(matrix.cell(lr.id, c.code).state == state_filter for c in columns)]
    counts = state_counts(matrix)
    labels = {s: str(STATE_LABELS[s]) for s in STATES}
    chart = charts.stacked_bars(
        [(c.title or c.code, dict(n)) for c, n in counts], labels,
        title=gettext("Progress per unit and credential"),
        description=gettext("For each unit and credential, how many learners are in each state."),
    ) if counts and matrix.learners else None
    return render_template("pages/teacher_course.html", launch=launch, matrix=matrix, columns=columns,
                           learners=learners, counts=counts, chart=chart, states=STATES, search=search,
                           state_filter=state_filter, unit_filter=unit_filter, context_id=context_id,
                           work_id=request.args.get("work", type=int))


@bp.get("/course/<context_id>/matrix.json")
@require_role("instructor")
def matrix_json(context_id: str) -> Any:
    _launch, matrix = _matrix(context_id, request.args.get("q", "")[:200])
    return jsonify({
        "course": {"id": matrix.course.moodle_id, "name": matrix.course.fullname},
        "columns": [{"kind": c.kind, "code": c.code, "version": c.version, "title": c.title} for c in matrix.columns],
        "learners": [{"id": lr.id, "name": lr.full_name,
                      "cells": {c.code: {"state": matrix.cell(lr.id, c.code).state,
                                         "missing": matrix.cell(lr.id, c.code).missing,
                                         "award_id": getattr(matrix.cell(lr.id, c.code).award, "id", None)}
                                for c in matrix.columns}}
                     for lr in matrix.learners],
    })


@bp.post("/course/<context_id>/sync")
@require_role("instructor")
def sync(context_id: str) -> Any:
    launch = require_course(context_id)
    with unit_of_work() as session:
        course = _course_for(session, launch, context_id)
        item = request_course_sync(session, course.connection_id, course.moodle_id, who(launch))
        session.flush()
        work_id = item.id
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"work_id": work_id, "progress_url": url_for(".sync_progress", context_id=context_id,
                                                                     work_id=work_id)}), 202
    flash(gettext("Synchronisation requested. Progress is shown below."), "info")
    return redirect(url_for(".course", context_id=context_id, work=work_id))


@bp.get("/course/<context_id>/sync/<int:work_id>.json")
@require_role("instructor")
def sync_progress(context_id: str, work_id: int) -> Any:
    launch = require_course(context_id)
    with unit_of_work() as session:
        course = _course_for(session, launch, context_id)
        item = session.get(WorkItem, work_id)
        if (item is None or item.school_id != launch.school_id
                or (item.payload or {}).get("course_moodle_id") != course.moodle_id):
            abort(404)
        progress = dict(item.progress or {})
        body = {"status": item.status, "done": progress.get("done", 0), "total": progress.get("total"),
                "stage": progress.get("stage", ""), "error": item.last_error if item.status == "failed" else None}
    return jsonify(body)


def _own_awards(session: Any, launch: LaunchSession, course: Course, context_id: str, ids: list[int]) -> list[Award]:
    """Only awards the course matrix shows: of learners enrolled in the course now, for the
    credentials of this course, in the launch's school."""
    if not ids:
        return []
    enrolled = select(Enrolment.learner_id).where(Enrolment.course_id == course.id, Enrolment.active.is_(True))
    templates = [c.code for c in course_columns(session, launch.school_id, course, context_id) if c.kind == "template"]
    awards = list(session.scalars(select(Award).where(Award.id.in_(ids), Award.school_id == launch.school_id,
                                                      Award.learner_id.in_(enrolled),
                                                      Award.template_code.in_(templates))))
    if len(awards) != len(set(ids)):
        abort(403, description=gettext("Some of these awards are not in your course."))
    return awards


@bp.post("/course/<context_id>/awards")
@require_role("instructor")
def decide(context_id: str) -> Any:
    launch = require_course(context_id)
    action = request.form.get("action", "")
    reason = request.form.get("reason", "").strip()[:1000]
    try:
        ids = sorted({int(v) for v in request.form.getlist("award_id")})
    except ValueError:
        abort(400, description="award_id must be a number")
    if action not in ACTIONS:
        abort(400, description=f"unknown action {action!r}")
    if not ids:
        flash(gettext("Select at least one learner's credential first."), "warning")
        return redirect(url_for(".course", context_id=context_id))
    if action == "revoke" and not reason:
        flash(gettext("A revocation needs a reason; nothing was changed."), "error")
        return redirect(url_for(".course", context_id=context_id))
    refused: list[str] = []
    with unit_of_work() as session:
        course = _course_for(session, launch, context_id)
        awards = _own_awards(session, launch, course, context_id, ids)
        for award in awards:
            try:
                with session.begin_nested():
                    apply(session, award, action, actor=who(launch), reason=reason)
            except ActionRefused as error:
                refused.append(f"#{award.id}: {error.message}")
    done = len(ids) - len(refused)
    if done:
        flash(gettext("%(action)s — completed: %(count)d", action=ACTION_LABELS[action], count=done), "success")
    for message in refused:
        flash(message, "error")
    return redirect(url_for(".course", context_id=context_id))


@bp.get("/course/<context_id>/awards/<int:award_id>/preview")
@require_role("instructor")
def preview(context_id: str, award_id: int) -> Any:
    launch = require_course(context_id)
    with unit_of_work() as session:
        course = _course_for(session, launch, context_id)
        award = _own_awards(session, launch, course, context_id, [award_id])[0]
        result = credential_preview(session, award, _locale())
        session.expunge_all()
    if request.args.get("format") == "json":
        return jsonify(result.document)
    return render_template("pages/preview.html", award=award, preview=result, context_id=context_id,
                           document_json=json.dumps(result.document, indent=2, ensure_ascii=False, default=str))
