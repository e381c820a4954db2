"""Assignment and Grade Services: line items, scores and results the way Moodle 4.5 takes them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from credbridge.connector.lti_services.client import ServiceClient
from credbridge.connector.lti_services.links import next_link

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
MAX_PAGES = 10_000


def sub_url(lineitem_url: str, suffix: str) -> str:
    """``{lineitem path}/suffix`` keeping the query: Moodle needs ``?type_id=`` on every call."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix))


@dataclass
class Score:
    user_id: str
    score_given: float | None = None
    score_maximum: float | None = None
    activity_progress: str = "Completed"
    grading_progress: str = "FullyGraded"
    comment: str | None = None
    timestamp: datetime | None = None

    def as_json(self, timestamp: datetime) -> dict[str, Any]:
        body: dict[str, Any] = {"userId": str(self.user_id), "activityProgress": self.activity_progress,
                                "gradingProgress": self.grading_progress,
                                "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if self.score_given is not None:
            body["scoreGiven"] = self.score_given
            body["scoreMaximum"] = self.score_maximum
        if self.comment is not None:
            body["comment"] = self.comment
        return body


class Ags:
    """AGS calls for one registration. Score timestamps are whole seconds and strictly increasing per
    (line item, user) within this process, since Moodle answers 409 to a timestamp not newer than the
    stored one (gradebookservices/classes/local/resources/scores.php)."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self._last_stamp: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def line_items(self, lineitems_url: str, *, resource_link_id: str | None = None,
                   resource_id: str | None = None, tag: str | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"resource_link_id": resource_link_id, "resource_id": resource_id,
                                    "tag": tag, "limit": limit}.items() if v is not None}
        items: list[dict[str, Any]] = []
        url: str | None = lineitems_url
        pages = 0
        while url and pages < MAX_PAGES:
            response = self.client.call("AGS line items", "GET", url, [SCOPE_LINEITEM_READONLY],
                                        accept=LINEITEM_CONTAINER, params=params if pages == 0 else None)
            pages += 1
            items.extend(response.json())
            url = next_link(response.headers.get("Link"))
        return items

    def line_item(self, lineitem_url: str) -> dict[str, Any]:
        response = self.client.call("AGS line item", "GET", lineitem_url, [SCOPE_LINEITEM_READONLY], accept=LINEITEM)
        return response.json()

    def create_line_item(self, lineitems_url: str, *, label: str, score_maximum: float,
                         resource_id: str | None = None, tag: str | None = None,
                         resource_link_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"label": label, "scoreMaximum": score_maximum}
        for key, value in (("resourceId", resource_id), ("tag", tag), ("resourceLinkId", resource_link_id)):
            if value is not None:
                body[key] = value
        response = self.client.call("AGS create line item", "POST", lineitems_url, [SCOPE_LINEITEM],
                                    accept=LINEITEM, content_type=LINEITEM, json_body=body)
        return response.json()

    def _stamp(self, lineitem_url: str, user_id: str, wanted: datetime | None) -> datetime:
        second = int((wanted or datetime.now(UTC)).timestamp())
        key = (urlsplit(lineitem_url).path, str(user_id))
        with self._lock:
            second = max(second, self._last_stamp.get(key, 0) + 1)
            self._last_stamp[key] = second
        return datetime.fromtimestamp(second, UTC)

    def post_score(self, lineitem_url: str, score: Score) -> dict[str, Any]:
        """POST the score; returns the JSON that was sent (with the timestamp actually used)."""
        body = score.as_json(self._stamp(lineitem_url, score.user_id, score.timestamp))
        self.client.call("AGS score", "POST", sub_url(lineitem_url, "scores"), [SCOPE_SCORE],
                         content_type=SCORE, json_body=body, ok=(200, 201, 202, 204))
        return body

    def results(self, lineitem_url: str, *, user_id: str | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"user_id": user_id, "limit": limit}.items() if v is not None}
        results: list[dict[str, Any]] = []
        url: str | None = sub_url(lineitem_url, "results")
        pages = 0
        while url and pages < MAX_PAGES:
            response = self.client.call("AGS results", "GET", url, [SCOPE_RESULT], accept=RESULT_CONTAINER,
                                        params=params if pages == 0 else None)
            pages += 1
            results.extend(response.json())
            url = next_link(response.headers.get("Link"))
        return results
