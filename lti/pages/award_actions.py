"""What teachers and administrators may do to an award, by name, delegating to the awards service
(``credbridge.connector.awards.actions``) so every transition and its audit entry live in one place."""

from __future__ import annotations

from sqlalchemy.orm import Session

from credbridge.connector.awards import actions
from credbridge.connector.awards.actions import ActionRefused
from credbridge.connector.store.models import Award, OutboxItem

ACTIONS = ("approve", "hold", "issue_now", "revoke")

__all__ = ["ACTIONS", "ActionRefused", "apply", "retry_outbox_item"]


def apply(session: Session, award: Award, action: str, *, actor: str, reason: str = "",
          public_reason: str | None = None) -> None:
    """Perform one action on one award (in the caller's transaction) or raise :class:`ActionRefused`.

    For a revocation ``public_reason`` is the code shown publicly and ``reason`` the private note."""
    if action == "approve":
        actions.approve(session, award.school_id, award.id, actor=actor)
    elif action == "hold":
        actions.hold(session, award.school_id, award.id, actor=actor, reason=reason)
    elif action == "issue_now":
        actions.issue_now(session, award.school_id, award.id, actor=actor)
    elif action == "revoke":
        actions.revoke(session, award.school_id, award.id, actor=actor, reason=reason, public_reason=public_reason)
    else:
        raise ActionRefused("unknown_action", f"unknown action {action!r}")


def retry_outbox_item(session: Session, item: OutboxItem, *, actor: str) -> None:
    """The console's "retry" on a dead outbox row revives the dead rows of its award."""
    if item.status != "dead":
        raise ActionRefused("wrong_state", f"outbox item {item.id} is {item.status}, not dead")
    actions.retry_dead(session, item.award.school_id, item.award_id, actor=actor)
