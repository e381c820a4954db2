"""The Deep Linking response (LTI DL 2.0 §4.2, shaped for Moodle's contentitem_return.php)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from credbridge.connector.keys import ToolKey
from credbridge.lti.launch import claims as c
from credbridge.lti.launch.errors import LaunchError, shown
from credbridge.lti.registrations import origin

RESPONSE_LIFETIME = 600


def check_return_url(url: object, platform_origins: set[str]) -> str:
    """The ``deep_link_return_url`` if the signed response may go there: an http(s) URL on the
    platform's own origin (its issuer or a registered endpoint). Anything else (``javascript:``, another
    host) would run script in our page or hand the signed response to someone else."""
    where = origin(url)
    if where is None:
        raise LaunchError("deep_link_return_url", f"{shown(url)} is not an http(s) URL", status=400)
    if where not in platform_origins:
        raise LaunchError("deep_link_return_url", f"{shown(url)} is not on the platform's own address "
                          f"({', '.join(sorted(platform_origins)) or 'none registered'})", status=400)
    assert isinstance(url, str)
    return url.strip()


def content_item(title: str, template_codes: list[str], *, text: str | None = None,
                 grade_item: bool = False) -> dict[str, Any]:
    """One ``ltiResourceLink``. No ``url``: Moodle would rebind the link by URL to another tool type
    (typeid 0); the templates travel in ``custom`` and come back on every launch of the link."""
    codes = ",".join(template_codes)
    item: dict[str, Any] = {"type": "ltiResourceLink", "title": title, "custom": {"credential_templates": codes}}
    if text:
        item["text"] = text
    if grade_item:
        item["lineItem"] = {"scoreMaximum": 100, "label": title, "resourceId": codes, "tag": "credbridge"}
    return item


def response_jwt(key: ToolKey, *, client_id: str, platform_issuer: str, deployment_id: str,
                 items: list[dict[str, Any]], data: str | None = None, message: str | None = None,
                 now: float | None = None) -> str:
    iat = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": client_id, "aud": platform_issuer, "iat": iat, "exp": iat + RESPONSE_LIFETIME,
        "nonce": secrets.token_urlsafe(16), c.DEPLOYMENT_ID: deployment_id,
        c.MESSAGE_TYPE: c.DEEP_LINKING_RESPONSE, c.VERSION: c.LTI_VERSION, c.DL_CONTENT_ITEMS: items,
    }
    if data is not None:
        claims[c.DL_DATA] = data
    if message:
        claims[c.DL_MSG] = message
    return key.sign(claims)
