"""id_token validation (SF §5.1.3 steps 2-9, LTI Core §5): a pure function of the token, the
expected platform, its keys, the clock and the nonce store. The login ``state`` (step 1) is checked
by the caller before this runs, because it is what tells which platform to expect."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from credbridge.lti.launch import claims as c
from credbridge.lti.launch.errors import LaunchError, shown

ALLOWED_ALG = "RS256"
#: year 9999: later times cannot be dates, and a claim beyond it is not a time a platform meant
MAX_TIMESTAMP = 253_402_300_799


class KeySource(Protocol):
    def key_for(self, kid: str) -> Any: ...


@dataclass(frozen=True)
class ExpectedPlatform:
    issuer: str
    client_id: str
    deployment_ids: frozenset[str]


# records the nonce as used until ``exp``; returns False when it was already used (a replay)
NonceStore = Callable[[str, int], bool]


def _header(id_token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise LaunchError("id_token", f"not a JWT: {exc}") from exc


def _require(condition: bool, check: str, message: str, status: int = 400) -> None:
    if not condition:
        raise LaunchError(check, message, status=status)


def validate_id_token(id_token: str, *, platform: ExpectedPlatform, keys: KeySource, expected_nonce: str,
                      now: float, leeway: int, use_nonce: NonceStore) -> dict[str, Any]:
    """Return the verified claims or raise LaunchError naming the first failed check."""
    header = _header(id_token)
    alg = header.get("alg")
    # Only RS256: 'none' and HMAC would let anyone holding the (public) key forge launches.
    _require(alg == ALLOWED_ALG, "alg", f"algorithm {shown(alg)} is not allowed, only RS256", 401)
    kid = header.get("kid")
    _require(isinstance(kid, str) and bool(kid), "kid", "the token header has no kid", 401)
    key = keys.key_for(kid)
    try:
        payload = jwt.decode(id_token, key, algorithms=[ALLOWED_ALG],
                             options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                      "verify_aud": False, "verify_iss": False, "require": []})
    except jwt.InvalidSignatureError as exc:
        raise LaunchError("signature", "the signature does not verify with the platform key", status=401) from exc
    except jwt.PyJWTError as exc:
        raise LaunchError("id_token", f"cannot decode the token: {exc}", status=401) from exc

    _require(payload.get("iss") == platform.issuer, "iss",
             f"issuer {shown(payload.get('iss'))} is not the registered {platform.issuer!r}", 401)
    _check_audience(payload, platform.client_id)
    _check_times(payload, now, leeway)
    _require(isinstance(payload.get("nonce"), str) and payload["nonce"] == expected_nonce, "nonce",
             "the nonce does not match the one sent at login", 401)
    deployment = payload.get(c.DEPLOYMENT_ID)
    _require(isinstance(deployment, str) and deployment != "", "deployment_id", "the deployment_id claim is missing")
    _require(deployment in platform.deployment_ids, "deployment_id",
             f"deployment {shown(deployment)} is not registered for this platform", 403)
    _require(payload.get(c.VERSION) == c.LTI_VERSION, "version",
             f"LTI version {shown(payload.get(c.VERSION))} is not 1.3.0")
    message_type = payload.get(c.MESSAGE_TYPE)
    _require(isinstance(message_type, str) and message_type in c.MESSAGE_TYPES, "message_type",
             f"message type {shown(message_type)} is not supported (LtiResourceLinkRequest, LtiDeepLinkingRequest)")
    _check_required_claims(payload, message_type)
    _check_storable(payload)
    # last, so a token failing any other check does not burn its nonce
    _require(use_nonce(payload["nonce"], int(payload["exp"])), "nonce_replayed",
             "this id_token was already used (nonce replay)", 401)
    return payload


#: a NUL (PostgreSQL text cannot hold one) or an unpaired surrogate (valid in JSON as "\\ud800", but no
#: UTF-8 text: neither database stores it)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _check_storable(payload: dict[str, Any]) -> None:
    """Claims are stored (the session, the learner, the course title, all claims for the services): text
    no database can hold is refused by its claim rather than failing while being saved."""
    for name, value in payload.items():
        check = "claims" if _unstorable(name) else name.rsplit("/", 1)[-1][:60]
        _require(not _unstorable(name) and not _unstorable(value), check,
                 "the claim contains a NUL character or an unpaired surrogate (\\ud800-\\udfff), which no text "
                 "can hold")


def _check_audience(payload: dict[str, Any], client_id: str) -> None:
    aud = payload.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    _require(bool(audiences) and all(isinstance(a, str) for a in audiences or []), "aud",
             "the aud claim is missing or malformed", 401)
    assert audiences is not None
    _require(client_id in audiences, "aud", f"aud {shown(aud)} does not contain our client_id {client_id!r}", 401)
    azp = payload.get("azp")
    if len(audiences) > 1:
        _require(azp is not None, "azp", "several audiences but no azp claim", 401)
    if azp is not None:
        _require(azp == client_id, "azp", f"azp {shown(azp)} is not our client_id {client_id!r}", 401)


def _number(value: Any) -> bool:
    """A JSON number usable as a time: not a boolean, not NaN or infinite (JSON parsers accept
    ``1e999`` as infinity), within what a date can hold."""
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and abs(value) <= MAX_TIMESTAMP)


def _check_times(payload: dict[str, Any], now: float, leeway: int) -> None:
    exp, iat, nbf = payload.get("exp"), payload.get("iat"), payload.get("nbf")
    _require(_number(exp), "exp", "the exp claim is missing or not a time (seconds since 1970)", 401)
    _require(_number(iat), "iat", "the iat claim is missing or not a time (seconds since 1970)", 401)
    _require(now <= exp + leeway, "exp", f"the token expired {int(now - exp)} s ago", 401)
    _require(iat <= now + leeway, "iat", f"the token is issued {int(iat - now)} s in the future", 401)
    if nbf is not None:  # optional (RFC 7519 §4.1.5); Moodle does not send it
        _require(_number(nbf), "nbf", "the nbf claim is not a time (seconds since 1970)", 401)
        _require(nbf <= now + leeway, "nbf", f"the token is not valid for another {int(nbf - now)} s", 401)


def _check_required_claims(payload: dict[str, Any], message_type: str) -> None:
    context = payload.get(c.CONTEXT)
    if context is not None:
        _require(isinstance(context, dict) and c.identifier(context.get("id")) is not None, "context",
                 f"context claim without an id (a string of at most {c.MAX_ID} characters)")
    sub = payload.get("sub")
    _require(sub is None or (isinstance(sub, str) and 0 < len(sub) <= c.MAX_ID), "sub",
             f"sub is present but empty, not a string or longer than {c.MAX_ID} characters")
    roles = payload.get(c.ROLES)
    _require(isinstance(roles, list), "roles", "the roles claim is missing (it may be empty, not absent)")
    if message_type == c.RESOURCE_LINK_REQUEST:
        link = payload.get(c.RESOURCE_LINK)
        _require(isinstance(link, dict) and c.identifier(link.get("id")) is not None, "resource_link",
                 f"resource_link.id is missing (a string of at most {c.MAX_ID} characters)")
        _require(isinstance(payload.get(c.TARGET_LINK_URI), str), "target_link_uri",
                 "the target_link_uri claim is missing")
    else:
        settings = payload.get(c.DL_SETTINGS)
        _require(isinstance(settings, dict), "deep_linking_settings", "the deep_linking_settings claim is missing")
        for name in ("deep_link_return_url", "accept_types", "accept_presentation_document_targets"):
            _require(settings.get(name) not in (None, "", []), "deep_linking_settings",
                     f"deep_linking_settings.{name} is missing")
        _require(isinstance(settings["deep_link_return_url"], str), "deep_linking_settings",
                 "deep_linking_settings.deep_link_return_url is not a URL")
        _require(isinstance(settings["accept_types"], list), "deep_linking_settings",
                 "deep_linking_settings.accept_types is not a list")
