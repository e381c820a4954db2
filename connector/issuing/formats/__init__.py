"""Credential documents (OB 3.0, ELM v3), signing (VC-JWT, Data Integrity), DIDs, status lists, verification.

Pure functions over plain dicts: no database, no network. See README.md for the public API.
"""

from credbridge.connector.issuing.formats.content import CredentialContent
from credbridge.connector.issuing.formats.data_integrity import sign_data_integrity
from credbridge.connector.issuing.formats.did import (
    NamedKey,
    did_key,
    did_web_document,
    did_web_id,
    did_web_school,
    jwks,
    resolve_public_key,
)
from credbridge.connector.issuing.formats.elm import build_elm
from credbridge.connector.issuing.formats.export import IssuedArtefacts, write_export
from credbridge.connector.issuing.formats.ob3 import build_ob3
from credbridge.connector.issuing.formats.status_list import StatusList, build_status_list_credential
from credbridge.connector.issuing.formats.vc_jwt import sign_vc_jwt
from credbridge.connector.issuing.formats.verify import (
    Check,
    VerificationResult,
    verify_data_integrity,
    verify_jwt,
)

__all__ = [
    "Check",
    "CredentialContent",
    "IssuedArtefacts",
    "NamedKey",
    "StatusList",
    "VerificationResult",
    "build_elm",
    "build_ob3",
    "build_status_list_credential",
    "did_key",
    "did_web_document",
    "did_web_id",
    "did_web_school",
    "jwks",
    "resolve_public_key",
    "sign_data_integrity",
    "sign_vc_jwt",
    "verify_data_integrity",
    "verify_jwt",
    "write_export",
]
