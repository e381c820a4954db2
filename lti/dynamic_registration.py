"""LTI Dynamic Registration (1EdTech LTI-DR 1.0) as Moodle ≥ 3.10 runs it."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.registrations import connection_at
from credbridge.connector.store.models import AuditEntry, LtiDeployment, LtiRegistration
from credbridge.lti.launch.errors import shown
from credbridge.lti.platform_http import AddressNotAllowed, Network, check_url, guarded_session, read_limited
from credbridge.lti.registrations import origin

log = logging.getLogger(__name__)

TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIG = "https://purl.imsglobal.org/spec/lti-platform-configuration"
SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)
TIMEOUT = 20
#: LtiRegistration's URL columns
MAX_URL = 500


class RegistrationError(Exception):
    """The platform refused or answered something unusable; ``code`` is its error code if any."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


#: one answer for every way of not getting a configuration (refused, timed out, another status, not
#: JSON, a redirect, too large), so that registration cannot be used to map which hosts and ports answer
UNREADABLE = "could not read an LTI platform configuration at {url} (see the server log for the reason)"
#: endpoints the tool will call or send people to; all must be on the platform's own origin
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")


def _unreadable(url: str, reason: str) -> RegistrationError:
    log.warning("dynamic registration: configuration %s unreadable: %s", url[:300], reason)
    return RegistrationError(UNREADABLE.format(url=url[:300]), code="openid_configuration")


def fetch_platform_config(url: str, *, allowed: Sequence[Network] = (),
                          http: requests.Session | None = None) -> dict[str, Any]:
    """The platform's openid-configuration, fetched without redirects from an allowed address, whose
    issuer and endpoints are all on the origin it was fetched from (LTI-DR §3.5.1)."""
    try:
        check_url(url, allowed)
    except AddressNotAllowed as exc:
        raise RegistrationError(f"the platform configuration URL is refused: {exc}",
                                code="openid_configuration") from exc
    http = http or guarded_session(allowed)
    try:
        response = http.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"}, allow_redirects=False,
                            stream=True)
        with response:
            if response.status_code != 200:
                raise _unreadable(url, f"HTTP {response.status_code}")
            config = json.loads(read_limited(response))
    except (requests.RequestException, ValueError) as exc:
        raise _unreadable(url, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(config, dict):
        raise _unreadable(url, "the answer is not a JSON object")
    for name in ("issuer", *ENDPOINTS):
        if not isinstance(config.get(name), str) or not config[name] or len(config[name]) > MAX_URL:
            raise RegistrationError(f"the platform configuration has no {name} (a URL of at most {MAX_URL} "
                                    "characters)", code="openid_configuration")
    home = origin(url)
    # LTI-DR §3.5.1: the issuer must be the origin the configuration was fetched from; the endpoints
    # too, or a configuration could point our server's requests (and its users) anywhere
    if origin(config["issuer"]) != home:
        raise RegistrationError(f"the platform issuer {shown(config['issuer'])} does not match the configuration "
                                f"URL's origin {home}", code="openid_configuration")
    for name in ENDPOINTS:
        if origin(config[name]) != home:
            raise RegistrationError(f"the platform's {name} {shown(config[name])} is not on its own origin {home}",
                                    code="openid_configuration")
    return config


def tool_registration(base_url: str, client_name: str = "credbridge") -> dict[str, Any]:
    launch = base_url + "/lti/launch"
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": base_url + "/lti/login",
        "redirect_uris": [launch],
        "client_name": client_name,
        "jwks_uri": base_url + "/.well-known/jwks.json",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SCOPES),
        TOOL_CONFIG: {
            # Moodle compares domain with the target_link_uri host including the port
            "domain": urlsplit(base_url).netloc,
            "target_link_uri": launch,
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [{"type": "LtiDeepLinkingRequest", "target_link_uri": launch,
                          "label": "Attach micro-credentials"}],
            "description": "EU micro-credentials from Moodle course results",
        },
    }


def post_registration(config: dict[str, Any], token: str, body: dict[str, Any], *,
                      allowed: Sequence[Network] = (), http: requests.Session | None = None) -> dict[str, Any]:
    """Send the tool's registration to the platform's registration endpoint (checked by
    :func:`fetch_platform_config` to be on the platform's origin), without following redirects."""
    endpoint = config["registration_endpoint"]
    try:
        check_url(endpoint, allowed)
    except AddressNotAllowed as exc:
        raise RegistrationError(f"the registration endpoint is refused: {exc}") from exc
    http = http or guarded_session(allowed)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = http.post(endpoint, json=body, headers=headers, timeout=TIMEOUT, allow_redirects=False,
                             stream=True)
        with response:
            text = read_limited(response).decode("utf-8", errors="replace")
    except (requests.RequestException, ValueError) as exc:
        log.warning("dynamic registration: %s unreachable: %s: %s", endpoint[:300], type(exc).__name__, exc)
        raise RegistrationError("cannot reach the platform's registration endpoint") from exc
    try:
        answer: Any = json.loads(text)
    except ValueError:
        answer = text.strip()[:200]
    if response.status_code not in (200, 201):
        code = answer.get("error") if isinstance(answer, dict) else (answer or None)
        code = str(code)[:100] if code else None
        raise RegistrationError(f"the platform refused the registration: HTTP {response.status_code} {code}",
                                status=response.status_code, code=code)
    client_id = answer.get("client_id") if isinstance(answer, dict) else None
    if not isinstance(client_id, str | int) or isinstance(client_id, bool) or not 0 < len(str(client_id)) <= 255:
        raise RegistrationError("the platform's answer has no client_id (at most 255 characters)")
    deployment_id = (answer.get(TOOL_CONFIG) or {}).get("deployment_id") if isinstance(
        answer.get(TOOL_CONFIG), dict) else None
    if deployment_id is not None and (not isinstance(deployment_id, str | int) or len(str(deployment_id)) > 255):
        raise RegistrationError("the platform's answer has a deployment_id that is not one (at most 255 characters)")
    return answer


@dataclass(frozen=True)
class Registered:
    registration_id: int
    client_id: str
    deployment_id: str | None


def store_registration(db: Session, *, school_id: int, config: dict[str, Any], answer: dict[str, Any],
                       actor: str = "dynamic-registration") -> Registered:
    issuer, client_id = config["issuer"], str(answer["client_id"])
    deployment_id = (answer.get(TOOL_CONFIG) if isinstance(answer.get(TOOL_CONFIG), dict) else {}).get(
        "deployment_id")
    registration = db.scalars(select(LtiRegistration).where(LtiRegistration.issuer == issuer,
                                                            LtiRegistration.client_id == client_id)).first()
    connection = connection_at(db, school_id, issuer)
    family = config.get(PLATFORM_CONFIG)
    platform_name = str((family if isinstance(family, dict) else {}).get("product_family_code") or "")[:50]
    if registration is None:
        registration = LtiRegistration(school_id=school_id, issuer=issuer, client_id=client_id)
        db.add(registration)
    registration.name = f"{platform_name} {urlsplit(issuer).netloc}".strip()[:200]
    registration.auth_login_url = config["authorization_endpoint"]
    registration.auth_token_url = config["token_endpoint"]
    audience = config.get("authorization_server")
    registration.token_audience = audience if isinstance(audience, str) and len(audience) <= MAX_URL else None
    registration.key_set_url = config["jwks_uri"]
    registration.registered_by = "dynamic"
    registration.platform_config = config
    registration.status = "active"
    if connection is not None:
        registration.connection_id = connection.id
    db.flush()
    if deployment_id is not None:
        deployment_id = str(deployment_id)
        known = {d.deployment_id for d in registration.deployments}
        if deployment_id not in known:
            db.add(LtiDeployment(registration_id=registration.id, deployment_id=deployment_id))
    db.add(AuditEntry(school_id=school_id, actor=actor, action="lti_registration.dynamic",
                      subject_type="lti_registration", subject_id=str(registration.id),
                      details={"issuer": issuer, "client_id": client_id, "deployment_id": deployment_id}))
    return Registered(registration.id, client_id, deployment_id)
