"""What the school console calls the store's codes: award and outbox states, issuing targets,
registration states, audit actions and actors, in the reader's language.

The store keeps short English codes (``pending_approval``, ``embedded``, ``award.approved``); a
person reads these labels instead. A code without a label (a new one added elsewhere) is shown as
itself, in a ``<code>`` element, so it is visibly a code rather than a sentence.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _
from markupsafe import Markup, escape

#: every Award.status (connector/store/models/issuance.py AWARD_STATES)
AWARD_STATUS = {
    "pending_approval": _("Waiting for the teacher's approval"),
    "approved": _("Approved, waiting to be issued"),
    "held": _("On hold by the teacher"),
    "issuing": _("Being issued"),
    "issued": _("Issued"),
    "failed": _("Issuing failed, will be retried"),
    "dead": _("Issuing gave up"),
    "revoked": _("Revoked"),
    "flagged": _("Stopped: the evidence changed"),
}

#: what an outbox row is waiting for, as an administrator needs to know it (see :func:`outbox_state`)
OUTBOX_STATE = {
    "waiting_teacher": _("Waiting for the teacher's approval"),
    "held": _("On hold by the teacher"),
    "stopped": _("Stopped: the evidence changed"),
    "revoked": _("Not sent: the credential was revoked"),
    "due": _("Waiting to be sent"),
    "sending": _("Being sent"),
    "failed": _("Failed, will be retried"),
    "dead": _("Gave up after repeated failures"),
    "sent": _("Sent"),
}
#: an outbox row's own status (OutboxItem.status), as the audit log's "before" of a sending names it
OUTBOX_ITEM_STATUS = {
    "pending": _("Waiting to be sent"),
    "sending": _("Being sent"),
    "sent": _("Sent"),
    "failed": _("Failed, will be retried"),
    "dead": _("Gave up after repeated failures"),
}
#: the filter's groups, in the order a person looks for them
OUTBOX_FILTERS = ("waiting_teacher", "held", "stopped", "due", "sending", "failed", "dead")

TARGETS = {
    "embedded": _("credbridge (signed by the school)"),
    "edc": _("Europass Digital Credentials"),
    "badgr": _("Badgr / Canvas Credentials"),
    "credly": _("Credly"),
    "accredible": _("Accredible"),
    "webhook": _("The school's own system (webhook)"),
}

REGISTRATION_STATUS = {"active": _("Active"), "disabled": _("Disabled")}
REGISTERED_BY = {"manual": _("Entered by hand"), "dynamic": _("Dynamic registration from Moodle")}

AUDIT_ACTIONS = {
    "admin.login": _("Logged in to the school console"),
    "admin.login_failed": _("Failed login to the school console"),
    "admin.login_locked": _("Login refused after too many failures"),
    "admin.created": _("Console login created"),
    "admin.password_set": _("Console password changed"),
    "award.decided": _("Earned a micro-credential"),
    "award.approved": _("Approved for issuing"),
    "award.held": _("Put on hold"),
    "award.issue_now": _("Issued at once on request"),
    "award.retried": _("Issuing tried again"),
    "award.issuing": _("Issuing started"),
    "award.issued": _("Credential issued"),
    "award.dead": _("Issuing gave up"),
    "award.flagged": _("Evidence changed after the credential was earned"),
    "award.unflagged": _("Evidence holds again"),
    "award.flag_dismissed": _("Teacher decided the credential stands"),
    "award.notified": _("Learner told by e-mail"),
    "award.revoked": _("Credential revoked"),
    "credential.issued": _("Credential document signed"),
    "credential.revoked": _("Credential marked revoked in the status list"),
    "outbox.created": _("Queued for issuing"),
    "outbox.sending": _("Sending started"),
    "outbox.sent": _("Sent"),
    "outbox.failed": _("Sending failed, will be retried"),
    "outbox.dead": _("Sending gave up"),
    "outbox.revived": _("Sending tried again"),
    "outbox.revoked_at_target": _("Revoked at the issuing service"),
    "work.retried": _("Failed or stuck work started again"),
    "mapping_file.imported": _("Mapping file saved"),
    "mapping_file.restored": _("Earlier mapping version restored"),
    "school.created": _("School created"),
    "school.updated": _("School profile changed"),
    "connection.created": _("Moodle connection added"),
    "connection.add": _("Moodle connection added"),
    "connection.remove": _("Moodle connection removed"),
    "registration.created": _("LTI registration added"),
    "registration.linked": _("LTI registration linked to a connection"),
    "lti_registration.manual": _("LTI registration added"),
    "lti_registration.dynamic": _("LTI registration added from Moodle"),
    "lti_registration.active": _("LTI registration enabled"),
    "lti_registration.disabled": _("LTI registration disabled"),
    "credential_key.created": _("Signing key created"),
    "credential_key.rotated": _("Signing key replaced"),
}

#: the audit log's action filter offers these groups besides single actions
AUDIT_GROUPS = {
    "award.": _("Micro-credentials and their approval"),
    "outbox.": _("Issuing and sending"),
    "admin.": _("Console logins"),
    "mapping_file.": _("Mapping files"),
}

SYSTEM_ACTORS = {
    "system:evaluation": _("credbridge (evaluation of evidence)"),
    "system:outbox": _("credbridge (issuing)"),
    "system:keys": _("credbridge (keys)"),
    "system:embedded-signer": _("credbridge (signing)"),
    "system:notify": _("credbridge (e-mail)"),
    "cli": _("Command line (server operator)"),
    "demo": _("The demo set-up"),
}

#: keys of an audit entry's details, in the order they are shown
DETAIL_LABELS = {
    "reason": _("Reason"),
    "note": _("Note"),
    "previous": _("Before"),
    "status": _("State"),
    "restored": _("State again"),
    "template": _("Micro-credential"),
    "version": _("Version"),
    "learner_id": _("Learner"),
    "filename": _("File"),
    "new_versions": _("New template versions"),
    "restored_from": _("Restored from version"),
    "target": _("Sent to"),
    "error": _("Error"),
    "issuer": _("Moodle site"),
    "base_url": _("Moodle address"),
    "connection": _("Moodle connection"),
    "email": _("E-mail"),
    "attempts": _("Attempts"),
}


def label(table: dict[str, Any], code: str | None) -> Markup:
    """The label of ``code`` in ``table``, or the code itself marked as one."""
    if code is None:
        return Markup("")
    found = table.get(code)
    if found is not None:
        return escape(str(found))
    return Markup('<code translate="no">%s</code>') % code


def state_label(subject_type: str, code: Any) -> Markup:
    """A state named in an audit entry: an outbox row's own status, or an award's."""
    table = OUTBOX_ITEM_STATUS if subject_type == "outbox_item" else AWARD_STATUS
    return label(table, str(code))


def actor_label(actor: str) -> str:
    if actor in SYSTEM_ACTORS:
        return str(SYSTEM_ACTORS[actor])
    if actor.startswith("anonymous:"):
        return str(_("Unknown visitor (%(address)s)", address=actor.split(":", 1)[1]))
    if actor.startswith("system:"):
        return str(_("credbridge (automatic)"))
    return actor


def outbox_state(item_status: str, award_status: str) -> str:
    """What an outbox row waits for. A row is created with its award, so while the teacher has not
    approved it is "pending" in the table, yet nothing will send it: it waits on the teacher."""
    if item_status in ("sent", "sending", "dead"):
        return item_status
    if award_status == "pending_approval":
        return "waiting_teacher"
    if award_status == "held":
        return "held"
    if award_status == "flagged":
        return "stopped"
    if award_status == "revoked":
        return "revoked"
    return "failed" if item_status == "failed" else "due"
