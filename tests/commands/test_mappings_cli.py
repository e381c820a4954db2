"""`credbridge mappings validate / export-catalogue` on the worked examples and the broken corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from credbridge.connector.commands.mappings import mappings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "mappings" / "examples" / "vet-college.yaml"
BROKEN = REPO / "tests" / "mappings" / "broken"


def test_example_validates_and_lists_its_templates() -> None:
    result = CliRunner().invoke(mappings, ["validate", str(EXAMPLE)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "3 templates, all complete" in result.output
    for code in ("CNC-OPERATOR", "WELD-SAFETY", "TD-BASICS"):
        assert code in result.output


@pytest.mark.parametrize("name", sorted(p.name for p in BROKEN.glob("*.yaml")))
def test_broken_file_fails_with_its_location(name: str) -> None:
    result = CliRunner().invoke(mappings, ["validate", str(BROKEN / name)], terminal_width=300)
    assert result.exit_code == 1
    first = result.output.strip().splitlines()[0]
    assert first.startswith(f"{BROKEN / name}:"), first
    line, column = first.split(":")[1:3]
    assert int(line) > 0 and int(column) > 0


def test_catalogue_is_json_ld_with_the_templates(tmp_path: Path) -> None:
    out = tmp_path / "catalogue.jsonld"
    result = CliRunner().invoke(mappings, ["export-catalogue", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert "http://data.europa.eu/snb/model/context/edc-ap" in document["@context"]
    assert "CNC" in out.read_text()
