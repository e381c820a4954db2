"""The console says what things are and asks before what cannot be taken back: the mapping's dry run
(who would newly earn what, which templates get a new version), saving only after confirming that
list, every saved version viewable, comparable and restorable, the outbox and the audit log by name
and with filters, key rotation behind a confirmation step, and the states in the reader's language."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credbridge.connector.awards.decide import EvaluationSources
from credbridge.connector.store.models import (
    AuditEntry,
    Award,
    Credential,
    MappingFile,
    OutboxItem,
    School,
    SigningKey,
    TemplateDefinition,
)
from credbridge.lti.pages import mapping_editor
from credbridge.lti.pages.mapping_editor import check_mapping
from credbridge.mappings.evidence import EvidenceFact
from tests.awards.conftest import MAPPING
from tests.pages.conftest import Env, csrf_token, evidence_book

TEXT = Path(MAPPING).read_text("utf-8")
#: a change to a unit that three templates contain (TD-READ is stacked into all of them)
RENAMED = TEXT.replace("Reading technical drawings", "Reading engineering drawings")
#: a fourth template made of the same unit: everyone who has TD-READ newly earns it
WITH_NEW_TEMPLATE = TEXT.replace("  - code: CNC-OPERATOR\n", """  - code: TD-SOLO
    version: 1
    title: {en: Drawing reader, hr: Čitač crteža}
    units: [TD-READ]
    eqf_level: 3
    outputs: [ob3-jwt]
    languages: [hr, en]
    register_standard: "HKO SK: Operater/operaterka CNC strojeva (ID 1234)"

  - code: CNC-OPERATOR
""", 1)
#: codes, or a code alone in a cell (``pending`` is also an English word, so only as a whole cell)
RAW_STATES = re.compile(r"\b(pending_approval|waiting_teacher|issue_now|embedded|units_changed)\b"
                        r"|>\s*(pending|sending|failed|dead|active|manual|dynamic)\s*<")


def _visible(html: str) -> str:
    """The page's text between tags, without attributes, scripts and <code> (where codes are meant)."""
    html = re.sub(r"<(script|style|code|textarea)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", "><", html)


def _edit(client, token: str, content: str, action: str, **extra: str):
    return client.post("/admin/mappings/edit", data={"csrf_token": token, "content": content, "action": action,
                                                     **extra})


def _confirm_token(html: str) -> str:
    found = re.search(r'name="confirm" value="([0-9a-f]+)"', html)
    assert found, "the page asks for no confirmation"
    return found.group(1)


def _active(env: Env) -> MappingFile:
    with env.db.unit_of_work() as s:
        row = s.scalars(select(MappingFile).where(MappingFile.school_id == env.world.school_a,
                                                  MappingFile.active.is_(True))).one()
        s.expunge(row)
        return row


def _template_versions(env: Env) -> dict[str, int]:
    with env.db.unit_of_work() as s:
        return {t.code: t.version for t in s.scalars(select(TemplateDefinition).where(
            TemplateDefinition.school_id == env.world.school_a, TemplateDefinition.is_current.is_(True)))}


def _rows(html: str, table: str) -> list[str]:
    body = re.search(rf'<table[^>]*id="{table}".*?<tbody>(.*?)</tbody>', html, flags=re.S)
    assert body, f"no table #{table}"
    return re.findall(r"<tr\b.*?</tr>", body.group(1), flags=re.S)


def test_dry_run_names_the_new_template_versions_and_who_would_earn_them_again(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    html = _edit(client, token, RENAMED, "check").get_data(as_text=True)
    plan = {re.search(r'data-code="([^"]+)"', r).group(1): r for r in _rows(html, "version-plan")}
    assert set(plan) == {"TD-BASICS", "CNC-OPERATOR", "WELD-SAFETY"}
    assert "Version 2" in plan["TD-BASICS"] and "One of its units changed" in plan["TD-BASICS"]
    assert "Version 2" in plan["CNC-OPERATOR"] and "new-version" in plan["CNC-OPERATOR"]
    earners = _rows(html, "new-earners")
    # both learners who hold version 1 would earn version 2 of each template they meet
    pairs = {(re.search(r'data-learner="(\d+)"', r).group(1), re.search(r'data-code="([^"]+)"', r).group(1))
             for r in earners}
    for learner in (env.world.learner_hostile, env.world.learner_full):
        assert (str(learner), "TD-BASICS") in pairs and (str(learner), "CNC-OPERATOR") in pairs
    assert str(env.world.learner_plain) not in {p[0] for p in pairs}  # half done: earns nothing
    assert all("already holds an earlier version" in r for r in earners)
    assert "Issued after the teacher approves" in next(r for r in earners if 'data-code="CNC-OPERATOR"' in r)
    assert "Petra Novak" in html  # by name
    assert _template_versions(env) == {"TD-BASICS": 1, "CNC-OPERATOR": 1, "WELD-SAFETY": 2}  # nothing written


def test_dry_run_of_a_new_template_lists_who_would_newly_earn_it(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    html = _edit(client, token, WITH_NEW_TEMPLATE, "check").get_data(as_text=True)
    plan = {re.search(r'data-code="([^"]+)"', r).group(1): r for r in _rows(html, "version-plan")}
    assert "A new template" in plan["TD-SOLO"]
    assert "unchanged" in plan["TD-BASICS"] and "new-version" not in plan["TD-BASICS"]
    solo = [r for r in _rows(html, "new-earners") if 'data-code="TD-SOLO"' in r]
    assert {re.search(r'data-learner="(\d+)"', r).group(1) for r in solo} == {
        str(env.world.learner_hostile), str(env.world.learner_full)}
    assert all("already holds" not in r and "Issued automatically" in r for r in solo)
    assert "Drawing reader" in html


def test_saving_new_versions_needs_the_confirmation_of_exactly_what_was_shown(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    before = _active(env)
    asked = _edit(client, token, RENAMED, "save")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'id="confirm"' in page
    assert "Save and create new template versions?" in page and "version 1 becomes version 2" in page
    assert _active(env).id == before.id and _template_versions(env)["TD-BASICS"] == 1
    confirm = _confirm_token(page)
    # a confirmation given for another text does not save this one
    other = RENAMED.replace("Reading engineering drawings", "Reading workshop drawings")
    again = _edit(client, token, other, "save", confirm=confirm)
    assert again.status_code == 200 and 'id="confirm"' in again.get_data(as_text=True)
    assert _active(env).id == before.id
    saved = _edit(client, token, RENAMED, "save", confirm=confirm)
    assert saved.status_code == 302
    assert "engineering" in _active(env).content
    assert _template_versions(env) == {"TD-BASICS": 2, "CNC-OPERATOR": 2, "WELD-SAFETY": 3}


def test_a_change_that_versions_nothing_saves_without_asking(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    response = _edit(client, token, "# reviewed by the quality team\n" + TEXT, "save")
    assert response.status_code == 302
    assert _active(env).content.startswith("# reviewed") and _template_versions(env)["TD-BASICS"] == 1


def test_history_lists_every_version_and_shows_each_one_and_what_changed(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    first = _active(env)
    confirm = _confirm_token(_edit(client, token, RENAMED, "save").get_data(as_text=True))
    assert _edit(client, token, RENAMED, "save", confirm=confirm).status_code == 302
    second = _active(env)
    history = client.get("/admin/mappings").get_data(as_text=True)
    rows = _rows(history, "mapping-history")
    assert [re.search(r'data-version="(\d+)"', r).group(1) for r in rows] == ["2", "1"]
    assert "In use" in rows[0] and "Earlier version" in rows[1]
    view = client.get(f"/admin/mappings/{first.id}").get_data(as_text=True)
    assert "Reading technical drawings" in view and "Mapping version 1" in view
    diff = client.get(f"/admin/mappings/{second.id}/diff")
    html = diff.get_data(as_text=True)
    assert diff.status_code == 200
    changed = _rows(html, "changes")
    assert any("unit TD-READ.title.en" in r and "Reading technical drawings" in r and "Reading engineering" in r
               for r in changed)
    lines = _rows(html, "line-diff")
    assert any('class="line-removed"' in r and "Reading technical drawings" in r for r in lines)
    assert any('class="line-added"' in r and "Reading engineering drawings" in r for r in lines)
    # compared the other way round on request
    back = client.get(f"/admin/mappings/{first.id}/diff?against={second.id}").get_data(as_text=True)
    assert any('class="line-added"' in r and "Reading technical drawings" in r for r in _rows(back, "line-diff"))


def test_restoring_an_earlier_version_confirms_and_records_where_it_came_from(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    first = _active(env)
    confirm = _confirm_token(_edit(client, token, RENAMED, "save").get_data(as_text=True))
    _edit(client, token, RENAMED, "save", confirm=confirm)
    page = client.get(f"/admin/mappings/edit?from={first.id}").get_data(as_text=True)
    assert "Restore version 1" in page and "Reading technical drawings" in page
    assert 'id="version-plan"' in page and 'id="changes"' in page  # what restoring would change, up front
    asked = _edit(client, token, first.content, "save", **{"from": str(first.id)})
    assert asked.status_code == 200 and "Yes, restore this version" in asked.get_data(as_text=True)
    done = _edit(client, token, first.content, "save", confirm=_confirm_token(asked.get_data(as_text=True)),
                 **{"from": str(first.id)})
    assert done.status_code == 302
    restored = _active(env)
    assert restored.content == first.content and restored.id != first.id and restored.filename == first.filename
    with env.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(MappingFile)
                        .where(MappingFile.school_id == env.world.school_a)) == 3
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "mapping_file.imported")
                          .order_by(AuditEntry.id.desc())).first()
        assert entry.details["restored_from"] == 1
    assert "Version 1 was restored as the current mapping." in client.get("/admin/mappings").get_data(as_text=True)


def test_an_upload_keeps_the_mappings_name(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    name = _active(env).filename
    response = client.post("/admin/mappings/edit", content_type="multipart/form-data", data={
        "csrf_token": token, "action": "save", "filename": name,
        "upload": (io.BytesIO(("# 2027 edition\n" + TEXT).encode()), "cnc-2027-final.yaml")})
    assert response.status_code == 302
    saved = _active(env)
    assert saved.content.startswith("# 2027 edition") and saved.filename == name != "cnc-2027-final.yaml"


def test_another_schools_versions_are_not_found(env: Env) -> None:
    with env.db.unit_of_work() as s:
        other = s.scalars(select(MappingFile.id).where(MappingFile.school_id == env.world.school_b)).first()
    client = env.admin()
    for path in (f"/admin/mappings/{other}", f"/admin/mappings/{other}/diff", f"/admin/mappings/edit?from={other}"):
        assert client.get(path).status_code == 404, path
    own = _active(env).id
    assert client.get(f"/admin/mappings/{own}/diff?against={other}").status_code == 404


def test_outbox_names_learner_and_credential_and_says_what_an_item_waits_for(env: Env) -> None:
    client = env.admin()
    page = client.get("/admin/outbox").get_data(as_text=True)
    rows = _rows(page, "outbox")
    waiting = [r for r in rows if 'data-state="waiting_teacher"' in r]
    assert len(waiting) == 1
    assert "Ana &#34;Quote&#34; O&#39;Brien" in waiting[0] or "Ana &quot;Quote&quot; O&#39;Brien" in waiting[0]
    assert "CNC machine operator (micro-qualification)" in waiting[0]
    assert "Waiting for the teacher&#39;s approval" in waiting[0] and "credbridge (signed by the school)" in waiting[0]
    assert not RAW_STATES.search(_visible(page)), RAW_STATES.search(_visible(page))
    # Croatian, and filtered to what waits on a teacher
    hr = env.admin(locale="hr").get("/admin/outbox?state=waiting_teacher").get_data(as_text=True)
    assert len(_rows(hr, "outbox")) == 1 and "Čeka odobrenje nastavnika" in hr
    assert "Waiting for" not in _visible(hr)
    assert "Nothing matches this filter." in client.get("/admin/outbox?state=dead").get_data(as_text=True)
    assert "Nothing matches this filter." in client.get("/admin/outbox?q=petra").get_data(as_text=True)  # all sent
    assert len(_rows(client.get("/admin/outbox?q=quote").get_data(as_text=True), "outbox")) == 1


def test_outbox_shows_a_dead_item_as_given_up_with_retry(env: Env) -> None:
    with env.db.unit_of_work() as s:
        award = s.get(Award, env.world.award_pending)
        award.status = "dead"
        item = s.scalars(select(OutboxItem).where(OutboxItem.award_id == award.id)).one()
        item.status, item.attempts, item.last_error = "dead", 8, "HTTP 500 from issuer"
    page = env.admin().get("/admin/outbox?state=dead").get_data(as_text=True)
    (row,) = _rows(page, "outbox")
    assert "Gave up after repeated failures" in row and "Retry" in row and "HTTP 500 from issuer" in row


def test_audit_log_reads_as_sentences_with_names_and_filters(env: Env) -> None:
    client = env.admin()
    page = client.get("/admin/audit").get_data(as_text=True)
    rows = _rows(page, "audit")
    decided = [r for r in rows if 'data-action="award.decided"' in r]
    assert decided and all("Earned a micro-credential" in r for r in decided)
    assert any("Petra Novak" in r and "CNC machine operator" in r for r in decided)
    assert any("credbridge (evaluation of evidence)" in r for r in decided)
    assert "{&#34;" not in page and '{"' not in _visible(page)  # no raw JSON
    assert not RAW_STATES.search(_visible(page)), RAW_STATES.search(_visible(page))
    sending = [r for r in rows if 'data-action="outbox.sending"' in r]
    assert sending and all("Waiting to be sent" in r and ">pending<" not in r for r in sending)
    approved = [r for r in rows if 'data-action="award.approved"' in r]
    assert approved and "teacher@alpha.example" in approved[0] and "Approved for issuing" in approved[0]
    only_teacher = _rows(client.get("/admin/audit?actor=teacher@alpha.example").get_data(as_text=True), "audit")
    assert only_teacher and all("teacher@alpha.example" in r for r in only_teacher)
    group = _rows(client.get("/admin/audit?action=outbox.").get_data(as_text=True), "audit")
    assert group and all('data-action="outbox.' in r for r in group)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert "No entries." in client.get(f"/admin/audit?since={tomorrow}").get_data(as_text=True)
    assert _rows(client.get(f"/admin/audit?until={tomorrow}").get_data(as_text=True), "audit")
    hr = env.admin(locale="hr").get("/admin/audit?action=award.decided").get_data(as_text=True)
    assert "Stekao/la mikrokvalifikaciju" in hr and "Earned a micro-credential" not in hr


def test_audit_log_of_another_school_is_not_shown(env: Env) -> None:
    page = env.admin(school_id=env.world.school_b).get("/admin/audit").get_data(as_text=True)
    assert "Petra Novak" not in page and "teacher@alpha.example" not in page


def test_key_rotation_asks_first_and_says_what_happens(env: Env) -> None:
    client = env.admin()
    token = csrf_token(client, "/admin/keys")
    with env.db.unit_of_work() as s:
        before = s.scalar(select(func.count()).select_from(SigningKey)
                          .where(SigningKey.school_id == env.world.school_a))
    bare = client.post("/admin/keys/rotate", data={"csrf_token": token})
    assert bare.status_code == 302 and "rotate=confirm" in bare.headers["Location"]
    with env.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(SigningKey)
                        .where(SigningKey.school_id == env.world.school_a)) == before
    step = client.get("/admin/keys?rotate=confirm").get_data(as_text=True)
    assert "Yes, replace the signing key" in step and "still verify" in step and 'value="rotate"' in step
    with env.db.unit_of_work() as s:  # credentials as people count them: one per award, not per format
        issued = s.scalar(select(func.count(func.distinct(Credential.award_id))).where(
            Credential.school_id == env.world.school_a))
    assert issued == 3 and "so the 3 credentials already issued still verify" in step
    assert "Yes, replace the signing key" not in client.get("/admin/keys").get_data(as_text=True)
    client.post("/admin/keys/rotate", data={"csrf_token": token, "confirm": "rotate"})
    with env.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(SigningKey)
                        .where(SigningKey.school_id == env.world.school_a)) == before + 1


def test_home_shows_the_schools_identity_and_states_in_words(env: Env) -> None:
    page = env.admin().get("/admin/").get_data(as_text=True)
    assert "Tehnička škola Alpha" in page and "Croatia" in page and "12345678903" in page
    assert "/schools/alpha/did.json" in page
    states = {re.search(r'data-status="([^"]+)"', r).group(1): r for r in _rows(page, "award-states")}
    assert "Waiting for the teacher&#39;s approval" in states["pending_approval"] and "Issued" in states["issued"]
    assert not RAW_STATES.search(_visible(page))
    hr = env.admin(locale="hr").get("/admin/").get_data(as_text=True)
    assert "Hrvatska" in hr and "Izdano" in hr


def test_registration_states_are_words(env: Env) -> None:
    page = env.admin().get("/admin/registrations").get_data(as_text=True)
    row = _rows(page, "registrations")[0]
    assert "Active" in row and "Entered by hand" in row
    assert ">active<" not in row and ">manual<" not in row


def test_console_colours_keep_4_5_to_1() -> None:
    from credbridge.lti.pages import STATIC
    from tests.pages.test_accessibility import contrast

    css = (STATIC / "pages" / "console.css").read_text("utf-8")
    assert '@import "console.css"' in (STATIC / "pages" / "pages.css").read_text("utf-8")
    badges = dict(re.findall(r"\.badge\.(outbox-\w+) \{ background: (#[0-9a-fA-F]{6}); \}", css))
    assert set(badges) == {f"outbox-{s}" for s in ("waiting_teacher", "held", "stopped", "revoked", "due", "sending",
                                                   "failed", "dead", "sent")}
    weak = {name: round(contrast(colour, "#ffffff"), 2) for name, colour in badges.items()
            if contrast(colour, "#ffffff") < 4.5}
    assert not weak, weak
    for foreground, background in (("#ffffff", "#8a4f00"), ("#5c3404", "#fffaf2"), ("#083863", "#cfe2f2"),
                                   ("#1d2125", "#d7e6d6"), ("#1d2125", "#f4d6d2"), ("#1d5c1a", "#ffffff"),
                                   ("#545b62", "#ffffff"), ("#1d2125", "#fcefdc")):
        assert foreground in css and background in css, (foreground, background)
        assert contrast(foreground, background) >= 4.5, (foreground, background)


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def _profile(env: Env, client, **fields):
    token = csrf_token(client, "/admin/")
    data = {"csrf_token": token, "legal_name": "Tehnička škola Alpha", "country": "HR", **fields}
    return client.post("/admin/school", data=data, content_type="multipart/form-data", follow_redirects=True)


def test_the_school_sets_how_pages_and_certificates_show_it(env: Env) -> None:
    from credbridge.connector.store.models import School

    client = env.admin()
    page = _profile(env, client, locality="Karlovac", signatory_name="Ivana Lukić", signatory_role="ravnateljica",
                    brand_colour="#1d5c1a", logo=(io.BytesIO(PNG), "grb.png")).get_data(as_text=True)
    assert "School profile saved." in page and "Karlovac" in page and "Ivana Lukić, ravnateljica" in page
    assert 'src="/schools/alpha/logo"' in page and 'alt="Logo of Tehnička škola Alpha"' in page
    logo = client.get("/schools/alpha/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == PNG
    assert "--brand: #1d5c1a" in client.get("/schools/alpha/identity.css").get_data(as_text=True)
    with env.db.unit_of_work() as s:
        school = s.get(School, env.world.school_a)
        assert (school.locality, school.signatory_name, school.brand_colour) == ("Karlovac", "Ivana Lukić", "#1d5c1a")
    # without a new file the logo stays; asked to, it goes
    _profile(env, client, locality="Karlovac")
    assert client.get("/schools/alpha/logo").status_code == 200
    _profile(env, client, remove_logo="1")
    assert client.get("/schools/alpha/logo").status_code == 404


def test_a_bad_logo_or_colour_changes_nothing(env: Env) -> None:
    from credbridge.connector.store.models import School

    client = env.admin()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for fields, message in (
            ({"logo": (io.BytesIO(svg), "grb.svg"), "locality": "Split"}, "must be a PNG or JPEG image"),
            ({"logo": (io.BytesIO(PNG + b"\0" * 600_000), "big.png"), "locality": "Split"}, "larger than 512 KB"),
            ({"brand_colour": "red;} body {display:none", "locality": "Split"}, "six hexadecimal digits")):
        page = _profile(env, client, **fields).get_data(as_text=True)
        assert message in page, message
    with env.db.unit_of_work() as s:
        school = s.get(School, env.world.school_a)
        assert school.logo is None and school.locality is None and school.brand_colour is None


def test_the_dry_run_reads_evidence_in_batches_and_finds_the_same_earners(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A school of thousands is read a batch of learners per query (``evidence_facts_many``), not one
    query per learner; what the dry run finds does not depend on where the batches are cut."""
    plain = evidence_book(env.world).sources()
    asked: list[list[int]] = []

    def many(session: Session, learner_ids: list[int]) -> dict[int, list[EvidenceFact]]:
        asked.append(list(learner_ids))
        return {i: list(plain.evidence_facts(session, i)) for i in learner_ids}

    def one_by_one(session: Session, learner_id: int) -> list[EvidenceFact]:
        raise AssertionError("the dry run asked for one learner's evidence although it can ask for many")

    batched = EvaluationSources(one_by_one, plain.course_structure, evidence_facts_many=many)

    def earners(sources: EvaluationSources) -> list[tuple[int, str, int, str]]:
        with env.db.unit_of_work() as s:
            check = check_mapping(RENAMED, "mapping.yaml", TEXT, session=s, school=s.get(School, env.world.school_a),
                                  sources=sources)
        return [(e.learner_id, e.code, e.version, e.kind) for e in check.earners]

    expected = earners(plain)
    assert {e[0] for e in expected} == {env.world.learner_hostile, env.world.learner_full}
    assert earners(batched) == expected and len(asked) == 1  # this school fits in one batch
    asked.clear()
    monkeypatch.setattr(mapping_editor, "DRY_RUN_BATCH", 1)
    assert earners(batched) == expected
    assert len(asked) > 2 and all(len(ids) == 1 for ids in asked)
