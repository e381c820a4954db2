"""Moodle's REST XML format (webservice/rest/locallib.php), used when moodlewsrestformat is not json.

Moodle renders XML from the function's return description; the emulator has no descriptions, so
dicts become SINGLE, lists MULTIPLE and scalars VALUE (booleans as 1/0, None as null="null").
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from credbridge.emulator.errors import MoodleException

HEADER = '<?xml version="1.0" encoding="UTF-8" ?>\n'


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _xmlize(value: Any) -> str:
    if isinstance(value, dict):
        keys = "".join(f"<KEY name={quoteattr(str(k))}>{_xmlize(v)}</KEY>\n" for k, v in value.items())
        return f"<SINGLE>\n{keys}</SINGLE>\n"
    if isinstance(value, list):
        return "<MULTIPLE>\n" + "".join(_xmlize(v) for v in value) + "</MULTIPLE>\n"
    if value is None:
        return '<VALUE null="null"/>\n'
    return f"<VALUE>{escape(_scalar(value), {chr(34): '&quot;'})}</VALUE>\n"


def response_xml(result: Any) -> str:
    return f"{HEADER}<RESPONSE>\n{_xmlize(result)}</RESPONSE>\n"


def exception_xml(exc: MoodleException, *, debug: bool = False) -> str:
    out = [HEADER, f"<EXCEPTION class={quoteattr(exc.exception)}>\n",
           f"<ERRORCODE>{escape(exc.errorcode)}</ERRORCODE>\n", f"<MESSAGE>{escape(exc.message)}</MESSAGE>\n"]
    if debug and exc.debuginfo:
        out.append(f"<DEBUGINFO>{escape(exc.debuginfo)}</DEBUGINFO>\n")
    out.append("</EXCEPTION>\n")
    return "".join(out)
