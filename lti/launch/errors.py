"""A launch that failed one named check (SF §5.1.3); the web layer renders it as a clear page."""

from __future__ import annotations

#: a refusal names what was wrong and may quote what was sent, but never echoes a whole hostile
#: value back (a 30 MB ``iss`` would otherwise come back in the page and in the log line)
MAX_MESSAGE = 400


def shown(value: object, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters: how a refusal quotes what the request sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LaunchError(Exception):
    """``check`` names the failed rule (e.g. ``aud``, ``nonce_replayed``); ``status`` is the HTTP code."""

    def __init__(self, check: str, message: str, *, status: int = 400) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message
        self.status = status
