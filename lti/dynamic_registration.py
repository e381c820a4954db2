"""LTI Dynamic Registration (1EdTech LTI-DR 1.0) as Moodle ≥ 3.10 runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.registrations import connection_at
from credbridge.connector.store.models import AuditEntry, LtiDeployment, LtiRegistration

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


class RegistrationError(Exception):
    """The platform refused or answered something unusable; ``code`` is its error code if any."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def fetch_platform_config(url: str, http: requests.Session | None = None) -> dict[str, Any]:
    http = http or requests.Session()
    try:
        response = http.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise RegistrationError(f"cannot fetch the platform configuration {url}: {exc}") from exc
    if response.status_code != 200:
        raise RegistrationError(f"the platform configuration {url} answered HTTP {response.status_code}",
                                status=response.status_code)
    try:
        config = response.json()
    except ValueError as exc:
        raise RegistrationError(f"the platform configuration {url} is not JSON") from exc
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint"):
        if not isinstance(config.get(name), str) or not config[name]:
            raise RegistrationError(f"the platform configuration has no {name}")
    # LTI-DR §3.5.1: the issuer must be the origin the configuration was fetched from
    if _origin(config["issuer"]) != _origin(url):
        raise RegistrationError(f"the platform issuer {config['issuer']!r} does not match the configuration "
                                f"URL's origin {url!r}")
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


def post_registration(config: dict[str, Any], token: str, body: dict[str, Any],
                      http: requests.Session | None = None) -> dict[str, Any]:
    http = http or requests.Session()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = http.post(config["registration_endpoint"], json=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise RegistrationError(f"cannot reach the registration endpoint: {exc}") from exc
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text.strip()
    if response.status_code not in (200, 201):
        code = answer.get("error") if isinstance(answer, dict) else (answer or None)
        raise RegistrationError(f"the platform refused the registration: HTTP {response.status_code} {code}",
                                status=response.status_code, code=str(code) if code else None)
    if not isinstance(answer, dict) or not answer.get("client_id"):
        raise RegistrationError("the platform's answer has no client_id")
    return answer


@dataclass(frozen=True)
class Registered:
    registration_id: int
    client_id: str
    deployment_id: str | None


def store_registration(db: Session, *, school_id: int, config: dict[str, Any], answer: dict[str, Any],
                       actor: str = "dynamic-registration") -> Registered:
    issuer, client_id = config["issuer"], str(answer["client_id"])
    deployment_id = (answer.get(TOOL_CONFIG) or {}).get("deployment_id")
    registration = db.scalars(select(LtiRegistration).where(LtiRegistration.issuer == issuer,
                                                            LtiRegistration.client_id == client_id)).first()
    connection = connection_at(db, school_id, issuer)
    platform_name = (config.get(PLATFORM_CONFIG) or {}).get("product_family_code", "")
    if registration is None:
        registration = LtiRegistration(school_id=school_id, issuer=issuer, client_id=client_id)
        db.add(registration)
    registration.name = f"{platform_name} {urlsplit(issuer).netloc}".strip()
    registration.auth_login_url = config["authorization_endpoint"]
    registration.auth_token_url = config["token_endpoint"]
    registration.token_audience = config.get("authorization_server") or None
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
