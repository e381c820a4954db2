"""Errors of the formats package: each carries a code the UI can explain and a one-line message."""

from __future__ import annotations


class FormatError(Exception):
    """Base class; ``code`` is stable, the message names the problem."""

    code = "format_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContentError(FormatError):
    """The credential content cannot be turned into a valid document (names the field)."""

    code = "invalid_content"


class UnknownContextError(FormatError):
    """A JSON-LD document names a context that is not bundled; we never fetch contexts."""

    code = "unknown_context"


class KeyResolutionError(FormatError):
    """A verification method could not be resolved to an Ed25519 public key."""

    code = "key_resolution"


class SigningError(FormatError):
    """The credential cannot be signed as given."""

    code = "signing"


class StatusListError(FormatError):
    """A status list or status entry is malformed or an index is out of range."""

    code = "status_list"
