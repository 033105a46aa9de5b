"""The "since your page was shown" customer-message check refuses a ``messages`` count
larger than the case has, as the ``replies`` count is: taken as it came, such a count
found no message "since" and turned the check off. A customer's message never leaves its
case (it joins one when it is decided, and neither linking customers nor anything else
moves it), so the case's count now is a safe upper bound for what any page showed."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.domain import CaseState
from monitor.store.models import Case
from tests.conftest import RuntimeFactory
from tests.test_cases_cli import cli
from tests.test_cases_cli_since_shown import shown_counts, x_case
from tests.webkit import api_client, client_for, seeded

TOO_MANY = (
    "messages must be at most {n}, {ref}'s count now: no page showed more "
    "(read the case again for the count to send)"
)


def test_api_refuses_a_message_count_past_the_case(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    lena = api_client(rt, "lena")
    shown = lena.get("/api/cases/C-1001").json()["messages"]
    for operation, body in (("reply", {"text": "Hi Jane"}), ("resolve", {})):
        refused = lena.post(f"/api/cases/C-1001/{operation}", json={**body, "messages": shown + 1})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == TOO_MANY.format(n=shown, ref="C-1001")
    drafted = lena.get("/api/cases/C-1015").json()["messages"]
    refused = lena.post("/api/cases/C-1015/approve", json={"messages": drafted + 5})
    assert refused.status_code == 400
    assert refused.json()["error"] == TOO_MANY.format(n=drafted, ref="C-1015")
    # The count the case has is still taken.
    assert lena.post("/api/cases/C-1001/resolve", json={"messages": shown}).status_code == 200


def test_case_page_refuses_a_message_count_past_the_case(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    root, csrf = client_for(rt, "root")
    page = root.get("/cases/C-1001").text.replace("\n", " ")
    found = re.search(r'name="messages" value="(\d+)"', page)
    assert found is not None
    shown = int(found[1])
    refused = root.post(
        "/cases/C-1001/resolve", data={"csrf_token": csrf, "messages": str(shown + 1)}
    )
    assert refused.status_code == 400
    assert TOO_MANY.format(n=shown, ref="C-1001") in refused.text.replace("&#39;", "'")
    with rt.sessions() as session:
        case = session.get(Case, 1)
        assert case is not None
        assert case.state != CaseState.RESOLVED.value


def test_cli_refuses_a_message_count_past_the_case(demo: Path) -> None:
    ref = x_case(demo)
    counts = shown_counts(demo, ref)
    too_many = str(int(counts[3]) + 1)
    code, output = cli("cases", "resolve", ref, "--messages", too_many, config=demo)
    assert code == 1
    assert TOO_MANY.format(n=counts[3], ref=ref) in output
    code, output = cli("cases", "resolve", ref, "--messages", counts[3], config=demo)
    assert code == 0, output
