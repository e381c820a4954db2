"""Regenerate schema/mapping.schema.json: ``python -m credbridge.mappings.schema_gen``."""

from __future__ import annotations

from pathlib import Path

from credbridge.mappings.loader import json_schema_text

TARGET = Path(__file__).parent / "schema" / "mapping.schema.json"


def main() -> None:
    TARGET.write_text(json_schema_text(), "utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
