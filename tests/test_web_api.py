"""The JSON API: bearer tokens, the same operations and limits as the pages, and an
OpenAPI schema that lists every route."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from starlette.routing import Route
from starlette.testclient import TestClient

from monitor.dispatch import dispatch_outbox
from monitor.domain import ActionStatus
from monitor.store.models import ActionRow, Case, Customer
from monitor.web.app import create_app
from monitor.web.queue import MAX_PAGE
from monitor.web.users import new_api_token
from tests.conftest import RuntimeFactory, mention
from tests.webkit import api_client, client_for, seeded

BAD = Path(__file__).parent / "data" / "web_bad_requests.tsv"


def _bad_requests() -> list[tuple[str, str, str, int, str]]:
    rows = []
    for line in BAD.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            method, path, body, status, error = line.split("\t")
            rows.append((method, path, body, int(status), error))
    return rows


def test_token_is_required(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    anonymous = TestClient(create_app(rt))
    answer = anonymous.get("/api/cases")
    assert answer.status_code == 401
    assert answer.json() == {"error": "a valid bearer token is required"}
    assert answer.headers["www-authenticate"] == "Bearer"
    forged = anonymous.get("/api/cases", headers={"authorization": "Bearer inch_forged"})
    assert forged.status_code == 401
    old = new_api_token(rt, "alice")
    new_api_token(rt, "alice")  # a new token replaces the old one
    assert (
        anonymous.get("/api/cases", headers={"authorization": f"Bearer {old}"}).status_code == 401
    )


def test_list_and_read_cases(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    alice = api_client(rt, "alice")
    listed = alice.get("/api/cases", params={"team": "care"}).json()
    refs = [row["ref"] for row in listed["cases"]]
    assert refs[0] == "C-1010"
    assert "C-1001" in refs
    assert "C-1005" not in refs
    # C-1001 among them, though thanked; not C-1032, a cancel question and no complaint.
    assert listed["counts"]["awaiting_human"] == 7
    case = alice.get("/api/cases/C-1001").json()
    assert case["customer"]["handle"] == "jane_doe"
    assert [m["author_handle"] for m in case["thread"]][:2] == ["jane_doe", "acmehelp"]
    assert case["events"][0]["kind"] == "opened"
    hidden = alice.get("/api/cases/C-1005")
    assert hidden.status_code == 403
    assert hidden.json() == {"error": "C-1005 belongs to team billing, which is not one of yours"}


def test_operations_through_theapi_client(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    lena = api_client(rt, "lena")
    done = lena.post("/api/cases/C-1015/approve", json={}).json()
    assert done == {"ok": True, "message": done["message"]}
    assert done["message"].startswith("Draft approved and queued for posting (action ")
    assert lena.post("/api/cases/C-1001/tag", json={"add": "vip"}).json()["message"] == (
        "Tags: complaint, delivery, praise, vip."
    )
    assert lena.post("/api/cases/C-1001/reply", json={"text": "On its way!"}).status_code == 200
    dispatch_outbox(rt)
    thread = lena.get("/api/cases/C-1001").json()["thread"]
    sent = [m for m in thread if m["text"] == "On its way!"]
    assert [m["direction"] for m in sent] == ["outbound"]
    check = lena.post("/api/check-reply", json={"platform": "x", "text": "y" * 281})
    assert check.json() == {"problems": ["281 characters: x allows 280"]}
    # A reply with an "answer", or an edited draft, goes to Reddit as written: measured
    # escaped, the check refused a text the reply then accepted.
    table = {"platform": "reddit", "text": "| a " * 2400}
    assert lena.post("/api/check-reply", json={**table, "markdown": True}).json() == {
        "problems": []
    }
    assert lena.post("/api/check-reply", json=table).json() == {
        "problems": ["11999 characters: reddit allows 10000"]
    }
    reports = lena.get("/api/reports", params={"days": 7}).json()
    assert reports["days"] == 7
    assert {"volume", "first_response", "resolution", "sla", "top_tags"} <= set(reports)
    health = lena.get("/api/health").json()
    assert health["sources"][0]["name"] == "feed"


def test_agents_are_refused_lead_operations(make_runtime: RuntimeFactory) -> None:
    alice = api_client(seeded(make_runtime), "alice")
    answer = alice.post("/api/cases/C-1001/assign", json={"assignee": "alice"})
    assert answer.status_code == 403
    assert answer.json() == {"error": "this needs the lead role; you are agent"}
    retry = alice.post("/api/actions/1/retry", json={})
    assert retry.json() == {"error": "retrying a dead action needs the lead role"}


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), _bad_requests())
def test_bad_requests_get_exact_errors(
    make_runtime: RuntimeFactory, method: str, path: str, body: str, status: int, error: str
) -> None:
    lena = api_client(seeded(make_runtime), "lena")
    content = None if body == "-" else body.encode()
    answer = lena.request(method, path, content=content)
    assert (answer.status_code, answer.json()) == (status, {"error": error})


def test_openapi_schema_lists_every_api_route(make_runtime: RuntimeFactory) -> None:
    app = create_app(seeded(make_runtime, rows=[]))
    schema = TestClient(app).get("/api/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, item in schema["paths"].items() for method in item
    }
    served = set()
    for route in app.routes:
        if (
            isinstance(route, Route)
            and route.path.startswith("/api/")
            and "openapi" not in route.path
        ):
            path = route.path.replace("{ref:str}", "{ref}").replace("{id:id}", "{id}")
            for method in route.methods or ():
                if method != "HEAD":
                    if "{op:str}" in path:
                        served |= {(path.replace("{op:str}", op), method) for op in _ops(schema)}
                    else:
                        served.add((path, method))
    assert served == documented
    json.dumps(schema)  # plain JSON, nothing left unserializable


def _ops(schema: dict[str, object]) -> set[str]:
    paths = schema["paths"]
    assert isinstance(paths, dict)
    return {p.rsplit("/", 1)[1] for p in paths if p.startswith("/api/cases/{ref}/")}


def test_non_ascii_digits_in_query_numbers_are_no_numbers(make_runtime: RuntimeFactory) -> None:
    lena = api_client(seeded(make_runtime), "lena")
    assert lena.get("/api/reports", params={"days": "²"}).json()["days"] == 30
    assert lena.get("/api/cases", params={"page": "²"}).status_code == 200


def test_a_deeply_nested_body_is_refused_not_a_crash(make_runtime: RuntimeFactory) -> None:
    # json.loads raises RecursionError (no ValueError) past ~1,000 levels: 5 KB did it.
    lena = api_client(seeded(make_runtime), "lena")
    answer = lena.post("/api/cases/C-1001/note", content=b"[" * 5000)
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "the body nests too deeply: send a JSON object"},
    )


def test_report_sla_attainment_carries_the_percent_the_page_shows(
    make_runtime: RuntimeFactory,
) -> None:
    # The page's "Attained" column is a property of the row, which asdict() leaves out:
    # the API listed met, breached and pending but not the percent.
    rt = seeded(make_runtime)
    page = client_for(rt, "lena")[0].get("/reports").text
    sla = api_client(rt, "lena").get("/api/reports").json()["sla"]
    assert sla
    for row in sla:
        done = row["met"] + row["breached"]
        expected = round(100 * row["met"] / done, 1) if done else None
        assert row["percent"] == expected
        shown = "—" if expected is None else f"{expected}%"
        assert f"<td>{row['pending']}</td><td>{shown}</td>" in page


def test_a_case_deep_in_a_busy_thread_shows_its_own_posts_and_their_parents(
    make_runtime: RuntimeFactory,
) -> None:
    # A brand post gone viral is one conversation with hundreds of customers replying.
    # The case page read the thread's first 500 posts only: the case of a customer who
    # wrote later showed a thread without a single post of theirs, nor the one they
    # answered.
    brand = {"author": "acme", "author_id": "1", "created_at": "2026-11-20T08:00:00Z"}
    rows = [mention(0, "Our sale starts today!", **brand)]
    for n in range(1, 521):
        second = f"2026-11-20T08:{10 + n // 60:02d}:{n % 60:02d}Z"
        rows.append(
            mention(
                n, "@acme is the kettle in the sale?", conversation_id="1000", created_at=second
            )
        )
    answer = mention(
        521,
        "@user520 yes, it is!",
        **{**brand, "created_at": "2026-11-20T08:30:00Z"},
        conversation_id="1000",
        in_reply_to="1520",
    )
    later = mention(
        520,
        "@acme great, ordered one",
        id="1522",
        conversation_id="1000",
        in_reply_to="1521",
        created_at="2026-11-20T08:31:00Z",
    )
    rt = seeded(make_runtime, [*rows, answer, later])
    with rt.sessions() as session:
        case = session.scalars(select(Case).join(Customer).where(Customer.handle == "user520"))
        ref = case.one().ref
    thread = api_client(rt, "lena").get(f"/api/cases/{ref}").json()["thread"]
    ids = [m["external_id"] for m in thread]
    assert {"1000", "1520", "1521", "1522"} <= set(ids)
    assert ids.index("1000") < ids.index("1520") < ids.index("1521") < ids.index("1522")


def test_an_unscored_message_has_no_compound(make_runtime: RuntimeFactory) -> None:
    # Its stored 0.0 is no reading, and the case page shows none: as 0.0 a script took
    # a German complaint for a calm, neutral message.
    rt = seeded(make_runtime)
    with rt.sessions() as session:
        case = session.scalars(select(Case).join(Customer).where(Customer.handle == "klaus_b"))
        ref = case.one().ref
    thread = api_client(rt, "root").get(f"/api/cases/{ref}").json()["thread"]
    (german,) = [m for m in thread if m["author_handle"] == "klaus_b"]
    assert (german["label"], german["lang"], german["compound"]) == ("unscored", "de", None)
    scored, brand = api_client(rt, "root").get("/api/cases/C-1001").json()["thread"][:2]
    assert scored["label"] == "negative"
    assert isinstance(scored["compound"], float)
    assert (brand["author_handle"], brand["label"], brand["compound"]) == ("acmehelp", None, None)


def _query_schema(schema: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    (param,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
    return dict(param["schema"])


def test_openapi_states_the_limits_the_api_applies(make_runtime: RuntimeFactory) -> None:
    # The schema gave days and page a minimum only: a client checked against it sent
    # days=400 and got a 366-day report without a word, and it named neither default.
    # Nor did it list the 413 every POST answers to a body over 64,000 bytes.
    rt = seeded(make_runtime)
    lena = api_client(rt, "lena")
    schema = lena.get("/api/openapi.json").json()
    days = _query_schema(schema, "/api/reports", "days")
    assert lena.get("/api/reports", params={"days": 400}).json()["days"] == days["maximum"]
    assert lena.get("/api/reports").json()["days"] == days["default"]
    page = _query_schema(schema, "/api/cases", "page")
    assert (page["minimum"], page["maximum"], page["default"]) == (1, MAX_PAGE, 1)
    big = b'{"text": "' + b"a" * 64_001 + b'"}'
    posts = [(path, item["post"]) for path, item in schema["paths"].items() if "post" in item]
    for path, operation in posts:
        url = path.replace("{ref}", "C-1001").replace("{id}", "1")
        assert lena.post(url, content=big).status_code == 413, url
        assert operation["responses"]["413"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


def test_a_case_lists_its_outbox_in_the_order_it_was_queued(make_runtime: RuntimeFactory) -> None:
    # The outbox was read without ORDER BY. PostgreSQL then returns a case's actions as
    # its plan finds them: a bitmap scan (which it picks as the table grows) reads them in
    # the order they lie on disk, where an updated row (a claim, a retry's error) has
    # moved to the end (a send that failed, say), so the case page and the API listed
    # replies and drafts out of order.
    rt = seeded(make_runtime)
    if rt.engine.dialect.name == "postgresql":

        @event.listens_for(rt.engine, "checkout")
        def bitmap_scans(dbapi_conn: Any, *_: Any) -> None:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET enable_indexscan = off")

    lena = api_client(rt, "lena")
    for text in ("First answer, sorry about that.", "Second answer, it is on its way."):
        assert lena.post("/api/cases/C-1010/reply", json={"text": text}).json()["ok"]
    queued = sorted(a["id"] for a in lena.get("/api/cases/C-1010").json()["actions"])
    assert len(queued) == 2
    with rt.sessions() as session, session.begin():
        session.execute(
            update(ActionRow)
            .where(ActionRow.id == queued[0])
            .values(status=ActionStatus.FAILED.value, last_error="timed out")
        )
    assert [a["id"] for a in lena.get("/api/cases/C-1010").json()["actions"]] == queued
    page = client_for(rt, "lena")[0].get("/cases/C-1010").text
    assert page.index("First answer") < page.index("Second answer")


def test_check_reply_takes_the_customer_so_naming_them_is_no_redirect(
    make_runtime: RuntimeFactory,
) -> None:
    # The check had no way to say whom the reply answers: "Sorry @jane_doe" was listed
    # as sending the customer elsewhere, while the reply itself accepts it.
    rt = seeded(make_runtime)
    alice = api_client(rt, "alice")
    text = "Sorry @jane_doe, the parcel is on its way today."
    handle = alice.get("/api/cases/C-1001").json()["customer"]["handle"]
    checked = alice.post(
        "/api/check-reply", json={"platform": "x", "text": text, "customer": handle}
    )
    assert checked.json() == {"problems": []}
    assert alice.post("/api/cases/C-1001/reply", json={"text": text}).status_code == 200
    # Anyone else named is still a redirect, as in the reply.
    other = alice.post(
        "/api/check-reply", json={"platform": "x", "text": text, "customer": "someone_else"}
    )
    assert "another account" in other.json()["problems"][0]
    refused = alice.post("/api/check-reply", json={"platform": "x", "text": text, "customer": 7})
    assert refused.status_code == 400
    assert refused.json() == {"error": "customer must be text: the handle replied to"}
    schema = alice.get("/api/openapi.json").json()
    body = schema["paths"]["/api/check-reply"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["properties"]["customer"]["type"] == "string"


def test_assign_takes_a_name_as_sign_in_and_the_queue_filter_do(
    make_runtime: RuntimeFactory,
) -> None:
    # "Alice " signs in as alice and ?assignee=Alice filters her cases, but assigning to
    # "Alice" was refused: "no active dashboard user 'Alice'".
    rt = seeded(make_runtime)
    lena = api_client(rt, "lena")
    done = lena.post("/api/cases/C-1001/assign", json={"assignee": "Alice ", "was": "-"})
    assert done.json() == {"ok": True, "message": "Assigned to alice."}
    with rt.sessions() as session:
        assert session.get(Case, 1).assignee == "alice"  # type: ignore[union-attr]
    again = lena.post("/api/cases/C-1001/assign", json={"assignee": "ALICE", "was": "Alice"})
    assert again.json() == {
        "ok": True,
        "message": "C-1001 is assigned to alice already; nothing was changed",
    }
    mine = lena.get("/api/cases", params={"assignee": "Alice"}).json()["cases"]
    assert [row["ref"] for row in mine] == ["C-1001"]
