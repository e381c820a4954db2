"""Console passwords (scrypt, via werkzeug which calls ``hashlib.scrypt``).

A login with an unknown e-mail does the same scrypt work as one with a known e-mail (against a
hash nobody's password matches), so the answer's timing does not tell which e-mails have accounts.
The brake against guessing lives with the console's login page.
"""

from __future__ import annotations

import functools
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash.startswith("scrypt:"):
        return False  # never accept another scheme, whatever the row says
    return check_password_hash(password_hash, password)


@functools.cache
def _unmatchable_hash() -> str:
    # the same method and parameters as every stored hash, so the same work
    return generate_password_hash(secrets.token_urlsafe(32), method="scrypt")


def verify_login(password_hash: str | None, password: str) -> bool:
    """``verify_password`` for a login: ``password_hash`` is None when no account has the e-mail, and
    the same scrypt work is done anyway."""
    if password_hash is None or not password_hash.startswith("scrypt:"):
        check_password_hash(_unmatchable_hash(), password)
        return False
    return check_password_hash(password_hash, password)
