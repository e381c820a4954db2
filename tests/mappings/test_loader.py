"""Mapping files: the examples validate, every broken file fails with its message at its line/column."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from credbridge.mappings import MappingError, diff, dump_mapping, load_mapping_file, load_mapping_text, warnings_of
from credbridge.mappings.loader import json_schema_text
from tests.mappings.helpers import EXAMPLES, REPO

BROKEN = Path(__file__).parent / "broken"
_EXPECT = re.compile(r"^# expect: (\w+) (\d+):(\d+) (.+)$")


def test_every_example_validates_and_resolves(site):
    from credbridge.mappings import resolve

    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files
    for f in files:
        ms = load_mapping_file(f)
        resolved = resolve(ms, site)
        assert all(resolved.can_issue(t.code) for t in ms.templates), f


def test_example_content(example_set):
    assert [u.code for u in example_set.units] == ["TD-READ", "CNC-PROG", "CNC-OPS", "WELD-SAFE"]
    cnc = example_set.template("CNC-OPERATOR")
    assert example_set.template_unit_codes("CNC-OPERATOR") == ["CNC-PROG", "CNC-OPS", "TD-READ"]
    assert cnc.eqf_level == "http://data.europa.eu/snb/eqf/4"
    assert example_set.template_country(example_set.template("WELD-SAFETY")) == "SI"
    assert example_set.unit("TD-READ").isced_f == "http://data.europa.eu/snb/isced-f/0715"
    # the Slovenian template carries two warnings but loads: the national rule, and CSVET (on TD-READ
    # only, not WELD-SAFE) left out of its workload
    assert [w.code for w in warnings_of(example_set)] == ["national_rule", "national_rule"]
    messages = " ".join(w.message for w in warnings_of(example_set))
    assert "SI-MC-SHORT-PROGRAMME" in messages and "CREDITS-PARTIAL" in messages and "CSVET credits" in messages


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_file_fails_with_message_and_position(path):
    header = path.read_text("utf-8").splitlines()[0]
    m = _EXPECT.match(header)
    assert m, f"{path.name}: first line must be '# expect: <code> <line>:<col> <message>'"
    code, line, col, message = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    with pytest.raises(MappingError) as info:
        load_mapping_file(path)
    hits = [p for p in info.value.problems if p.code == code and message in p.message]
    assert hits, f"expected {code} {message!r}, got:\n{info.value}"
    assert (hits[0].line, hits[0].column) == (line, col), str(hits[0])
    assert hits[0].file == str(path)
    assert f"{path}:{line}:{col}:" in str(info.value)


def test_broken_corpus_covers_every_check():
    codes = {_EXPECT.match(p.read_text("utf-8").splitlines()[0]).group(1) for p in BROKEN.glob("*.yaml")}
    assert {"vocabulary", "dangling_reference", "missing_element", "yaml_syntax", "duplicate_code",
            "stacking_cycle", "national_rule"} <= codes


def test_not_a_mapping_and_unreadable(tmp_path):
    with pytest.raises(MappingError, match="a mapping file is a YAML mapping"):
        load_mapping_text("- just\n- a list\n", "list.yaml")
    with pytest.raises(MappingError) as info:
        load_mapping_file(tmp_path / "nope.yaml")
    assert info.value.problems[0].code == "unreadable"


def test_unknown_field_and_bad_language_are_placed():
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    broken = text.replace("  checks_id_at_supervised_exams: true", "  checks_ids: true")
    with pytest.raises(MappingError) as info:
        load_mapping_text(broken, "x.yaml")
    p = next(p for p in info.value.problems if p.code == "unknown_field")
    assert "unknown field 'checks_ids'" in p.message
    assert p.line == broken.splitlines().index("  checks_ids: true") + 1 and p.column == 3
    broken = text.replace("title: {en: Welding safety, sl: Varnost pri varjenju}",
                          "title: {English: Welding safety}")
    with pytest.raises(MappingError, match="'English' is not a language code"):
        load_mapping_text(broken, "x.yaml")


def test_errors_change_nothing_and_list_all_problems():
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    broken = text.replace("eqf_level: 3\n    isced_f", "eqf_level: 11\n    isced_f").replace(
        "mode: Blended", "mode: Blendid")
    with pytest.raises(MappingError) as info:
        load_mapping_text(broken, "x.yaml")
    assert {p.code for p in info.value.problems} == {"vocabulary"}
    assert len(info.value.problems) >= 3  # two units at eqf 3 and the course mode


def test_dump_round_trip_and_diff(example_set):
    text = dump_mapping(example_set)
    again = load_mapping_text(text, "dumped.yaml")
    assert again.model_dump() == example_set.model_dump()
    assert diff(example_set, again) == []
    changed = load_mapping_text(text.replace("validity: P5Y", "validity: P3Y").replace(
        "code: WELD-SAFETY\n  version: 2", "code: WELD-SAFETY\n  version: 3"), "changed.yaml")
    changes = diff(example_set, changed)
    assert "template CNC-OPERATOR.validity: 'P5Y' -> 'P3Y'" in changes
    assert "template WELD-SAFETY.version: 2 -> 3" in changes
    assert len(changes) == 2


def test_diff_added_and_removed_units(example_set):
    data = dump_mapping(example_set)
    with pytest.raises(MappingError, match='duplicate key "units"'):
        load_mapping_text(data.replace("version: 2", "version: 2\n  units: [WELD-SAFE]"), "s.yaml")
    ms_dict = example_set.model_dump()
    ms_dict["units"] = ms_dict["units"][:3]
    ms_dict["templates"] = [t for t in ms_dict["templates"] if t["code"] != "WELD-SAFETY"]
    for t in ms_dict["templates"]:
        t["part_of"] = [p for p in t["part_of"] if p != "WELD-SAFETY"]
    from credbridge.mappings import MappingSet

    fewer = MappingSet.model_validate(ms_dict)
    changes = diff(example_set, fewer)
    assert "unit WELD-SAFE: removed" in changes and "template WELD-SAFETY: removed" in changes
    assert "unit WELD-SAFE: added" in diff(fewer, example_set)


def test_committed_json_schema_is_up_to_date():
    committed = (REPO / "mappings" / "schema" / "mapping.schema.json").read_text("utf-8")
    assert committed == json_schema_text(), "run: python -m credbridge.mappings.schema_gen"


def test_json_schema_accepts_the_example():
    import jsonschema
    from ruamel.yaml import YAML

    schema = json.loads(json_schema_text())
    data = YAML(typ="safe").load((EXAMPLES / "vet-college.yaml").read_text("utf-8"))
    jsonschema.validate(json.loads(json.dumps(data)), schema)
    data["units"][0]["evidence"] = {"quiz_pased": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(json.dumps(data)), schema)


def test_oib_is_checked():
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    with pytest.raises(MappingError, match="'12345678904' is not a valid OIB") as info:
        load_mapping_text(text.replace('value: "12345678903"', 'value: "12345678904"'), "x.yaml")
    assert info.value.problems[0].line == next(
        i for i, line in enumerate(text.splitlines(), 1) if "12345678903" in line and "OIB" in line)


def test_self_stacking_is_a_cycle():
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    with pytest.raises(MappingError, match=r"stacking cycle: TD-BASICS -> TD-BASICS"):
        load_mapping_text(text.replace("part_of: [CNC-OPERATOR, WELD-SAFETY]", "part_of: [TD-BASICS]"), "x.yaml")


def test_alias_bomb_and_huge_files_are_refused_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    with pytest.raises(MappingError) as info:
        load_mapping_text(bomb, "bomb.yaml")
    assert info.value.problems[0].code == "too_large"
    with pytest.raises(MappingError, match="at most 5,000,000"):
        load_mapping_text("#" * 5_000_001, "big.yaml")


def test_anchors_within_budget_are_fine():
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    text = text.replace("  quality_assurance:\n    type: Institutional",
                        "  quality_assurance: &qa\n    type: Institutional")
    tail = "    outputs: [ob3-jwt, elm]\n    languages: [sl, en]"
    text = text.replace(f"    eqf_level: 3\n{tail}", f"    eqf_level: 3\n    quality_assurance: *qa\n{tail}")
    ms = load_mapping_text(text, "anchors.yaml")
    assert ms.template("WELD-SAFETY").quality_assurance == ms.school.quality_assurance


def test_deep_nesting_is_refused():
    with pytest.raises(MappingError) as info:
        load_mapping_text("a: " + "[" * 1500 + "]" * 1500 + "\n", "deep.yaml")
    assert info.value.problems[0].code == "too_large"


def test_deep_block_nesting_is_refused():
    text = "".join(" " * (2 * i) + f"k{i}:\n" for i in range(400)) + " " * 800 + "x: 1\n"
    with pytest.raises(MappingError) as info:
        load_mapping_text(text, "deep-block.yaml")
    assert info.value.problems[0].code in {"too_large", "invalid_value", "unknown_field"}
