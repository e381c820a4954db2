"""The console's operations page: the school's sync, evidence, issuance and outbox figures at a glance
(the same figures as /metrics, from :func:`credbridge.connector.metrics.operations_figures`), the work
that needs an administrator (:func:`credbridge.connector.attention.needs_attention`, the same list as
``credbridge work list``, with a retry for failed and stuck work items), and the learner data
requests: find a learner, export everything about them, erase on request."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from credbridge.connector.attention import needs_attention
from credbridge.connector.awards.audit import audit
from credbridge.connector.metrics import operations_figures
from credbridge.connector.privacy.erase import ErasureRefused, erase_learner
from credbridge.connector.privacy.export import export_learner, find_learners
from credbridge.connector.store.models import Learner, WorkItem
from credbridge.connector.sync.worker import retry_stuck
from credbridge.lti.auth import require_role, require_session
from credbridge.lti.pages.common import who
from credbridge.lti.pages.runtime import unit_of_work
from credbridge.lti.pages.security import check_csrf

bp = Blueprint("operations", __name__, url_prefix="/admin/operations")
bp.before_request(check_csrf)


@bp.get("/")
@require_role("administrator")
def overview() -> Any:
    school_id = require_session().school_id
    query = request.args.get("q", "").strip()[:200]
    with unit_of_work() as session:
        figures = operations_figures(session, school_id)
        found = find_learners(session, school_id, query) if query else []
        attention = needs_attention(session, school_id=school_id, limit=ATTENTION_ROWS)
        session.expunge_all()
    work: dict[str, int] = {}
    for (_kind, status), n in figures.work.items():
        work[status] = work.get(status, 0) + n
    return render_template("pages/admin_operations.html", figures=figures, query=query, found=found, work=work,
                           attention=attention, attention_rows=ATTENTION_ROWS,
                           p50=figures.latency_quantile(0.5), p95=figures.latency_quantile(0.95))


#: lines of "needs attention" on the page (``credbridge work list`` shows more)
ATTENTION_ROWS = 50


@bp.post("/work/<int:item_id>/retry")
@require_role("administrator")
def work_retry(item_id: int) -> Any:
    """Start a failed or stuck work item of the school again, with fresh counts (as ``credbridge work retry``)."""
    launch = require_session()
    with unit_of_work() as session:
        item = session.get(WorkItem, item_id)
        if item is None or item.school_id is None or item.school_id != launch.school_id:
            abort(404)
        if not retry_stuck(session, [item_id]):
            flash(gettext("This work is neither failed nor stuck; nothing was changed."), "error")
            return redirect(url_for(".overview"))
        audit(session, school_id=launch.school_id, actor=who(launch), action="work.retried",
              subject_type="work_item", subject_id=item_id, kind=item.kind, key=item.key)
    flash(gettext("The work will be started again."), "success")
    return redirect(url_for(".overview"))


@bp.get("/learners/<int:learner_id>/export.json")
@require_role("administrator")
def export(learner_id: int) -> Response:
    school_id = require_session().school_id
    with unit_of_work() as session:
        try:
            document = export_learner(session, learner_id, school_id=school_id)
        except LookupError:
            abort(404)
        audit(session, school_id=school_id, actor=who(require_session()), action="learner.exported",
              subject_type="learner", subject_id=learner_id)
    response = Response(json.dumps(document, indent=2, ensure_ascii=False, default=str),
                        mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="learner-{learner_id}.json"'
    response.headers["Cache-Control"] = "no-store"  # personal data: never in a shared cache
    return response


@bp.post("/learners/<int:learner_id>/erase")
@require_role("administrator")
def erase(learner_id: int) -> Any:
    launch = require_session()
    reason = request.form.get("reason", "").strip()
    if request.form.get("confirm") != "yes":
        flash(gettext("Tick the box to confirm the erasure; nothing was changed."), "error")
        return redirect(url_for(".overview", q=str(learner_id)))
    try:
        with unit_of_work() as session:
            learner = session.get(Learner, learner_id)
            if learner is None or learner.school_id != launch.school_id:
                abort(404)
            report = erase_learner(session, learner_id, actor=who(launch), reason=reason,
                                   school_id=launch.school_id)
    except ErasureRefused as refused:
        flash(gettext("The learner was not erased: %(reason)s", reason=str(refused)), "error")
        return redirect(url_for(".overview", q=str(learner_id)))
    flash(gettext("Learner %(id)s erased: %(evidence)s evidence rows deleted, %(kept)s credentials stay valid "
                  "for their holder.", id=learner_id, evidence=report.evidence, kept=report.credentials_kept),
          "success")
    return redirect(url_for(".overview"))
