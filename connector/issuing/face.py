"""What every page that shows a credential puts at its top: its image and who issued it, exactly as
the issued documents say (the pages' include ``pages/credential_face.html``).

From an issued document when there is one (its ``achievement.image``, ELM display image and issuer
name), else from the award snapshot through the same helpers the documents are built with, so a
preview, the learner's page, the verification page and the certificate never name the issuer
differently from the credential.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from credbridge.connector.issuing.adapters.content import (
    SnapshotError,
    awarding_body_name,
    credential_image,
    issuer_name,
)
from credbridge.connector.issuing.formats import content as fc
from credbridge.connector.issuing.formats.errors import FormatError
from credbridge.connector.issuing.formats.images import Branding
from credbridge.connector.issuing.formats.vc_jwt import decode_unverified

_ELM_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "SVG": "image/svg+xml"}


@dataclass(frozen=True)
class CredentialFace:
    image: str  # a data: URI (or the URL the document names)
    title: str  # the credential's title in its primary language: the image's text alternative
    issuer: str  # the issuer's name as the credential states it
    awarding_body: str  # the same for the awarding body (the issuer, or the partner it issues for)


def _ob3(document: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    achievement = (document.get("credentialSubject") or {}).get("achievement") or {}
    image = achievement.get("image")
    uri = image.get("id") if isinstance(image, dict) else image if isinstance(image, str) else None
    issuer = document.get("issuer") or {}
    creator = achievement.get("creator") or {}
    return uri, issuer.get("name"), creator.get("name") or issuer.get("name")


def _elm(document: dict[str, Any]) -> str | None:
    try:
        display = document["displayParameter"]["individualDisplay"][0]["displayDetail"][0]["image"]
        media_type = _ELM_TYPES[display["contentType"]["id"].rsplit("/", 1)[-1]]
        return f"data:{media_type};base64,{display['content']}"
    except (KeyError, IndexError, TypeError):
        return None


def _from_document(document: Any, fmt: str | None) -> tuple[str | None, str | None, str | None]:
    try:
        if fmt == "ob3-jwt" and isinstance(document, str):
            return _ob3(decode_unverified(document))
        parsed = json.loads(document) if isinstance(document, str) else document
        if not isinstance(parsed, dict):
            return None, None, None
        if fmt == "elm" or "displayParameter" in parsed:
            return _elm(parsed), None, None
        return _ob3(parsed)
    except (FormatError, ValueError, TypeError, AttributeError):
        return None, None, None  # an unreadable document: the snapshot gives the face


def credential_face(snapshot: dict[str, Any] | None, document: Any = None, fmt: str | None = None,
                    branding: Branding | None = None) -> CredentialFace | None:
    """The face of an award's credential; None when the snapshot cannot make one (nothing to show)."""
    snapshot = snapshot or {}
    image, issuer, body = _from_document(document, fmt) if document is not None else (None, None, None)
    title_map = snapshot.get("title")
    languages = tuple(snapshot.get("languages") or ("en",))
    title = fc.primary_text(title_map, languages) if isinstance(title_map, dict) and title_map else ""
    try:
        image = image or credential_image(snapshot, branding).data_uri
        issuer = issuer or issuer_name(snapshot)
        body = body or awarding_body_name(snapshot)
    except SnapshotError:
        if image is None or issuer is None:
            return None
    return CredentialFace(image=image, title=title, issuer=issuer, awarding_body=body or issuer)
