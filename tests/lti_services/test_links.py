from __future__ import annotations

import pytest

from credbridge.connector.lti_services import next_link

URL = "http://127.0.0.1:8080/mod/lti/services.php/2/lineitems?type_id=1&limit=1&from=1"


@pytest.mark.parametrize("header", [
    f'<{URL}>; rel="next"',
    f"<{URL}>; rel=“next”",
    f"<{URL}>; rel=“next”".encode().decode("latin-1"),  # UTF-8 bytes read as latin-1 by requests
    f'<http://127.0.0.1:8080/first>; rel="first", <{URL}>;rel=next',
    f'<http://127.0.0.1:8080/prev>; rel="prev", <{URL}> ; rel="next"',
])
def test_next_link_in_every_quoting(header: str) -> None:
    assert next_link(header) == URL


@pytest.mark.parametrize("header", [None, "", '<http://127.0.0.1:8080/x>; rel="prev"',
                                    '<http://127.0.0.1:8080/x>; rel="nextpage"'])
def test_no_next_link(header: str | None) -> None:
    assert next_link(header) is None
