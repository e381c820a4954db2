"""Dynamic Registration pages: Moodle opens GET /lti/register in an iframe (twice, each time with a
fresh token), the admin confirms, the POST registers and tells Moodle to close the dialog."""

from __future__ import annotations

import logging

from flask import current_app, render_template, request
from flask_babel import gettext

from credbridge.connector.keys import (
    REGISTRATION_LINK_LIFETIME,
    RegistrationLinkError,
    school_from_registration_token,
)
from credbridge.connector.store.models import School
from credbridge.lti import headers
from credbridge.lti.dynamic_registration import (
    PLATFORM_CONFIG,
    RegistrationError,
    fetch_platform_config,
    post_registration,
    store_registration,
    tool_registration,
)
from credbridge.lti.errors import render_error
from credbridge.lti.platform_http import Network, networks
from credbridge.lti.views.lti import base_url, bp, runtime

log = logging.getLogger("credbridge.lti")


def _allowed_networks() -> tuple[Network, ...]:
    return networks(runtime().settings.lti_private_networks)


def _school(token: str) -> School:
    """The school a registration link is for: only its signed, unexpired token says so (no default)."""
    school_id = school_from_registration_token(current_app.secret_key, token)  # type: ignore[arg-type]
    with runtime().db.unit_of_work() as db:
        school = db.get(School, school_id)
        if school is None:
            raise RegistrationLinkError("the school of this registration link no longer exists")
        db.expunge(school)
        return school


def _link_refused(error: RegistrationLinkError) -> tuple[str, int]:
    log.warning("dynamic registration refused: %s", error)
    return render_error(403, str(error), check="school", title=gettext("The registration failed"),
                        hint=gettext("Ask for a fresh registration link: in credbridge, Admin › LTI registrations, "
                                     "or `credbridge lti registration-url --school …` (a link works for %(days)d "
                                     "days).", days=REGISTRATION_LINK_LIFETIME.days))


def _failure(error: RegistrationError) -> tuple[str, int]:
    log.warning("dynamic registration failed: %s", error)
    hints = {
        "missing_registration_token": gettext("Moodle did not send a registration token: start again from "
                                              "Site administration › Manage tools."),
        "token_already_used": gettext("This registration token was already used: close this dialog and start "
                                      "the registration again in Moodle (each attempt gets a fresh token)."),
        "domain_targetlinkuri_mismatch": gettext("Moodle requires the tool domain to equal the launch URL's host "
                                                 "including the port: check CREDBRIDGE_BASE_URL."),
    }
    return render_error(error.status if error.status in (400, 401, 403) else 502, str(error), check=error.code,
                        hint=hints.get(error.code or ""), title=gettext("The registration failed"))


@bp.get("/lti/register")
def register_form() -> tuple[str, int] | str:
    config_url = request.args.get("openid_configuration", "")
    school_token = request.args.get("school", "")
    headers.frame_for_origin(config_url)  # Moodle shows this page in its registration dialog
    if not config_url:
        return render_error(400, "the registration link has no openid_configuration parameter",
                            check="openid_configuration")
    try:
        school = _school(school_token)
    except RegistrationLinkError as error:
        return _link_refused(error)
    try:
        config = fetch_platform_config(config_url, allowed=_allowed_networks())
    except RegistrationError as error:
        return _failure(error)
    family = config.get(PLATFORM_CONFIG)
    name = (family if isinstance(family, dict) else {}).get("product_family_code")
    return render_template("register.html",
                           platform_name=name[:50] if isinstance(name, str) and name else gettext("the platform"),
                           issuer=config["issuer"], school_name=school.legal_name, openid_configuration=config_url,
                           registration_token=request.args.get("registration_token", ""), school_token=school_token)


@bp.post("/lti/register")
def register_submit() -> tuple[str, int] | str:
    headers.frame_for_origin(request.form.get("openid_configuration", ""))
    try:
        school = _school(request.form.get("school", ""))
    except RegistrationLinkError as error:
        return _link_refused(error)
    try:
        config = fetch_platform_config(request.form.get("openid_configuration", ""), allowed=_allowed_networks())
        answer = post_registration(config, request.form.get("registration_token", ""),
                                   tool_registration(base_url()), allowed=_allowed_networks())
    except RegistrationError as error:
        return _failure(error)
    with runtime().db.unit_of_work() as db:
        done = store_registration(db, school_id=school.id, config=config, answer=answer)
    log.info("dynamic registration: school=%s issuer=%s client_id=%s", school.slug, config["issuer"], done.client_id)
    return render_template("register_done.html", client_id=done.client_id, deployment_id=done.deployment_id)
