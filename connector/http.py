"""Small HTTP helpers shared by every outbound client (Moodle Web Services, issuing services)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import requests


def retry_after(response: requests.Response) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
