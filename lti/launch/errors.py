"""A launch that failed one named check (SF §5.1.3); the web layer renders it as a clear page."""

from __future__ import annotations


class LaunchError(Exception):
    """``check`` names the failed rule (e.g. ``aud``, ``nonce_replayed``); ``status`` is the HTTP code."""

    def __init__(self, check: str, message: str, *, status: int = 400) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message
        self.status = status
