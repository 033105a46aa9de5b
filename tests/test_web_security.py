"""Strangers write the mentions: everything renders as text, under a strict CSP. And the
dashboard's own doors: sign-in, lockout, CSRF, roles and teams, cookies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from starlette.testclient import TestClient

from monitor.clock import FakeClock
from monitor.web.app import create_app
from monitor.web.users import create_user
from tests.conftest import RuntimeFactory, mention
from tests.webkit import NONCE, PASSWORD, api_client, client_for, csrf_of, login, seeded

CORPUS = Path(__file__).parent / "data" / "hostile_mentions.tsv"


def _expand(field: str) -> str:
    field = re.sub(r"WORD(\d+)", lambda m: "A" * int(m[1]), field)
    return field.encode("latin-1", "backslashreplace").decode("unicode_escape")


def _corpus() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, text, queue_html, case_html = line.split("\t")
            rows.append((name, _expand(text), _expand(queue_html), _expand(case_html)))
    return rows


@pytest.mark.parametrize(
    ("name", "text", "queue_html", "case_html"), _corpus(), ids=lambda v: str(v)[:16]
)
def test_hostile_mentions_render_as_text(
    make_runtime: RuntimeFactory, name: str, text: str, queue_html: str, case_html: str
) -> None:
    hostile = mention(1, text, author='"><b>x</b>', url="javascript:alert(9)")
    hostile["author_name"] = "<script>alert('name')</script>"
    rt = seeded(make_runtime, rows=[hostile])
    client, _ = client_for(rt, "lena")
    queue, case = client.get("/").text, client.get("/cases/C-1001").text
    assert queue_html in queue
    assert case_html in case
    for page in (queue, case):
        assert "<script>alert" not in page
        assert "<b>x</b>" not in page
        assert "<bdi>&#34;&gt;&lt;b&gt;x&lt;/b&gt;</bdi>" in page
        assert 'href="javascript:' not in page
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in case


def test_every_response_carries_a_strict_csp(make_runtime: RuntimeFactory) -> None:
    client, _ = client_for(seeded(make_runtime), "lena")
    for path in ("/login", "/", "/cases/C-1001", "/cases/C-9999", "/reports", "/static/app.js"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in client.get("/").text.replace(
        '<script src="/static/app.js" defer></script>', ""
    )


def test_state_changes_need_the_csrf_token_and_same_origin(make_runtime: RuntimeFactory) -> None:
    client, csrf = client_for(seeded(make_runtime), "alice")
    assert client.post("/cases/C-1001/resolve").status_code == 403
    assert client.post("/cases/C-1001/resolve", data={"csrf_token": "forged"}).status_code == 403
    cross = client.post(
        "/cases/C-1001/resolve",
        data={"csrf_token": csrf},
        headers={"origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert "resolved" not in client.get("/cases/C-1001").text.split("</h1>")[0]
    ok = client.post("/cases/C-1001/resolve", data={"csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303


def test_login_needs_the_form_nonce(make_runtime: RuntimeFactory) -> None:
    client = TestClient(create_app(seeded(make_runtime)))
    answer = client.post("/login", data={"name": "alice", "password": PASSWORD, "nonce": "x"})
    assert answer.status_code == 403
    assert "The form expired" in answer.text


def test_lockout_after_repeated_failures(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    client = TestClient(create_app(rt))
    for _ in range(5):
        nonce = NONCE.search(client.get("/login").text)
        assert nonce is not None
        bad = client.post("/login", data={"name": "alice", "password": "guess", "nonce": nonce[1]})
        assert bad.status_code == 401
        assert "wrong name or password" in bad.text
    nonce = NONCE.search(client.get("/login").text)
    assert nonce is not None
    locked = client.post("/login", data={"name": "alice", "password": PASSWORD, "nonce": nonce[1]})
    assert locked.status_code == 401
    # The same answer as a wrong password: a "locked" one would confirm that alice exists.
    assert "wrong name or password (after 5 wrong passwords in a row" in locked.text
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=16)
    assert login(client, "alice")


def test_logout_ends_the_session_server_side(make_runtime: RuntimeFactory) -> None:
    client, csrf = client_for(seeded(make_runtime), "alice")
    cookie = client.cookies["inchannel_session"]
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    replay = TestClient(client.app, cookies={"inchannel_session": cookie})
    assert replay.get("/", follow_redirects=False).status_code == 303


def test_signing_in_again_ends_the_session_the_browser_presented(
    make_runtime: RuntimeFactory,
) -> None:
    # Signing in as someone else in the same browser only replaced the cookie: the old
    # session stayed valid for its 12 hours, so a copy of alice's cookie kept working.
    rt = seeded(make_runtime)
    client, _ = client_for(rt, "alice")
    alices = client.cookies["inchannel_session"]
    login(client, "lena")
    assert client.get("/", follow_redirects=False).status_code == 200  # as lena now
    replay = TestClient(client.app, cookies={"inchannel_session": alices})
    assert replay.get("/", follow_redirects=False).status_code == 303


def test_cookies_are_httponly_samesite_and_secure_over_https(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        client = TestClient(create_app(rt), base_url=base)
        nonce = NONCE.search(client.get("/login").text)
        assert nonce is not None
        answer = client.post(
            "/login",
            data={"name": "alice", "password": PASSWORD, "nonce": nonce[1]},
            follow_redirects=False,
        )
        cookie = answer.headers["set-cookie"].lower()
        assert "inchannel_session=" in cookie
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert ("secure" in cookie) is secure


def _cookie_header(set_cookies: list[str], name: str) -> str:
    found = [c for c in set_cookies if c.startswith(f"{name}=")]
    assert len(found) == 1, set_cookies
    return found[0].lower()


def _same_attributes(cookie: str, secure: bool) -> None:
    for attribute in ("httponly", "samesite=lax", "path=/"):
        assert attribute in cookie
    assert ("secure" in cookie) is secure


def test_cookies_are_deleted_with_the_attributes_they_were_set_with(
    make_runtime: RuntimeFactory,
) -> None:
    # The deletions on sign-in and sign-out left out Secure and HttpOnly: a browser may
    # ignore a deletion whose attributes differ, keeping the old cookie.
    rt = seeded(make_runtime)
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        client = TestClient(create_app(rt), base_url=base)
        nonce = NONCE.search(client.get("/login").text)
        assert nonce is not None
        answer = client.post(
            "/login",
            data={"name": "alice", "password": PASSWORD, "nonce": nonce[1]},
            follow_redirects=False,
        )
        gone = _cookie_header(answer.headers.get_list("set-cookie"), "inchannel_login")
        assert "max-age=0" in gone
        _same_attributes(gone, secure)
        csrf = csrf_of(client.get("/").text)
        out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        gone = _cookie_header(out.headers.get_list("set-cookie"), "inchannel_session")
        assert "max-age=0" in gone
        _same_attributes(gone, secure)


def test_login_redirects_only_within_the_site(make_runtime: RuntimeFactory) -> None:
    client = TestClient(create_app(seeded(make_runtime)))
    for target, expected in (
        ("/cases/C-1001", "/cases/C-1001"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
    ):
        page = client.get("/login", params={"next": target}).text
        nonce = NONCE.search(page)
        assert nonce is not None
        answer = client.post(
            "/login",
            data={"name": "alice", "password": PASSWORD, "nonce": nonce[1], "next": target},
            follow_redirects=False,
        )
        assert answer.headers["location"] == expected


def test_agents_see_only_their_teams_and_no_admin_page(make_runtime: RuntimeFactory) -> None:
    client, csrf = client_for(seeded(make_runtime), "alice")  # agent of team care
    queue = client.get("/").text
    assert "C-1001" in queue
    assert "C-1005" not in queue
    assert "C-1002" not in queue
    assert "C-1028" in queue  # untriaged cases are everyone's
    other = client.get("/cases/C-1005")
    assert other.status_code == 403
    assert "belongs to team billing" in other.text
    reply = client.post("/cases/C-1005/reply", data={"csrf_token": csrf, "text": "hi"})
    assert reply.status_code == 403
    assert client.get("/admin/users").status_code == 403
    approve = client.post("/cases/C-1001/approve", data={"csrf_token": csrf})
    assert approve.status_code == 403
    assert "needs the lead role; you are agent" in approve.text
    assert 'href="/admin/users"' not in queue
    assert client.get("/cases/C-1").status_code == 404
    assert client.get("/cases/%3Cscript%3E").status_code == 404


def test_hostile_numbers_in_urls_and_forms_get_answers_not_crashes(
    make_runtime: RuntimeFactory,
) -> None:
    # "²" passes str.isdigit() but int() refuses it; 20 nines overflow a BIGINT.
    client, csrf = client_for(seeded(make_runtime), "lena")
    assert client.get("/?page=²").status_code == 200
    assert "last 30 days" in client.get("/reports?days=²").text
    assert client.get("/reports.csv?days=²").status_code == 200
    hidden = client.get("/cases/C-1²")
    assert hidden.status_code == 404
    assert "not a case reference: &#39;C-1²&#39; (expected C-1042)" in hidden.text
    for message_id, error in (
        ("²", "message_id must be a positive whole number"),
        ("9" * 20, f"message {'9' * 20} is not part of C-1001"),
    ):
        form = {"csrf_token": csrf, "message_id": message_id, "label": "negative"}
        answer = client.post("/cases/C-1001/sentiment", data=form)
        assert answer.status_code == 400
        assert error in answer.text
    retry = client.post(f"/actions/{'9' * 20}/retry", data={"csrf_token": csrf})
    assert retry.status_code == 400
    assert f"no action {'9' * 20}" in retry.text


def test_nul_characters_are_refused_not_sent_to_the_database(
    make_runtime: RuntimeFactory,
) -> None:
    # PostgreSQL refuses a NUL in any text parameter: each of these was a 500 there.
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "lena")
    queue = client.get("/", params={"q": "refund\x00"})
    assert queue.status_code == 400
    assert "q contains a NUL character or an unpaired surrogate" in queue.text
    note = client.post("/cases/C-1001/note", data={"csrf_token": csrf, "text": "a\x00b"})
    assert note.status_code == 400
    assert "text contains a NUL character or an unpaired surrogate" in note.text
    assert 'name="text" rows="4" required' in note.text  # the case page, as refused forms are
    stranger = TestClient(create_app(rt))
    nonce = NONCE.search(stranger.get("/login").text)
    assert nonce is not None
    form = {"name": "alice\x00", "password": PASSWORD, "nonce": nonce[1]}
    refused = stranger.post("/login", data=form)
    assert refused.status_code == 401
    assert "wrong name or password" in refused.text


def test_a_lone_surrogate_cannot_break_a_case_page(make_runtime: RuntimeFactory) -> None:
    # JSON may carry "\ud800"; stored in a note, it made the case's page and its API
    # answer fail for everyone from then on (UnicodeEncodeError on rendering).
    rt = seeded(make_runtime)
    api = api_client(rt, "lena")
    note = api.post("/api/cases/C-1001/note", content=b'{"text": "a\\ud800b"}')
    assert note.status_code == 400
    assert api.get("/api/cases/C-1001").status_code == 200
    client, _ = client_for(rt, "lena")
    assert client.get("/cases/C-1001").status_code == 200


def test_forms_work_behind_a_proxy_that_rewrites_host_and_scheme(
    make_runtime: RuntimeFactory,
) -> None:
    # nginx's default proxy_pass sends Host: 127.0.0.1:8000 (the upstream), while the
    # browser's Origin is the public https://care.example.com: every form was refused as
    # a forgery ("The form expired"), the sign-in form included.
    rt = make_runtime(web={"public_url": "https://care.example.com"})
    create_user(rt, "alice", "agent", PASSWORD, ("care",))
    public = {"origin": "https://care.example.com"}
    client = TestClient(create_app(rt), base_url="https://127.0.0.1:8000", headers=public)
    csrf = login(client, "alice")
    answer = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    forged = TestClient(create_app(rt), base_url="https://127.0.0.1:8000")
    nonce = NONCE.search(forged.get("/login").text)
    assert nonce is not None
    form = {"name": "alice", "password": PASSWORD, "nonce": nonce[1]}
    refused = forged.post("/login", data=form, headers={"origin": "https://evil.example"})
    assert refused.status_code == 403


def test_a_local_browser_page_under_a_rebound_name_cannot_post_the_sign_in_form(
    make_runtime: RuntimeFactory,
) -> None:
    # DNS rebinding: a page on evil.example:8000, its name re-pointed at 127.0.0.1, runs in
    # a browser on the dashboard's host. Its Origin matched the Host it sent, so the form
    # was taken as the dashboard's own: it could read the nonce and guess passwords.
    rt = make_runtime(web={"public_url": "http://care.example.com"})
    create_user(rt, "alice", "agent", PASSWORD, ("care",))
    for base in ("http://evil.example:8000", "http://127.0.0.1.evil.example:8000"):
        rebound = TestClient(create_app(rt), base_url=base, headers={"origin": base})
        nonce = NONCE.search(rebound.get("/login").text)
        assert nonce is not None
        form = {"name": "alice", "password": PASSWORD, "nonce": nonce[1]}
        refused = rebound.post("/login", data=form, follow_redirects=False)
        assert refused.status_code == 403, base
        assert "The form expired" in refused.text
    for base in (
        "http://127.0.0.1:8000",
        "http://[::1]:8000",
        "http://localhost:8000",
        "http://care.example.com",
    ):
        local = TestClient(create_app(rt), base_url=base, headers={"origin": base})
        assert login(local, "alice"), base


def test_a_form_sent_after_the_session_expired_leads_back_to_its_page(
    make_runtime: RuntimeFactory,
) -> None:
    # The login form's next= was the form's own path, which answers GET with 405: after
    # signing in again the person landed on "Method Not Allowed".
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "alice")
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(hours=13)
    page = "http://testserver/cases/C-1001"
    sent = client.post(
        "/cases/C-1001/reply",
        data={"csrf_token": csrf, "text": "hello"},
        headers={"referer": page},
        follow_redirects=False,
    )
    assert sent.headers["location"] == "/login?next=/cases/C-1001&unsent=1"
    login_page = client.get(sent.headers["location"]).text
    assert 'name="next" value="/cases/C-1001"' in login_page
    nonce = NONCE.search(login_page)
    assert nonce is not None
    form = {"name": "alice", "password": PASSWORD, "nonce": nonce[1], "next": "/cases/C-1001"}
    back = client.post("/login", data=form)
    assert back.status_code == 200
    assert str(back.url) == page
    anonymous = TestClient(client.app)  # no page to go back to: the queue
    location = anonymous.post("/cases/C-1001/resolve", follow_redirects=False).headers
    assert location["location"] == "/login?next=/&unsent=1"


NOT_SENT = "Your session had ended, so the form you sent was not carried out"


def test_the_login_form_says_a_form_sent_after_the_session_ended_was_not_carried_out(
    make_runtime: RuntimeFactory,
) -> None:
    # Without the page's script nothing keeps the text: the reply went to the sign-in
    # form, which said nothing of it, and after signing in the case page showed an empty
    # box as if the reply had been posted.
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "alice")
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(hours=13)
    sent = client.post(
        "/cases/C-1001/reply",
        data={"csrf_token": csrf, "text": "hello"},
        headers={"referer": "http://testserver/cases/C-1001"},
        follow_redirects=False,
    )
    login_page = client.get(sent.headers["location"]).text
    assert NOT_SENT in login_page
    assert 'name="next" value="/cases/C-1001"' in login_page
    # Still said after a mistyped password, and the sign-in goes back to the case page.
    nonce = NONCE.search(login_page)
    assert nonce is not None
    form = {"nonce": nonce[1], "next": "/cases/C-1001", "unsent": "1", "name": "alice"}
    refused = client.post("/login", data={**form, "password": "wrong"})
    assert refused.status_code == 401
    assert NOT_SENT in refused.text
    back = client.post("/login", data={**form, "password": PASSWORD})
    assert str(back.url) == "http://testserver/cases/C-1001"
    # A page asked for while signed out is no form sent, nor is a sign-out: nothing to say.
    assert NOT_SENT not in TestClient(client.app).get("/cases/C-1001").text
    rt.clock.advance(hours=13)
    signed_out = client.post("/logout", data={"csrf_token": csrf})
    assert "Sign in" in signed_out.text
    assert NOT_SENT not in signed_out.text


def test_a_form_sent_after_the_session_ended_does_not_come_back_to_a_done(
    make_runtime: RuntimeFactory,
) -> None:
    # Without the page's script the address keeps the "?done=reply" of the reply posted
    # before: a second reply sent after the session ended came back, after signing in,
    # to a page saying "Done: Reply queued for posting." for the reply that was not.
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "alice")
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(hours=13)
    sent = client.post(
        "/cases/C-1001/reply",
        data={"csrf_token": csrf, "text": "and a voucher"},
        headers={"referer": "http://testserver/cases/C-1001?done=reply"},
        follow_redirects=False,
    )
    assert sent.headers["location"] == "/login?next=/cases/C-1001&unsent=1"
    # The queue's filters, on a form sent from it, are kept.
    queue = client.post(
        "/cases/C-1001/resolve",
        data={"csrf_token": csrf},
        headers={"referer": "http://testserver/?sentiment=negative&done=x&team=care"},
        follow_redirects=False,
    )
    assert queue.headers["location"] == (
        "/login?next=/%3Fsentiment%3Dnegative%26team%3Dcare&unsent=1"
    )


def test_answers_that_depend_on_the_user_are_never_stored_by_a_cache(
    make_runtime: RuntimeFactory,
) -> None:
    # Case pages, exports and API answers carry customers' messages and notes: without
    # no-store a shared browser's cache (Back after sign-out) or a proxy kept them.
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "lena")
    api = api_client(rt, "lena")
    anonymous = TestClient(create_app(rt))
    answers = [client.get(p) for p in ("/", "/queue/live", "/cases/C-1001", "/cases/C-9999")]
    answers += [client.get(p) for p in ("/reports", "/reports.csv", "/health", "/admin/users")]
    answers += [client.post("/cases/C-1001/note", data={"csrf_token": csrf, "text": "x" * 6000})]
    answers += [
        client.post(
            "/cases/C-1001/note", data={"csrf_token": csrf, "text": "hi"}, follow_redirects=False
        )
    ]
    answers += [api.get(p) for p in ("/api/cases", "/api/cases/C-1001", "/api/reports")]
    answers += [api.get("/api/health"), api.post("/api/cases/C-1001/note", json={"text": "hi"})]
    answers += [anonymous.get(p, follow_redirects=False) for p in ("/login", "/", "/api/cases")]
    answers += [anonymous.post("/login", content=b"x" * 200_000)]  # 413 from BodyLimit
    assert {a.status_code for a in answers} >= {200, 303, 400, 401, 403, 404, 413}
    for answer in answers:
        where = f"{answer.request.method} {answer.request.url.path} {answer.status_code}"
        assert answer.headers.get("cache-control") == "no-store", where
        assert answer.headers["x-content-type-options"] == "nosniff", where
        assert answer.headers["referrer-policy"] == "same-origin", where
        assert answer.headers["x-frame-options"] == "DENY", where
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], where
    # Our own script and pictures hold nothing of anyone's: a cache may keep them, as long
    # as it asks again (ETag) so an upgrade's new script is not served stale.
    script = client.get("/static/app.js")
    assert script.headers["cache-control"] == "no-cache"
    assert script.headers["x-content-type-options"] == "nosniff"
    again = client.get("/static/app.js", headers={"if-none-match": script.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"


def test_a_wrong_password_keeps_the_page_to_return_to(make_runtime: RuntimeFactory) -> None:
    # The refused sign-in's form lost next=: after one typo the person landed on the
    # queue instead of the case they had opened from a notification.
    client = TestClient(create_app(seeded(make_runtime)))
    page = client.get("/login", params={"next": "/cases/C-1001"}).text
    for password, status in (("guess", 401), (PASSWORD, 403)):
        nonce = NONCE.search(page)
        assert nonce is not None
        form = {"name": "alice", "password": password, "next": "/cases/C-1001"}
        form["nonce"] = nonce[1] if status == 401 else "expired"
        page = client.post("/login", data=form).text
        assert 'name="next" value="/cases/C-1001"' in page, status
    nonce = NONCE.search(page)
    assert nonce is not None
    form = {"name": "alice", "password": PASSWORD, "nonce": nonce[1], "next": "/cases/C-1001"}
    assert (
        client.post("/login", data=form, follow_redirects=False).headers["location"]
        == "/cases/C-1001"
    )


def test_numbers_too_long_for_int_get_answers_not_crashes(make_runtime: RuntimeFactory) -> None:
    # int() refuses a string of over 4,300 digits: ?days= and an action id in the
    # address were a 500 (the page number, cut at 200 characters, was not).
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "lena")
    api = api_client(rt, "lena")
    huge = "9" * 5000
    assert "last 366 days" in client.get("/reports", params={"days": huge}).text
    assert client.get("/reports.csv", params={"days": huge}).status_code == 200
    assert api.get("/api/reports", params={"days": huge}).json()["days"] == 366
    assert api.get("/api/reports", params={"days": "0" * 5000 + "7"}).json()["days"] == 7
    assert client.get("/", params={"page": huge}).status_code == 200
    retry = client.post(f"/actions/{huge}/retry", data={"csrf_token": csrf})
    assert retry.status_code == 404  # no such action, as /actions/abc/retry
    assert api.post(f"/api/actions/{huge}/retry").status_code == 404


def test_a_message_id_too_long_for_int_is_refused_not_a_crash(
    make_runtime: RuntimeFactory,
) -> None:
    # The sentiment correction's message_id went to int() unbounded: 5,000 digits in the
    # form or in a JSON string were a 500 instead of the refusal a bad number gets.
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "lena")
    api = api_client(rt, "lena")
    huge = "9" * 5000
    expected = "message_id must be a positive whole number of at most 100 digits"
    form = {"csrf_token": csrf, "message_id": huge, "label": "negative"}
    page = client.post("/cases/C-1001/sentiment", data=form)
    assert page.status_code == 400
    assert expected in page.text
    answer = api.post("/api/cases/C-1001/sentiment", json={"message_id": huge, "label": "neutral"})
    assert answer.status_code == 400
    assert answer.json() == {"error": expected}


def test_a_token_with_non_ascii_characters_is_refused_not_a_crash(
    make_runtime: RuntimeFactory,
) -> None:
    # hmac.compare_digest raises TypeError on a str with non-ASCII characters: a forged
    # CSRF token, login nonce or X-CSRF-Token of "é" was a 500, for strangers too.
    rt = seeded(make_runtime)
    stranger = TestClient(create_app(rt))
    stranger.get("/login")
    form = {"name": "alice", "password": PASSWORD, "nonce": "é"}
    assert stranger.post("/login", data=form).status_code == 403
    cookie = {"cookie": "inchannel_login=é".encode()}
    tossed = {**form, "nonce": "abc"}  # a cookie from a sibling domain, say
    assert stranger.post("/login", data=tossed, headers=cookie).status_code == 403
    client, _ = client_for(rt, "alice")
    forged = client.post("/cases/C-1001/resolve", data={"csrf_token": "é"})
    assert forged.status_code == 403
    assert "The form expired" in forged.text
    header = {"x-csrf-token": "é".encode()}
    check = client.post("/cases/C-1001/check", content=b"hi", headers=header)
    assert check.status_code == 403
    assert check.json() == {"error": "bad CSRF token"}


def test_a_dashboard_served_over_https_asks_browsers_to_keep_to_https(
    make_runtime: RuntimeFactory,
) -> None:
    # Without Strict-Transport-Security a browser that once typed http:// (or followed
    # an http link) sends the sign-in form and session cookie in the clear first.
    rt = make_runtime(web={"public_url": "https://care.example.com"})
    answers = [TestClient(create_app(rt)).get(p) for p in ("/login", "/healthz", "/nowhere")]
    for answer in answers:
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
    plain = TestClient(create_app(make_runtime())).get("/login")
    assert "strict-transport-security" not in plain.headers


def test_an_https_public_url_in_capitals_or_with_spaces_still_means_https(
    make_runtime: RuntimeFactory,
) -> None:
    # The check accepts any case of the scheme and spaces around (an EnvironmentFile's
    # value), as the Origin check does; HSTS and Secure cookies looked for "https:".
    for url in ("HTTPS://care.example.com", " https://care.example.com\n"):
        rt = make_runtime(web={"public_url": url})
        assert rt.settings.web.public_url == "https://care.example.com"
        answer = TestClient(create_app(rt)).get("/login")
        assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_a_sign_in_form_opened_in_a_second_tab_leaves_the_first_one_working(
    make_runtime: RuntimeFactory,
) -> None:
    # Each showing of the form set a new nonce cookie: with two tabs signed out (a
    # browser restoring its tabs, a second link followed) only the form loaded last
    # could sign in, and the other said "The form expired".
    rt = seeded(make_runtime)
    client = TestClient(create_app(rt))
    first = NONCE.search(client.get("/login", params={"next": "/cases/C-1001"}).text)
    second = NONCE.search(client.get("/login").text)
    assert first is not None
    assert second is not None
    form = {"name": "alice", "password": PASSWORD, "nonce": first[1], "next": "/cases/C-1001"}
    answer = client.post("/login", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/cases/C-1001"
    # A stranger's guess is still refused, and a nonce cookie that is no nonce of ours
    # (set by a sibling domain, say) is replaced, not echoed into the form.
    stranger = TestClient(create_app(rt))
    stranger.get("/login")
    guess = {"name": "alice", "password": PASSWORD, "nonce": "guess"}
    assert stranger.post("/login", data=guess).status_code == 403
    tossed = TestClient(create_app(rt), cookies={"inchannel_login": "a b"})
    page = tossed.get("/login").text
    assert 'name="nonce" value="a b"' not in page


def test_forms_work_behind_a_proxy_for_a_public_address_with_non_ascii_letters(
    make_runtime: RuntimeFactory,
) -> None:
    # A browser sends an internationalised host name in its Origin as punycode
    # (xn--...): compared with web.public_url as written, every form behind a proxy that
    # sends its upstream address as Host was refused, the sign-in form included.
    rt = make_runtime(web={"public_url": "https://kundendienst-österreich.example"})
    create_user(rt, "alice", "agent", PASSWORD, ("care",))
    origin = "https://" + "kundendienst-österreich.example".encode("idna").decode()
    assert origin.startswith("https://xn--")
    client = TestClient(
        create_app(rt), base_url="https://127.0.0.1:8000", headers={"origin": origin}
    )
    csrf = login(client, "alice")
    answer = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303


def test_an_internal_error_is_answered_with_the_security_headers_and_json_under_api(
    make_runtime: RuntimeFactory,
) -> None:
    # Starlette answers an unexpected exception outside every middleware: a database
    # outage's 500 had no no-store, CSP or nosniff, and under /api/ it was the text
    # "Internal Server Error" where a script parses {"error": ...}.
    rt = seeded(make_runtime)
    client, _ = client_for(rt, "lena")
    api = api_client(rt, "lena")

    def outage(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "FROM cases" in statement:
            raise sa_exc.OperationalError(statement, {}, Exception("the server went away"))

    event.listen(rt.engine, "before_cursor_execute", outage)
    quiet = TestClient(client.app, raise_server_exceptions=False, cookies=client.cookies)
    page = quiet.get("/")
    answer = TestClient(api.app, raise_server_exceptions=False, headers=api.headers).get(
        "/api/cases"
    )
    event.remove(rt.engine, "before_cursor_execute", outage)
    for response in (page, answer):
        assert response.status_code == 500
        assert response.headers.get("cache-control") == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert answer.json() == {"error": "internal error: see the dashboard's log"}
    assert "the server went away" not in page.text + answer.text


def test_an_address_with_a_trailing_slash_leads_to_the_page_on_the_same_site(
    make_runtime: RuntimeFactory,
) -> None:
    # Starlette's redirect for /reports/ named the host of the request's Host header:
    # behind nginx's default proxy_pass (Host: 127.0.0.1:8000) a person who typed
    # care.example.com/reports/ was sent to https://127.0.0.1:8000/reports, and any
    # Host a client sent came back as the address to go to.
    rt = seeded(make_runtime, web={"public_url": "https://care.example.com"})
    public = {"origin": "https://care.example.com"}
    client = TestClient(create_app(rt), base_url="https://care.example.com", headers=public)
    csrf = login(client, "lena")
    upstream = {"host": "127.0.0.1:8000"}
    for path, expected in (
        ("/reports/", "/reports"),
        ("/cases/C-1001//?answer=a", "/cases/C-1001?answer=a"),
        ("/api/cases/", "/api/cases"),
    ):
        answer = client.get(path, headers=upstream, follow_redirects=False)
        assert answer.status_code == 307
        assert answer.headers["location"] == expected
    hostile = client.get("/login/", headers={"host": "evil.example"}, follow_redirects=False)
    assert hostile.headers["location"] == "/login"
    note = {"csrf_token": csrf, "text": "slash"}
    sent = client.post("/cases/C-1001/note/", data=note, follow_redirects=False)
    assert (sent.status_code, sent.headers["location"]) == (307, "/cases/C-1001/note")
    assert client.get("/nowhere/", follow_redirects=False).status_code == 404
    assert client.get("/static/nope.js/", follow_redirects=False).status_code == 404
    assert client.get("/cases/C-9999/", follow_redirects=False).status_code == 307
