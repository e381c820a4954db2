"""Review finding 7 (mapping files): object tags and absurd numbers are refused at their line and
column, in the loader and through the console's upload, never a traceback or a 500."""

from __future__ import annotations

import pytest

from credbridge.mappings.errors import MappingError
from credbridge.mappings.loader import load_mapping_text
from tests.awards.conftest import MAPPING
from tests.pages.conftest import Env, csrf_token

HOSTILE = {
    "apply": ("school:\n  name: !!python/object/apply:os.system ['touch /tmp/pwned']\n", 2, 9, "python/object/apply"),
    "new": ("units:\n  - !!python/object/new:collections.OrderedDict [[[a, 1]]]\n", 2, 5, "python/object/new"),
    "name": ("school: !!python/name:os.system\n", 1, 9, "python/name"),
    "huge": ("school:\n  hours: " + "7" * 100_000 + "\n", 2, 10, "100,000 characters"),
    "hex": ("x: 0x" + "f" * 5000 + "\n", 1, 4, "characters"),
    "inf": ("x: 1e400\n", 1, 4, "not a finite number"),
    "nan": ("x: .nan\n", 1, 4, "not a finite number"),
    "omap": ("x: !!omap [a: 1]\n", 1, 4, "!!omap"),
    "own tag": ("x: !local {a: 1}\n", 1, 4, "!local"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_loader_names_the_place(name: str) -> None:
    text, line, column, words = HOSTILE[name]
    with pytest.raises(MappingError) as refused:
        load_mapping_text(text, "upload.yaml")
    first = refused.value.problems[0]
    assert (first.file, first.line, first.column) == ("upload.yaml", line, column), str(refused.value)
    assert words in first.message


def test_nothing_is_constructed_from_an_object_tag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    with pytest.raises(MappingError):
        load_mapping_text(f"school: !!python/object/apply:os.system ['touch {marker}']\n")
    assert not marker.exists()


def test_merge_keys_still_load_and_are_placed() -> None:
    with pytest.raises(MappingError) as refused:
        load_mapping_text("defaults: &d {x: 1}\nschool:\n  <<: *d\n  y: 2\n", "m.yaml")
    assert all(p.file == "m.yaml" and p.line >= 1 for p in refused.value.problems)


def test_the_real_mapping_file_still_loads() -> None:
    assert load_mapping_text(MAPPING.read_text("utf-8"), str(MAPPING)).templates


@pytest.mark.parametrize("name", ["apply", "new", "huge"])
def test_the_console_upload_shows_the_problem(env: Env, name: str) -> None:
    text, _line, _column, words = HOSTILE[name]
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    response = client.post("/admin/mappings/edit", data={"csrf_token": token, "filename": "upload.yaml",
                                                         "content": text, "action": "check"})
    assert response.status_code == 422
    assert words.split(",")[0] in response.get_data(as_text=True)
