"""Paging links. Moodle writes ``rel=“next”`` with typographic quotes in AGS (lineitems.php,
results.php) and ASCII quotes in NRPS; requests' own ``Response.links`` parser only knows the
ASCII form, so the brief's verified regex is used for both."""

from __future__ import annotations

import re

_NEXT = re.compile(r"<([^>]+)>\s*;\s*rel=[^,;<]*?(?<![A-Za-z])next(?![A-Za-z])")


def next_link(link_header: str | None) -> str | None:
    if not link_header:
        return None
    match = _NEXT.search(link_header)
    return match.group(1) if match else None
