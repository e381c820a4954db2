"""The one interface every issuing target implements, and the errors the outbox worker acts on.

The worker only needs to know which of three things happened when a send did not succeed:
- :class:`PermanentIssueError` — the target refused the request as given (4xx other than 408/429):
  retrying the same request cannot help, the item goes to ``dead`` for an admin to look at;
- :class:`TransientIssueError` — the target certainly did not issue (connection refused, 429, 503
  before any processing): retry later with backoff;
- :class:`AmbiguousIssueError` — the target may or may not have issued (timeout after sending,
  connection dropped mid-response, 5xx): retry later, but reconcile with ``lookup`` first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class IssueError(Exception):
    """Base class; ``code`` is stable for the UI and ``message`` names the target and the problem."""

    code = "issue_error"

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None,
                 body: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.status = status
        self.body = body


class PermanentIssueError(IssueError):
    code = "rejected"


class TransientIssueError(IssueError):
    code = "unavailable"


class AmbiguousIssueError(IssueError):
    code = "ambiguous"


class LookupUnsupported(IssueError):
    """The target has no way to find an earlier issuance by our key (see the adapter's docstring)."""

    code = "lookup_unsupported"


class AdapterConfigError(ValueError):
    """A target's configuration is missing or wrong; the message names the setting."""


@dataclass(frozen=True)
class AwardPayload:
    """Everything a target needs to issue one award; built from the store by the worker."""

    award_id: int
    school_id: int
    school_slug: str
    school_name: str
    learner_id: int
    learner_name: str
    learner_given_name: str
    learner_family_name: str
    learner_email: str | None
    template_code: str
    template_version: int
    title: str
    snapshot: dict[str, Any]
    achieved_at: datetime | None
    decided_at: datetime

    def public_dict(self) -> dict[str, Any]:
        """The JSON body of a webhook: the award, its Annex I values and the learner."""
        return {
            "award_id": self.award_id,
            "school": {"slug": self.school_slug, "name": self.school_name},
            "learner": {"id": self.learner_id, "name": self.learner_name, "given_name": self.learner_given_name,
                        "family_name": self.learner_family_name, "email": self.learner_email},
            "template": {"code": self.template_code, "version": self.template_version, "title": self.title},
            "achieved_at": self.achieved_at.isoformat() if self.achieved_at else None,
            "decided_at": self.decided_at.isoformat(),
            "snapshot": self.snapshot,
        }


@dataclass(frozen=True)
class IssueResult:
    """What the target answered: its id for the credential (for lookup and revoke) and any documents."""

    external_id: str
    documents: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class IssuerAdapter(Protocol):
    name: str

    def issue(self, payload: AwardPayload, idempotency_key: str) -> IssueResult: ...

    def lookup(self, idempotency_key: str, payload: AwardPayload) -> IssueResult | None: ...

    def revoke(self, external_id: str, reason: str) -> None: ...
