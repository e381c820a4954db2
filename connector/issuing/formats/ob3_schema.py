"""The 1EdTech OB 3.0 AchievementCredential JSON Schema, bundled so validation works offline.

``jsonschema`` is imported lazily: it is a test dependency today; the verification page can show
schema results once it is a runtime dependency too.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from credbridge.connector.issuing.formats.jsonld_offline import DATA

SCHEMA_FILE = DATA / "schema" / "ob_v3p0_achievementcredential_schema.json"


@cache
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def schema_errors(credential: dict[str, Any]) -> list[str]:
    """Human-readable schema violations (``$.path: message``); empty when the credential is valid."""
    import jsonschema  # optional dependency, see the module docstring

    schema = load_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(credential)]
