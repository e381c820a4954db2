"""Re-review: a template's SVG image (signed into every credential of the template, shown by wallets
and verifiers) may only draw. A pattern over the bytes let through a prefixed ``<s:script>``, markup
from a DTD entity, XHTML elements, ``javascript&#58;`` links and images loaded from elsewhere; the
parsed allowlist (``mappings/svg_guard.py``) refuses each, and a real browser shows that each of the
refused documents would have run or loaded something.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from credbridge.mappings import MappingError, load_mapping_text
from credbridge.mappings.svg_guard import UnsafeSvg, check_svg
from tests.mappings.helpers import EXAMPLES

NS = 'xmlns="http://www.w3.org/2000/svg"'
XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'
RUN = "void(document.title='RAN')"
#: each would run script, navigate to script, or fetch from elsewhere once a browser opens the SVG
HOSTILE = {
    "prefixed script": f'<svg {NS} xmlns:s="http://www.w3.org/2000/svg"><s:script>{RUN}</s:script></svg>',
    "entity markup": (f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "&#60;script>{RUN}&#60;/script>">]>'
                      f'<svg {NS}>&x;</svg>'),
    "xhtml element": (f'<svg {NS}><h:iframe xmlns:h="http://www.w3.org/1999/xhtml" '
                      'srcdoc="&lt;script>parent.document.title=&quot;RAN&quot;&lt;/script>"/></svg>'),
    "xhtml script": f'<svg {NS}><h:script xmlns:h="http://www.w3.org/1999/xhtml">{RUN}</h:script></svg>',
    "javascript link": (f'<svg {NS} {XLINK}><a xlink:href="jav&#x61;script:{RUN}"><rect id="r" width="99" '
                        'height="99"/></a></svg>'),
    "animated link": (f'<svg {NS}><a><set attributeName="href" to="jav&#97;script:{RUN}"/><rect id="r" '
                      'width="99" height="99"/></a></svg>'),
    "external image": f'<svg {NS}><image href="{{server}}/tracked.png" width="9" height="9"/></svg>',
    "external use": f'<svg {NS}><use href="{{server}}/tracked.svg#a"/></svg>',
    "css import": f'<svg {NS}><style>@import url({{server}}/tracked.css);</style></svg>',
    "css url": f'<svg {NS}><rect width="9" height="9" style="fill: url({{server}}/tracked.png)"/></svg>',
    "stylesheet pi": f'<?xml-stylesheet href="{{server}}/tracked.css"?><svg {NS}/>',
    "event handler": f'<svg {NS}\nonload="{RUN}"/>',
}
#: each is harmless opened as a document, but acts once a wallet or verifier puts the image into its own
#: HTML page (inline, as many do): the HTML parser ends the SVG at an HTML-only element, and reads what is
#: inside a <title> or <desc> as HTML (an <image> there becomes an <img>)
INLINE = {
    "html element ends the svg": f'<svg {NS}><img src="{{server}}/tracked.png"/></svg>',
    "image in a title": f'<svg {NS}><title><image src="{{server}}/tracked.png"/></title></svg>',
    "unprefixed foreign element": f'<svg {NS}><img xmlns="urn:x:badge" src="{{server}}/tracked.png"/></svg>',
    "form after a paragraph": (f'<svg {NS}><p/><form action="{{server}}/tracked"><input name="password"/>'
                               '<button id="r">Sign in</button></form></svg>'),
}
#: what real badges contain (gradients, links within the image, embedded PNG, an editor's metadata)
PLAIN = [
    f'<svg {NS} viewBox="0 0 10 10"><circle r="4"/></svg>',
    (f'<svg {NS} {XLINK} xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"><defs>'
     '<linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>'
     '<inkscape:grid type="xygrid"/><rect width="9" height="9" fill="url(#g)" style="stroke:url(#g)"/>'
     '<use xlink:href="#g"/><image href="data:image/png;base64,iVBORw0KGgo=" width="2" height="2"/>'
     '<style>rect { fill: url(#g) }</style><metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
     '</metadata><text x="1" y="5">Č Ž</text></svg>'),
    (f'<svg {NS} xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"><title id="t">Badge</title>'
     '<desc>CNC operator, level 4</desc><sodipodi:namedview pagecolor="#ffffff"/><g><path d="M0 0h9v9z"/>'
     '<text><tspan>Č</tspan></text></g><filter id="f"><feGaussianBlur stdDeviation="1"/></filter></svg>'),
]


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """Serves each hostile SVG as a document, and records what an opened image fetched."""
    fetched: list[str] = []

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        if request.path.startswith("/svg/"):
            body = HOSTILE[request.args["case"]].replace("{server}", request.host_url.rstrip("/"))
            return Response(body, mimetype="image/svg+xml")(environ, start_response)
        fetched.append(request.path)
        return Response("", status=404)(environ, start_response)

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", fetched
    finally:
        httpd.shutdown()


def _svg(name: str, server: str = "http://127.0.0.1:9") -> bytes:
    return {**HOSTILE, **INLINE}[name].replace("{server}", server).encode()


@pytest.mark.parametrize("name", sorted(HOSTILE) + sorted(INLINE))
def test_a_hostile_svg_is_refused(name: str) -> None:
    with pytest.raises(UnsafeSvg):
        check_svg(_svg(name))


@pytest.mark.parametrize("name", sorted(HOSTILE) + sorted(INLINE))
def test_a_hostile_svg_is_refused_at_its_line_in_a_mapping_file(name: str) -> None:
    uri = "data:image/svg+xml;base64," + base64.b64encode(_svg(name)).decode()
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    anchor = "  - code: CNC-OPERATOR\n    version: 1\n"
    text = text.replace(anchor, anchor + f"    image: {uri}\n")
    with pytest.raises(MappingError) as info:
        load_mapping_text(text, "school.yaml")
    problem = info.value.problems[0]
    assert "image" in problem.message and ("SVG" in problem.message), problem.message
    assert text.splitlines()[problem.line - 1].strip().startswith("image:")


@pytest.mark.parametrize("svg", PLAIN)
def test_plain_drawings_pass(svg: str) -> None:
    check_svg(svg.encode())


@pytest.mark.browser
def test_each_refused_svg_would_have_acted_in_a_browser(server: tuple[str, list[str]]) -> None:
    """The refusals are not theoretical: opened as a document in Chromium, each hostile SVG runs a
    script, or (clicked) navigates to one, or fetches from another server."""
    from playwright.sync_api import sync_playwright

    url, fetched = server
    acted: dict[str, bool] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            for name in sorted(HOSTILE):
                page = browser.new_page()
                before = len(fetched)
                page.goto(f"{url}/svg/{name.replace(' ', '-')}?case={name}")
                page.wait_for_timeout(200)
                if page.locator("#r").count():
                    page.locator("#r").click()
                    page.wait_for_timeout(200)
                acted[name] = page.title() == "RAN" or len(fetched) > before
                page.close()
        finally:
            browser.close()
    # the event handler with a newline before it was refused by the old pattern too, and does not run
    # in an opened document without a load event on the root in every Chromium; all others act
    assert {name for name, did in acted.items() if not did} <= {"event handler"}, sorted(acted.items())


@pytest.mark.browser
def test_each_refused_inline_svg_would_have_acted_in_a_page(server: tuple[str, list[str]]) -> None:
    """Put into an HTML page (``innerHTML``, as a wallet listing badges does), each SVG of ``INLINE``
    makes Chromium fetch from another server, or (its button clicked) send a form there."""
    from playwright.sync_api import sync_playwright

    url, fetched = server
    acted: dict[str, bool] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            for name in sorted(INLINE):
                page = browser.new_page()
                before = len(fetched)
                page.set_content("<!doctype html><title>wallet</title><div id=badge></div>")
                page.evaluate("svg => { document.getElementById('badge').innerHTML = svg; }",
                              _svg(name, url).decode())
                page.wait_for_timeout(200)
                if page.locator("#r").count():
                    page.locator("#r").click()
                    page.wait_for_timeout(300)
                acted[name] = len(fetched) > before
                page.close()
        finally:
            browser.close()
    assert all(acted.values()), sorted(acted.items())
