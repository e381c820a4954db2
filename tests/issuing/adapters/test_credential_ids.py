"""Credential ids are public (verification URLs) and must not be guessable from the award's key."""

from __future__ import annotations

import pytest

from credbridge.connector.issuing.adapters.content import credential_uuid


def test_ids_are_stable_per_award_and_depend_on_its_secret() -> None:
    key = "vet-college:5:CNC-OPERATOR:1:embedded"
    assert credential_uuid(key, "ob3-jwt", "a" * 32) == credential_uuid(key, "ob3-jwt", "a" * 32)
    assert credential_uuid(key, "ob3-jwt", "a" * 32) != credential_uuid(key, "ob3-jwt", "b" * 32)
    assert credential_uuid(key, "ob3-jwt", "a" * 32) != credential_uuid(key, "elm", "a" * 32)


def test_an_award_without_a_secret_cannot_name_credentials() -> None:
    with pytest.raises(ValueError, match="identity_salt"):
        credential_uuid("vet-college:5:CNC-OPERATOR:1:embedded", "ob3-jwt", "")
