"""The README's Moodle set-up is one truth (issue 11): the capability table, the role file a Moodle admin
imports, the emulator's default sync role and the check's capability names agree; the role file is what
Moodle's role import accepts; each release's function list names functions that release has and
everything sync requires."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from credbridge.connector.moodle.functions import OPTIONAL_FUNCTIONS, REQUIRED_FUNCTIONS, SUCCESSORS, WsFunction
from credbridge.emulator.roles import RECORDED_README_ROLE, SYNC_ROLE
from credbridge.emulator.versions import RELEASES
from credbridge.emulator.ws import OTHER_MOODLE_FUNCTIONS, REGISTRY, _load_functions

REPO = Path(__file__).resolve().parents[1]
ROLE_FILE = REPO / "deploy" / "moodle" / "credbridge-sync-role.xml"
SCHEMA = REPO / "tests" / "data" / "moodle-roles" / "role_schema.xml"
FUNCTION_FILES = {"4.1": "functions-4.1.txt", "4.5": "functions-4.5.txt", "5.0": "functions-5.0.txt"}


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def readme_capabilities() -> set[str]:
    section = readme_section("Connecting a real Moodle")
    table = section[section.index("| capability | why |"):]
    table = table[:table.index("\n\n")]
    return {cap for row in table.splitlines()[2:] for cap in re.findall(r"`([a-z]+/[a-z_]+:[a-z]+)`",
                                                                            row.split("|")[1])}


def role_file_capabilities() -> set[str]:
    root = etree.parse(str(ROLE_FILE)).getroot()
    return {node.text for node in root.find("permissions") if node.tag == "allow"}


def function_file(release: str) -> list[str]:
    lines = (REPO / "deploy" / "moodle" / FUNCTION_FILES[release]).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_readme_the_role_file_and_the_emulator_role_agree() -> None:
    assert readme_capabilities() == role_file_capabilities() == set(SYNC_ROLE)


def test_the_role_adds_the_module_view_capabilities_the_recordings_show_were_missing() -> None:
    assert {"mod/quiz:view", "mod/assign:view", "moodle/course:viewsuspendedusers"} <= SYNC_ROLE - RECORDED_README_ROLE
    assert RECORDED_README_ROLE <= SYNC_ROLE


def test_the_role_file_is_what_moodle_imports() -> None:
    """core_role_preset::is_valid_preset: well-formed and valid against admin/roles/role_schema.xml;
    parse_preset then reads a system-context role with only "allow" permissions."""
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    document = etree.parse(str(ROLE_FILE))
    assert schema.validate(document), schema.error_log
    root = document.getroot()
    assert root.findtext("shortname") == "credbridgesync"  # PARAM_ALPHANUMEXT, lower case
    assert [level.text for level in root.find("contextlevels")] == ["system"]
    assert {node.tag for node in root.find("permissions")} == {"allow"}
    assert all(re.fullmatch(r"[a-z]+/[a-z_]+:[a-z]+", node.text) for node in root.find("permissions"))


def test_a_broken_role_file_would_be_refused() -> None:
    """The schema check is not a formality: Moodle refuses permissions before the context levels."""
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    broken = etree.fromstring(b"<role><permissions><allow>webservice/rest:use</allow></permissions>"
                              b"<contextlevels><level>system</level></contextlevels></role>")
    assert not schema.validate(etree.ElementTree(broken))


@pytest.mark.parametrize("release", sorted(FUNCTION_FILES))
def test_each_release_lists_functions_it_has_and_everything_sync_requires(release: str) -> None:
    _load_functions()
    listed = function_file(release)
    assert len(listed) == len(set(listed))
    exists = (set(REGISTRY) | OTHER_MOODLE_FUNCTIONS) - RELEASES[release].lacks
    assert set(listed) <= exists, set(listed) - exists
    for function in REQUIRED_FUNCTIONS:
        successor = SUCCESSORS.get(function)
        assert function in listed or (successor in listed and release == "5.0"), function
    assert set(listed) <= {str(f) for f in (*REQUIRED_FUNCTIONS, *OPTIONAL_FUNCTIONS)}
    section = readme_section("Connecting a real Moodle")
    for function in listed:
        assert f"`{function}`" in section, f"the README's table does not name {function}"


def test_the_readme_gives_the_50_replacement_only_for_50() -> None:
    assert str(WsFunction.QUIZ_USER_ATTEMPTS) in function_file("5.0")
    assert str(WsFunction.QUIZ_USER_ATTEMPTS) not in function_file("4.5") + function_file("4.1")
    assert str(WsFunction.GRADEBOOK_ITEMS) not in function_file("4.1")
