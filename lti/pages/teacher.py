"""The teacher's course view: learners × units/credentials, sync, award decisions, preview."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from sqlalchemy import func, select

from credbridge.connector.awards.actions import PUBLIC_REVOCATION_REASONS
from credbridge.connector.store.models import (
    Award,
    Course,
    Enrolment,
    LaunchSession,
    Learner,
    LmsConnection,
    LtiRegistration,
    School,
    WorkItem,
)
from credbridge.connector.sync.store import EVALUATE
from credbridge.connector.sync.worker import request_course_sync
from credbridge.lti.auth import require_course, require_role
from credbridge.lti.limits import database_id
from credbridge.lti.pages import charts, explain
from credbridge.lti.pages.award_actions import ACTIONS, ActionRefused, apply
from credbridge.lti.pages.common import STATE_LABELS, identity_of, settle_locale, who
from credbridge.lti.pages.preview import credential_preview
from credbridge.lti.pages.queries import (
    ACTIONS_BY_STATUS,
    STATES,
    Matrix,
    course_columns,
    course_matrix,
    find_course,
    shown_enrolment,
    state_counts,
    title_text,
)
from credbridge.lti.pages.runtime import evaluation_sources, unit_of_work
from credbridge.lti.pages.security import check_csrf

bp = Blueprint("teacher", __name__, url_prefix="/teacher")
bp.before_request(check_csrf)
# settle the language before any view opens a unit of work (see verify.py)
bp.before_request(settle_locale)


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


def _matrix(context_id: str, search: str = "") -> tuple[LaunchSession, Matrix, str | None, Any]:
    """The course matrix, the error of the course's Moodle connection (what Moodle hides from sync),
    and the school's identity for the page header (read in the same transaction)."""
    launch = require_course(context_id)
    with unit_of_work() as session:
        course = _course_for(session, launch, context_id)
        # held here, the school stays in the session's (weak) identity map: the matrix's evaluation
        # reads it again, and would otherwise query it a second time
        school = session.get(School, launch.school_id)
        matrix = course_matrix(session, launch.school_id, course, context_id, search=search, locale=_locale(),
                               sources=evaluation_sources())
        connection = session.get(LmsConnection, course.connection_id)
        error = connection.last_error if connection is not None else None
        identity = identity_of(school)
        session.expunge_all()
    return launch, matrix, error, identity


@bp.get("/course/<context_id>")
@require_role("instructor")
def course(context_id: str) -> Any:
    search = request.args.get("q", "")[:200]
    state_filter = request.args.get("state", "")
    unit_filter = request.args.get("unit", "")
    launch, matrix, connection_error, identity = _matrix(context_id, search)
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
    # what the action bar counts: decisions waiting, and what can be selected at all
    shown = [matrix.cell(lr.id, c.code) for lr in learners for c in columns]
    waiting = sum(1 for cell in shown if cell.award is not None and cell.award.status == "pending_approval")
    selectable = sum(1 for cell in shown if cell.award is not None and cell.actions)
    return render_template("pages/teacher_course.html", launch=launch, matrix=matrix, columns=columns,
                           learners=learners, counts=counts, chart=chart, states=STATES, search=search,
                           state_filter=state_filter, unit_filter=unit_filter, context_id=context_id,
                           work_id=request.args.get("work", type=int), waiting=waiting, selectable=selectable,
                           page_school=identity, connection_error=connection_error)


def _identity(school_id: int) -> Any:
    with unit_of_work() as session:
        return identity_of(session.get(School, school_id))


@bp.get("/course/<context_id>/matrix.json")
@require_role("instructor")
def matrix_json(context_id: str) -> Any:
    _launch, matrix, _error, _school = _matrix(context_id, request.args.get("q", "")[:200])
    return jsonify({
        "course": {"id": matrix.course.moodle_id, "name": matrix.course.fullname},
        "columns": [{"kind": c.kind, "code": c.code, "version": c.version, "title": c.title} for c in matrix.columns],
        "learners": [{"id": lr.id, "name": lr.full_name,
                      "enrolment": "suspended" if lr.id in matrix.suspended else "active",
                      "cells": {c.code: {"state": matrix.cell(lr.id, c.code).state,
                                         "missing": [explain.plain(n) for n in matrix.cell(lr.id, c.code).needs],
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
        status = item.status
        if status == "done":
            # the sync queued an evaluation of each learner whose evidence changed: the page refreshes
            # once those have decided too, so that it shows the new states, not half of them
            evaluating = session.scalar(select(func.count()).select_from(WorkItem).where(
                WorkItem.school_id == launch.school_id, WorkItem.kind == EVALUATE,
                WorkItem.status.in_(("pending", "running")), WorkItem.created_at >= item.created_at)) or 0
            status = "evaluating" if evaluating else "done"
        body = {"status": status, "done": progress.get("done", 0), "total": progress.get("total"),
                "stage": progress.get("stage", ""), "error": item.last_error if item.status == "failed" else None}
    return jsonify(body)


def _own_awards(session: Any, launch: LaunchSession, course: Course, context_id: str, ids: list[int]) -> list[Award]:
    """Only awards the course matrix shows: of learners enrolled in the course now, for the
    credentials of this course, in the launch's school."""
    if not ids:
        return []
    enrolled = select(Enrolment.learner_id).where(Enrolment.course_id == course.id, shown_enrolment())
    templates = [c.code for c in course_columns(session, launch.school_id, course, context_id)
                 if c.kind == "template"]
    awards = list(session.scalars(select(Award).where(Award.id.in_(ids), Award.school_id == launch.school_id,
                                                      Award.learner_id.in_(enrolled),
                                                      Award.template_code.in_(templates))))
    if len(awards) != len(set(ids)):
        abort(403, description=gettext("Some of these awards are not in your course."))
    return awards


def _done_message(action: str, names: str) -> str:
    # literal calls, so that the catalogue extractor finds each message
    if action == "approve":
        return gettext("Approved for %(names)s.", names=names)
    if action == "hold":
        return gettext("Put on hold for %(names)s.", names=names)
    if action == "issue_now":
        return gettext("Issuing now for %(names)s.", names=names)
    return gettext("Revoked for %(names)s.", names=names)


def _refusal(error: ActionRefused, award: Award, name: str) -> str:
    """Why an action did not apply to one learner's credential, in the reader's language."""
    if error.code == "wrong_state":
        state = STATE_LABELS.get({"issuing": "approved", "dead": "failed"}.get(award.status, award.status))
        return gettext("%(name)s: not possible while the credential is “%(state)s”; nothing was changed.",
                       name=name, state=state or award.status)
    return gettext("%(name)s: this could not be done; nothing was changed.", name=name)


def _described(session: Any, awards: list[Award]) -> dict[int, str]:
    """Each award as "learner (credential)" for the messages and the confirmation."""
    locale = _locale()
    learners = {lr.id: lr.full_name for lr in session.scalars(
        select(Learner).where(Learner.id.in_({a.learner_id for a in awards})))}
    titles = {a.id: title_text((a.snapshot or {}).get("title"), locale) or a.template_code for a in awards}
    return {a.id: f"{learners.get(a.learner_id, '?')} ({titles[a.id]})" for a in awards}


def _back(context_id: str, award_ids: list[int]) -> Any:
    """Back where the teacher acted: the preview of one credential, else the course."""
    if request.form.get("return_to") == "preview" and len(award_ids) == 1:
        return redirect(url_for(".preview", context_id=context_id, award_id=award_ids[0]))
    return redirect(url_for(".course", context_id=context_id))


@bp.post("/course/<context_id>/awards")
@require_role("instructor")
def decide(context_id: str) -> Any:
    """Approve, hold, issue now; a revocation asks for confirmation and a public reason first."""
    launch = require_course(context_id)
    action = request.form.get("action", "")
    try:
        ids = sorted({database_id(v) for v in request.form.getlist("award_id")})
    except ValueError:
        abort(400, description="award_id must be a number")
    if action not in ACTIONS:
        abort(400, description=f"unknown action {action!r}")
    if not ids:
        flash(gettext("Select at least one learner's credential first."), "warning")
        return redirect(url_for(".course", context_id=context_id))
    if action == "revoke" and request.form.get("confirmed") != "yes":
        return _confirm_revocation(launch, context_id, ids)
    public_reason = request.form.get("public_reason", "") or None
    note = request.form.get("reason", "").strip()[:1000]
    if action == "revoke" and public_reason not in PUBLIC_REVOCATION_REASONS:
        return _confirm_revocation(launch, context_id, ids, note=note, error=gettext(
            "Choose the reason that will be shown publicly; nothing was revoked."))
    refused: list[str] = []
    done: list[str] = []
    with unit_of_work() as session:
        course = _course_for(session, launch, context_id)
        awards = _own_awards(session, launch, course, context_id, ids)
        names = _described(session, awards)
        for award in awards:
            try:
                with session.begin_nested():
                    apply(session, award, action, actor=who(launch), reason=note, public_reason=public_reason)
                done.append(names[award.id])
            except ActionRefused as error:
                refused.append(_refusal(error, award, names[award.id]))
    if done:
        flash(_done_message(action, ", ".join(done)), "success")
    for message in refused:
        flash(message, "error")
    return _back(context_id, ids)


def _confirm_revocation(launch: LaunchSession, context_id: str, ids: list[int], *, note: str = "",
                        error: str | None = None) -> Any:
    """The page that names whose credential is revoked, asks for the public reason and a private note."""
    with unit_of_work() as session:
        course = _course_for(session, launch, context_id)
        awards = [a for a in _own_awards(session, launch, course, context_id, ids)
                  if "revoke" in ACTIONS_BY_STATUS.get(a.status, ())]
        names = _described(session, awards)
        chosen = [(a.id, names[a.id]) for a in awards]
    if not chosen:
        flash(gettext("None of the selected credentials can be revoked."), "warning")
        return redirect(url_for(".course", context_id=context_id))
    return render_template("pages/revoke_confirm.html", chosen=chosen, context_id=context_id, note=note,
                           error=error, reasons=list(PUBLIC_REVOCATION_REASONS),
                           page_school=_identity(launch.school_id),
                           return_to=request.form.get("return_to", "")), (400 if error else 200)


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
                           actions=ACTIONS_BY_STATUS.get(award.status, ()), page_school=_identity(launch.school_id),
                           document_json=json.dumps(result.document, indent=2, ensure_ascii=False, default=str))
