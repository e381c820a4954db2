"""Names and Role Provisioning Services: the course's members, following every page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from credbridge.connector.lti_services.client import ServiceClient
from credbridge.connector.lti_services.links import next_link

SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 10_000  # a platform that links a page to itself must not keep us looping

ROLE_SHORT = {
    "Instructor": "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
    "Learner": "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
}


@dataclass
class Memberships:
    context: dict[str, Any] = field(default_factory=dict)
    members: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0


def fetch_memberships(client: ServiceClient, memberships_url: str, *, role: str | None = None,
                      limit: int | None = None, rlid: str | None = None) -> Memberships:
    """All members (Moodle lists active enrolments only). ``role`` is a full URI or Instructor/Learner."""
    params: dict[str, Any] = {}
    if role:
        params["role"] = ROLE_SHORT.get(role, role)
    if limit:
        params["limit"] = limit
    if rlid:
        params["rlid"] = rlid
    result = Memberships()
    url: str | None = memberships_url
    seen: set[str] = set()
    while url and result.pages < MAX_PAGES:
        response = client.call("NRPS memberships", "GET", url, [SCOPE], accept=MEDIA_TYPE,
                               params=params if result.pages == 0 else None)
        seen.add(response.url)
        body = response.json()
        result.pages += 1
        result.context = body.get("context", result.context) or result.context
        result.members.extend(body.get("members", []))
        url = next_link(response.headers.get("Link"))
        if url in seen:
            break
    return result
