"""Public verification (no login): ``/credentials/<uuid>`` for people and machines, the schools'
did:web documents and their signed status lists."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import segno
from flask import Blueprint, Response, abort, jsonify, render_template, request
from flask_babel import get_locale, gettext
from markupsafe import Markup
from slugify import slugify
from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.issuing.formats.status_list import StatusList as Bitstring
from credbridge.connector.issuing.formats.status_list import build_status_list_credential
from credbridge.connector.issuing.formats.vc_jwt import sign_vc_jwt
from credbridge.connector.issuing.formats.verify import VerificationResult, verify_data_integrity, verify_jwt
from credbridge.connector.issuing.keys import current_school_key, school_did, school_did_document
from credbridge.connector.issuing.status import status_list_url
from credbridge.connector.store.models import Award, Credential, Learner, School, StatusList
from credbridge.lti.i18n import normalise_locale
from credbridge.lti.pages.common import BRAND_COLOUR, identity_of, linkedin_url, public_verification_url, settle_locale
from credbridge.lti.pages.queries import annex_rows, language_of, title_text
from credbridge.lti.pages.runtime import base_url, unit_of_work

bp = Blueprint("verify", __name__)
# the reader's language is settled before a view opens its unit of work: choosing it may read the
# visitor's session row, which must not wait on the view's own transaction (SQLite locks the file)
bp.before_request(settle_locale)
#: what machines may ask for at /credentials/<uuid>; people (text/html, */*) get the page
MACHINE_TYPES = ["text/html", "application/json", "application/ld+json", "application/vc+ld+json",
                 "application/vc+jwt"]
DOWNLOAD = {"jwt": ("ob3-jwt", "application/vc+jwt", "jwt"), "json": ("ob3-di", "application/vc+ld+json", "json"),
            "elm.json": ("elm", "application/ld+json", "elm.json")}


def _school_by_did(session: Session, did: str) -> School:
    """Our own schools' did:web documents, read from the store (no network for our own DIDs)."""
    slug = did.rsplit(":", 1)[-1]
    school = session.scalars(select(School).where(School.slug == slug)).first()
    if school is None or school_did(base_url(), school) != did:
        raise LookupError(f"{did} is not a DID of this service")
    return school


def _status_credential(session: Session, school: School, row: StatusList) -> str:
    url = status_list_url(base_url(), school, row.id)
    key = current_school_key(session, school, base_url())
    unsigned = build_status_list_credential(url, school_did(base_url(), school), Bitstring(row.size_bits, row.bits),
                                            valid_from=row.updated_at or datetime.now(UTC))
    return sign_vc_jwt(unsigned, key.private_key, key.verification_method)


def _verify(session: Session, credential: Credential) -> VerificationResult | None:
    def did_provider(did: str) -> dict[str, Any]:
        return school_did_document(session, _school_by_did(session, did), base_url())

    def status_provider(url: str) -> str:
        path = urlsplit(url).path.rstrip("/").split("/")
        if len(path) < 5 or path[-2] != "status" or not path[-1].isdigit():
            raise LookupError(f"{url} is not a status list of this service")
        school = session.scalars(select(School).where(School.slug == path[-3])).first()
        row = session.get(StatusList, int(path[-1]))
        if school is None or row is None or row.school_id != school.id:
            raise LookupError(f"status list {url} does not exist")
        return _status_credential(session, school, row)

    if credential.format == "ob3-jwt":
        return verify_jwt(credential.document, did_provider, status_provider)
    if credential.format == "ob3-di":
        return verify_data_integrity(json.loads(credential.document), did_provider, status_provider)
    return None


def _find(session: Session, uuid: str) -> Credential:
    credential = session.scalars(select(Credential).where(Credential.uuid == uuid)).first()
    if credential is None:
        abort(404)
    if not credential.document:
        abort(410)  # its holder's data was erased on request (connector/privacy): their own copy stays valid
    return credential


def _vc_json(credential: Credential) -> dict[str, Any]:
    if credential.format == "ob3-jwt":
        result = verify_jwt(credential.document, None)  # only to decode: the checks are not used here
        return result.credential or {}
    return json.loads(credential.document)


@bp.get("/credentials/<uuid:credential_id>")
def credential(credential_id: UUID) -> Any:
    uuid = str(credential_id)
    with unit_of_work() as session:
        found = _find(session, uuid)
        wanted = request.accept_mimetypes.best_match(MACHINE_TYPES, default="text/html")
        if wanted == "application/vc+jwt":
            jwt_row = found if found.format == "ob3-jwt" else session.scalars(select(Credential).where(
                Credential.award_id == found.award_id, Credential.format == "ob3-jwt")).first()
            if jwt_row is None:
                abort(406, description="this credential has no VC-JWT form")
            return Response(jwt_row.document, mimetype="application/vc+jwt")
        if wanted != "text/html":
            response = jsonify(_vc_json(found))
            response.mimetype = wanted
            return response
        page = _page(session, found)
    return render_template("pages/verify.html", **page)


@bp.get("/credentials/<uuid:credential_id>/certificate")
def certificate(credential_id: UUID) -> str:
    """A printable certificate (the browser's "Save as PDF" makes the PDF) with a QR code of the
    verification page, so a paper copy leads back to the live check."""
    with unit_of_work() as session:
        page = _page(session, _find(session, str(credential_id)))
    url = public_verification_url(str(credential_id))
    # segno writes (and escapes) the SVG itself: no image library, no inline style, so the CSP holds;
    # its title is what a screen reader says for the code
    qr = Markup(segno.make(url, error="m").svg_inline(  # noqa: S704 - segno's own markup
        omitsize=True, title=gettext("QR code of the verification page")))
    return render_template("pages/certificate.html", verification_url=url, qr=qr, **page)


def _page(session: Session, found: Credential) -> dict[str, Any]:
    """What the verification page and the certificate show: the award, its learner and school, every
    format issued for it, the signature and status check, and the Annex I values."""
    award = session.get(Award, found.award_id)
    learner = session.get(Learner, award.learner_id) if award else None
    school = session.get(School, found.school_id)
    siblings = list(session.scalars(select(Credential).where(Credential.award_id == found.award_id)
                                    .order_by(Credential.format)))
    checked = found if found.format in ("ob3-jwt", "ob3-di") else next(
        (s for s in siblings if s.format in ("ob3-jwt", "ob3-di")), None)
    result = _verify(session, checked) if checked is not None else None
    # the Annex I values in the learner's language (the page around them in the reader's)
    language = normalise_locale(learner.locale if learner else None) or str(get_locale() or "en")
    annex = annex_rows(award.snapshot if award else {}, language)
    session.expunge_all()
    revoked_rows = [s for s in [found, *siblings] if s.revoked_at is not None]
    revoked = bool(revoked_rows)
    revoked_at = min((s.revoked_at for s in revoked_rows), default=None)
    # only the public reason is published; the revoker's note (revocation_reason) stays with the school
    reason = next((s.revocation_code for s in revoked_rows if s.revocation_code), None)
    reader = str(get_locale() or "en")
    title = title_text((award.snapshot or {}).get("title"), reader) if award else ""
    return {"credential": found, "award": award, "learner": learner, "page_school": identity_of(school),
            "siblings": siblings, "result": result, "annex": annex, "revoked": revoked, "revoked_at": revoked_at,
            "reason": reason, "signer": _signer(checked, result, school), "title": title,
            "title_lang": language_of((award.snapshot or {}).get("title"), reader) if award else None,
            "linkedin": linkedin_url(found.uuid, found.issued_at, title, school.legal_name if school else ""),
            # the language the Annex I values are in, if the learner has one we offer (for lang attributes)
            "learner_language": normalise_locale(learner.locale) if learner else None}


@dataclass(frozen=True)
class Signer:
    """Who signed: the issuer's name and DID, and the key the signature was made with."""

    name: str
    did: str
    key: str


def _signer(checked: Credential | None, result: VerificationResult | None, school: School | None) -> Signer | None:
    if checked is None or result is None or not result.credential:
        return None
    issuer = result.credential.get("issuer")
    did = issuer.get("id") if isinstance(issuer, dict) else issuer
    name = issuer.get("name") if isinstance(issuer, dict) else None
    key = ""
    try:
        if checked.format == "ob3-jwt":
            segment = checked.document.strip().split(".")[0]
            key = str(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))).get("kid") or "")
        else:
            proofs = json.loads(checked.document).get("proof") or []
            key = str((proofs[0] if isinstance(proofs, list) and proofs else {}).get("verificationMethod") or "")
    except (ValueError, AttributeError):
        key = ""
    return Signer(title_text(name) if name else (school.legal_name if school else ""), str(did or ""), key)


@bp.get("/credentials/<uuid:credential_id>.<any(jwt, json, 'elm.json'):ext>")
def download(credential_id: UUID, ext: str) -> Response:
    uuid = str(credential_id)
    fmt, mimetype, suffix = DOWNLOAD[ext]
    with unit_of_work() as session:
        found = _find(session, uuid)
        target = found if found.format == fmt else session.scalars(
            select(Credential).where(Credential.award_id == found.award_id, Credential.format == fmt)).first()
        if target is None:
            abort(404)
        if target.revoked_at is not None or found.revoked_at is not None:
            # a revoked credential is not handed out as a file to pass on; the page says why
            abort(410, description=gettext("This credential was revoked; it is no longer offered for download."))
        body = target.document
        name = download_name(session, target, suffix)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def download_name(session: Session, credential: Credential, suffix: str) -> str:
    """``<school>-<credential title>-<learner>.<suffix>``, ASCII only (any browser, any file system)."""
    award = session.get(Award, credential.award_id)
    learner = session.get(Learner, award.learner_id) if award else None
    school = session.get(School, credential.school_id)
    # the file is the learner's: named in the learner's language, whoever downloads it
    language = normalise_locale(learner.locale if learner else None) or "en"
    title = title_text((award.snapshot or {}).get("title"), language) if award else ""
    parts = [slugify(p, max_length=40, word_boundary=True) for p in
             (school.slug if school else "", title, learner.full_name if learner else "")]
    stem = "-".join(p for p in parts if p) or f"credential-{credential.uuid}"
    return f"{stem}.{suffix}"


@bp.get("/schools/<slug>/logo")
def school_logo(slug: str) -> Response:
    with unit_of_work() as session:
        school = session.scalars(select(School).where(School.slug == slug)).first()
        if school is None or not school.logo or not school.logo_type:
            abort(404)
        body, mimetype = bytes(school.logo), school.logo_type
    return Response(body, mimetype=mimetype, headers={"Cache-Control": "max-age=3600"})


@bp.get("/schools/<slug>/identity.css")
def school_style(slug: str) -> Response:
    """The school's colour as a stylesheet of its own: the pages' policy allows no inline style."""
    with unit_of_work() as session:
        school = session.scalars(select(School).where(School.slug == slug)).first()
        colour = school.brand_colour if school is not None else None
    if not colour or not BRAND_COLOUR.fullmatch(colour):
        abort(404)
    return Response(f":root {{ --brand: {colour}; }}\n", mimetype="text/css",
                    headers={"Cache-Control": "max-age=3600"})


@bp.get("/schools/<slug>/did.json")
def did_document(slug: str) -> Any:
    with unit_of_work() as session:
        school = session.scalars(select(School).where(School.slug == slug)).first()
        if school is None:
            abort(404)
        document = school_did_document(session, school, base_url())
    return Response(json.dumps(document), mimetype="application/did+json",
                    headers={"Access-Control-Allow-Origin": "*"})


@bp.get("/schools/<slug>/status/<int:list_id>")
def status_list(slug: str, list_id: int) -> Any:
    with unit_of_work() as session:
        school = session.scalars(select(School).where(School.slug == slug)).first()
        row = session.get(StatusList, list_id)
        if school is None or row is None or row.school_id != school.id:
            abort(404)
        token = _status_credential(session, school, row)
    return Response(token, mimetype="application/vc+jwt",
                    headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=60"})


@bp.after_request
def _no_store_for_people(response: Response) -> Response:
    if request.endpoint == "verify.credential":
        response.vary.add("Accept")
    return response
