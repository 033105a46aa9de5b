"""Review findings about who sees and does what: another team's notes and outbox, a retry
of an operations alert, the lockout answer, a double-submitted reply, a password change."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, func, select, update
from starlette.testclient import TestClient

from monitor import casework_actions, casework_links, triage
from monitor.clock import FakeClock
from monitor.dispatch import dispatch_outbox
from monitor.pipeline import run_cycle
from monitor.runtime import Runtime
from monitor.sources.replay import ReplaySource
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Event, Message
from monitor.store.web_models import WebUser
from monitor.web import lockout, users
from monitor.web.app import create_app
from monitor.web.users import create_user, set_password
from tests.conftest import RuntimeFactory, mention, write_jsonl
from tests.webkit import NONCE, PASSWORD, api_client, client_for, login, seeded

HOSTILE_NOTE = "<img src=x onerror=alert(1)> card ending 4242"
REPLY = "Sorry Jane, the refund went out today."


def test_customer_history_keeps_other_teams_cases_and_notes_to_them(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    casework_links.link_customers(rt, "C-1001", "C-1005", user="lena")  # care and billing
    casework_actions.add_note(rt, "C-1005", "BILLING-INTERNAL " + HOSTILE_NOTE, user="bob")
    casework_actions.add_note(rt, "C-1001", "CARE-NOTE " + HOSTILE_NOTE, user="alice")
    alice, _ = client_for(rt, "alice")  # agent of care
    page = alice.get("/cases/C-1001").text
    assert "BILLING-INTERNAL" not in page
    assert "/cases/C-1005" not in page
    assert "1 case(s) in other teams" in page
    assert "CARE-NOTE &lt;img src=x onerror=alert(1)&gt;" in page  # notes stay escaped
    assert "<img src=x" not in page
    history = api_client(rt, "alice").get("/api/cases/C-1001").json()["history"]
    assert [text for _, _, text in history["notes"]] == ["CARE-NOTE " + HOSTILE_NOTE]
    assert [ref for ref, *_ in history["cases"]] == ["C-1001"]
    assert history["other_team_cases"] == 1
    lead, _ = client_for(rt, "lena")  # leads see every team's cases, so the whole history
    full = lead.get("/cases/C-1001").text
    assert "BILLING-INTERNAL" in full
    assert 'href="/cases/C-1005"' in full
    assert "in other teams" not in full


def _dead(rt: Runtime, case_id: int | None, text: str) -> int:
    now = rt.clock.now()
    row = ActionRow(
        case_id=case_id,
        kind="notify" if case_id is None else "reply",
        platform="x",
        target_external_id="-",
        conversation_id="-",
        text=text,
        status="dead",
        attempts=5,
        last_error="boom",
        next_attempt_at=now,
        idempotency_key=f"test:{text}",
        created_at=now,
        updated_at=now,
    )
    with transaction(rt.sessions) as session:
        session.add(row)
        session.flush()
        return row.id


def _case_of_team(rt: Runtime, team: str) -> int:
    with rt.sessions() as session:
        found = session.scalar(select(Case.id).where(Case.team == team).order_by(Case.id))
    assert found is not None
    return found


def test_health_lists_only_the_outbox_of_cases_the_user_may_open(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    billing, care, alert = "BILLING-SECRET reply", "CARE reply", "OPS-ALERT source down"
    _dead(rt, _case_of_team(rt, "billing"), billing)
    _dead(rt, _case_of_team(rt, "care"), care)
    _dead(rt, None, alert)  # an operations alert: no case, so no team
    seen = {"alice": {care}, "bob": {billing}, "lena": {care, billing, alert}}
    for name, expected in seen.items():
        client, _ = client_for(rt, name)
        page = client.get("/health").text
        assert {t for t in seen["lena"] if t in page} == expected, name
        troubled = api_client(rt, name).get("/api/health").json()["troubled"]
        assert {t["text"] for t in troubled} & seen["lena"] == expected, name


def test_retrying_a_dead_operations_alert(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    alert = _dead(rt, None, "OPS-ALERT source down")
    lead, csrf = client_for(rt, "lena")
    assert f'action="/actions/{alert}/retry"' in lead.get("/health").text
    answer = lead.post(f"/actions/{alert}/retry", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    with rt.sessions() as session:
        row = session.get(ActionRow, alert)
        assert row is not None
        assert (row.status, row.attempts) == ("pending", 0)
        event = session.scalars(select(Event).where(Event.kind == "retried")).one()
        assert (event.case_id, event.actor, event.detail) == (None, "lena", {"action": alert})
    # A double click: the alert is on its way again, as asked, so no error page.
    again = lead.post(f"/actions/{alert}/retry", data={"csrf_token": csrf}, follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, f"/health?retried={alert}")
    second = _dead(rt, None, "OPS-ALERT again")
    api = api_client(rt, "lena")
    assert api.post(f"/api/actions/{second}/retry").json() == {"ok": True, "case": None}
    assert api.post("/api/actions/999999/retry").status_code == 400


def test_resending_an_api_retry_is_no_error_once_the_action_was_retried(
    make_runtime: RuntimeFactory,
) -> None:
    # A script's retry timed out on its side but went through: sent again, it was told
    # "action N is pending, not dead" (400) and took the retry for refused.
    rt = seeded(make_runtime)
    case_id = _case_of_team(rt, "care")
    dead = _dead(rt, case_id, "CARE reply")
    ref = f"C-{1000 + case_id}"
    api = api_client(rt, "lena")
    assert api.post(f"/api/actions/{dead}/retry").json() == {"ok": True, "case": ref}
    told = {
        "ok": True,
        "case": ref,
        "message": f"action {dead} was retried already by lena at "
        f"{rt.clock.now():%Y-%m-%d %H:%M} UTC; nothing was changed",
    }
    again = api.post(f"/api/actions/{dead}/retry")
    assert (again.status_code, again.json()) == (200, told)
    dispatch_outbox(rt)
    with rt.sessions() as session:
        assert session.get(ActionRow, dead).status == "sent"  # type: ignore[union-attr]
        retried = session.scalars(select(Event).where(Event.kind == "retried")).all()
    assert api.post(f"/api/actions/{dead}/retry").json() == told
    assert len(retried) == 1
    # An action that never died is still no retry's to take.
    pending = _dead(rt, case_id, "CARE reply, never dead")
    with transaction(rt.sessions) as session:
        session.execute(update(ActionRow).where(ActionRow.id == pending).values(status="pending"))
    refused = api.post(f"/api/actions/{pending}/retry")
    assert refused.status_code == 400
    assert refused.json() == {"error": f"action {pending} is pending, not dead"}


def _refusal(client: TestClient, name: str, password: str) -> tuple[int, str]:
    nonce = NONCE.search(client.get("/login").text)
    assert nonce is not None
    answer = client.post("/login", data={"name": name, "password": password, "nonce": nonce[1]})
    message = re.search(r'class="error" role="alert">([^<]*)', answer.text)
    assert message is not None
    return answer.status_code, message[1]


def test_a_locked_account_answers_like_an_unknown_name(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = seeded(make_runtime)
    client = TestClient(create_app(rt))
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def counting(hasher: PasswordHasher, stored: str | bytes, password: str | bytes) -> Any:
        verified.append(str(stored))
        return real_verify(hasher, stored, password)

    # argon2's check, the costly step whose count must not tell the paths apart.
    monkeypatch.setattr(PasswordHasher, "verify", counting)
    answers = {}
    for name in ("root", "nosuchuser"):
        verified.clear()
        answers[name] = [_refusal(client, name, "wrong-wrong-wrong") for _ in range(7)]
        assert len(verified) == 7, name  # one password hash checked per attempt, each path
    assert answers["root"] == answers["nosuchuser"]
    assert set(answers["root"]) == {(401, users.REFUSED)}
    # The lockout holds: even the right password is refused, with the same answer.
    assert _refusal(client, "root", PASSWORD) == (401, users.REFUSED)


def _human_replies(rt: Runtime) -> int:
    with rt.sessions() as session:
        query = select(func.count()).select_from(ActionRow)
        count = session.scalar(query.where(ActionRow.text == REPLY, ActionRow.rule.is_(None)))
    return int(count or 0)


def test_a_double_submitted_reply_is_queued_once(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "alice")
    first = client.post("/cases/C-1001/reply", data={"csrf_token": csrf, "text": REPLY})
    assert first.status_code == 200
    second = client.post("/cases/C-1001/reply", data={"csrf_token": csrf, "text": f"  {REPLY} "})
    assert second.status_code == 200
    assert ">This reply is already queued (action" in second.text  # a sentence on the page
    assert "it was not queued again" in second.text
    assert _human_replies(rt) == 1
    again = api_client(rt, "alice").post("/api/cases/C-1001/reply", json={"text": REPLY}).json()
    assert again["ok"] is True
    assert "already queued" in again["message"]
    dispatch_outbox(rt)  # sent: a repeat right after is still the same click
    assert (
        "already queued"
        in client.post("/cases/C-1001/reply", data={"csrf_token": csrf, "text": REPLY}).text
    )
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=6)  # later, the same words are a new reply
    later = client.post(
        "/cases/C-1001/reply", data={"csrf_token": csrf, "text": REPLY}, follow_redirects=False
    )
    assert later.status_code == 303
    assert _human_replies(rt) == 2
    assert "button.disabled = true" in client.get("/static/app.js").text


def test_a_reply_resent_after_the_customer_wrote_again_is_queued_once(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A script (or the API) sends no `messages`, so a follow-up that arrived between its
    # request and its resend after a timeout went unnoticed: the reply is addressed to the
    # customer's newest message, the duplicate check looked only at replies to that one,
    # and the same words were posted twice in the thread.
    first = mention(1, "@acme my order is late, where is it?", author="jane")
    rt = seeded(make_runtime, [first])
    api = api_client(rt, "alice")
    sent = api.post("/api/cases/C-1001/reply", json={"text": REPLY}).json()
    assert sent["ok"] is True
    assert "already" not in sent["message"]
    again = mention(
        2,
        "@acme hello??",
        author="jane",
        author_id=first["author_id"],
        conversation_id=first["conversation_id"],
        in_reply_to=first["id"],
        created_at="2026-11-20T10:05:00Z",
    )
    rt.sources["feed"] = ReplaySource("feed", write_jsonl(tmp_path / "more.jsonl", [first, again]))
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=5)
    run_cycle(rt)
    resent = api.post("/api/cases/C-1001/reply", json={"text": REPLY}).json()
    assert resent["ok"] is True
    assert "already queued" in resent["message"]
    assert _human_replies(rt) == 1
    dispatch_outbox(rt)  # posted: a resend right after is still the same request
    assert "already queued" in api.post("/api/cases/C-1001/reply", json={"text": REPLY}).text
    assert _human_replies(rt) == 1
    rt.clock.advance(minutes=6)  # later, the same words are a new reply, as before
    later = api.post("/api/cases/C-1001/reply", json={"text": REPLY}).json()
    assert "already" not in later["message"]
    assert _human_replies(rt) == 2


def _notes(rt: Runtime, text: str) -> int:
    with rt.sessions() as session:
        events = session.scalars(select(Event).where(Event.kind == "note")).all()
    return sum(1 for e in events if e.detail.get("text") == text)


def test_a_resent_note_is_stored_once(make_runtime: RuntimeFactory) -> None:
    # A browser retrying the form, or a script resending after a timeout, stored the note
    # a second time, as replies, approvals and retries no longer are.
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "alice")
    note = "Called her back, refund confirmed."
    first = client.post(
        "/cases/C-1001/note", data={"csrf_token": csrf, "text": note}, follow_redirects=False
    )
    assert first.status_code == 303
    second = client.post("/cases/C-1001/note", data={"csrf_token": csrf, "text": f" {note}  "})
    assert second.status_code == 200
    assert ">This note was added already by alice at " in second.text
    assert "it was not added again" in second.text
    assert _notes(rt, note) == 1
    again = api_client(rt, "alice").post("/api/cases/C-1001/note", json={"text": note}).json()
    assert again["ok"] is True
    assert "not added again" in again["message"]
    assert _notes(rt, note) == 1
    # Someone else's words are their own note.
    casework_actions.add_note(rt, "C-1001", note, user="lena")
    assert _notes(rt, note) == 2
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=6)  # later, the same words are a new note
    later = client.post(
        "/cases/C-1001/note", data={"csrf_token": csrf, "text": note}, follow_redirects=False
    )
    assert later.status_code == 303
    assert _notes(rt, note) == 3


def test_a_new_password_ends_sessions_and_revokes_the_api_token(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    browser, _ = client_for(rt, "alice")
    api = api_client(rt, "alice")
    assert api.get("/api/cases").status_code == 200
    set_password(rt, "alice", "a brand new password", actor="root")
    assert browser.get("/", follow_redirects=False).status_code == 303
    assert api.get("/api/cases").status_code == 401
    assert login(TestClient(create_app(rt)), "alice", "a brand new password")
    lena, _ = client_for(rt, "lena")  # other people's sessions are not touched
    set_password(rt, "bob", "another new password", actor="root")
    assert lena.get("/", follow_redirects=False).status_code == 200


def test_a_user_name_with_a_trailing_newline_is_refused(make_runtime: RuntimeFactory) -> None:
    # NAME ended in "$", which also matches before a final newline: "alice\n" was a second
    # user that the users page showed as another "alice".
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "root")
    form = {"csrf_token": csrf, "name": "alice\n", "role": "admin", "password": PASSWORD}
    answer = client.post("/admin/users", data=form)
    assert answer.status_code == 400
    assert "bad user name &#39;alice\\n&#39;: 1 to 64 lower-case letters, digits" in answer.text
    assert [u.name for u, _, _ in users.list_users(rt)] == ["alice", "bob", "lena", "root"]


def test_parallel_wrong_passwords_all_count_toward_the_lockout(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each attempt read failed_logins, hashed for a while, then wrote back its count + 1:
    # guesses sent in parallel read the same count, so only one of them was counted and
    # an attacker got ~5 guesses per parallel request instead of 5 in all.
    rt = seeded(make_runtime)
    real_verify = PasswordHasher.verify
    gate = threading.Barrier(lockout.MAX_FAILURES, timeout=30)

    def together(hasher: PasswordHasher, stored: str | bytes, password: str | bytes) -> Any:
        gate.wait()  # every guess has read the account before any records its failure
        return real_verify(hasher, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", together)

    # Room for every guess to check at once: the process's own limit (4) is below 5.
    work = users.PasswordWork(slots=lockout.MAX_FAILURES, wait_seconds=30)

    def guess(n: int) -> str:
        with pytest.raises(users.LoginRefused) as refused:
            users.authenticate(rt, "alice", f"wrong guess {n}", work=work)
        return str(refused.value)

    with ThreadPoolExecutor(lockout.MAX_FAILURES) as pool:
        assert set(pool.map(guess, range(lockout.MAX_FAILURES))) == {users.REFUSED}
    monkeypatch.setattr(PasswordHasher, "verify", real_verify)
    with pytest.raises(users.LoginRefused):
        users.authenticate(rt, "alice", PASSWORD)  # locked: five wrong passwords in a row


def test_a_shared_thread_shows_no_decision_of_another_teams_case(
    make_runtime: RuntimeFactory,
) -> None:
    # Two customers in one thread: a late order (care) and a refund (billing). The API's
    # thread carried every post's bot decision, so an agent of care read how billing's
    # case was escalated, tagged and answered, which the case page never shows them.
    rows = [
        mention(1, "@acme my order is late", conversation_id="7000"),
        mention(2, "@acme I was charged twice, I want a refund", conversation_id="7000"),
    ]
    rt = seeded(make_runtime, rows)
    with rt.sessions() as session:
        teams = dict(session.execute(select(Case.team, Case.id)).all())
    care, billing = f"C-{1000 + teams['care']}", f"C-{1000 + teams['billing']}"
    thread = api_client(rt, "alice").get(f"/api/cases/{care}").json()["thread"]
    # The other customer's public post stays in the thread, as the customer sees it.
    decisions = {m["author_handle"]: m["decision"] for m in thread if m["direction"] == "inbound"}
    assert decisions["user1"]["escalation"]["team"] == "care"
    assert decisions["user2"] is None
    assert '"team": "billing"' not in json.dumps(thread)
    lead_thread = api_client(rt, "lena").get(f"/api/cases/{billing}").json()["thread"]
    shown = {m["author_handle"] for m in lead_thread if m["decision"] is not None}
    assert shown == {"user2"}
    # Nor does the case page name who corrected the other case's sentiment.
    refund = next(m["id"] for m in lead_thread if m["author_handle"] == "user2")
    correction = {"message_id": refund, "label": "neutral"}
    assert api_client(rt, "bob").post(f"/api/cases/{billing}/sentiment", json=correction).is_success
    alice, _ = client_for(rt, "alice")
    assert "corrected to" not in alice.get(f"/cases/{care}").text
    lead, _ = client_for(rt, "lena")
    assert "corrected to <strong>neutral</strong> by bob" in lead.get(f"/cases/{billing}").text


def test_resolving_a_case_someone_just_resolved_says_so(make_runtime: RuntimeFactory) -> None:
    # Two leads on one case: the second click said "Resolve the case" as if it had done
    # it, and the person never learned a colleague had closed the case a moment before.
    rt = seeded(make_runtime)
    lena, lena_csrf = client_for(rt, "lena")
    root, root_csrf = client_for(rt, "root")
    assert "awaiting_human" in root.get("/cases/C-1002").text  # root's page, still open
    done = lena.post("/cases/C-1002/resolve", data={"csrf_token": lena_csrf})
    assert "Done: Case resolved." in done.text
    stale = root.post("/cases/C-1002/resolve", data={"csrf_token": root_csrf})
    assert stale.status_code == 200
    when = rt.clock.now().strftime("%Y-%m-%d %H:%M UTC")
    told = f"C-1002 was resolved already by lena at {when}; nothing was changed"
    assert told in stale.text
    assert "Done:" not in stale.text  # nothing was done: no "Done: ... nothing was changed"
    again = api_client(rt, "lena").post("/api/cases/C-1002/resolve").json()
    assert again == {"ok": True, "message": told}
    with rt.sessions() as session:
        kinds = [
            (e.actor, e.detail.get("new"))
            for e in session.scalars(select(Event).where(Event.case_id == 2, Event.kind == "state"))
        ]
    assert kinds[-1] == ("lena", "resolved")
    assert kinds.count(("lena", "resolved")) == 1


def test_assigning_a_case_someone_just_assigned_says_so(make_runtime: RuntimeFactory) -> None:
    # Two leads assign one case from pages loaded before either click: the second
    # silently took the case from the colleague the first had just given it to.
    rt = seeded(make_runtime)
    lena, lena_csrf = client_for(rt, "lena")
    root, root_csrf = client_for(rt, "root")
    assert 'name="was" value="-"' in root.get("/cases/C-1001").text  # unassigned as shown
    first = {"csrf_token": lena_csrf, "assignee": "alice", "was": "-"}
    assert "Done: Case assigned." in lena.post("/cases/C-1001/assign", data=first).text
    stale = root.post(
        "/cases/C-1001/assign", data={"csrf_token": root_csrf, "assignee": "root", "was": "-"}
    )
    assert stale.status_code == 400
    when = rt.clock.now().strftime("%Y-%m-%d %H:%M UTC")
    assert (
        f"C-1001 was assigned to alice by lena at {when} after your page showed it; "
        "nothing was changed (assign again to reassign it)"
    ) in stale.text
    assert 'name="was" value="alice"' in stale.text  # the next click reassigns
    again = root.post(
        "/cases/C-1001/assign", data={"csrf_token": root_csrf, "assignee": "root", "was": "alice"}
    )
    assert "Done: Case assigned." in again.text
    same = api_client(rt, "lena").post("/api/cases/C-1001/assign", json={"assignee": "root"})
    assert same.json() == {
        "ok": True,
        "message": "C-1001 is assigned to root already; nothing was changed",
    }
    with rt.sessions() as session:
        assert [
            e.detail["new"]["assignee"]
            for e in session.scalars(
                select(Event).where(Event.case_id == 1, Event.kind == "assigned")
            )
        ] == ["alice", "root"]


def test_a_name_typed_with_capitals_or_spaces_signs_in_to_that_account(
    make_runtime: RuntimeFactory,
) -> None:
    # Phones capitalise the first letter of a text field and pasted names carry spaces:
    # "Alice" was refused as a wrong name or password, as often as it was retried.
    rt = seeded(make_runtime)
    assert login(TestClient(create_app(rt)), "Alice ")
    assert users.authenticate(rt, " ALICE\t", PASSWORD).name == "alice"
    # Every spelling is the one account: its wrong passwords count toward its lockout.
    for spelling in ("ALICE", "Alice", " alice", "alicE", "alice "):
        with pytest.raises(users.LoginRefused):
            users.authenticate(rt, spelling, "wrong-wrong-wrong")
    with pytest.raises(users.LoginRefused):
        users.authenticate(rt, "alice", PASSWORD)
    # Only ASCII is folded: the Kelvin sign lower-cases to "k" but names no account.
    create_user(rt, "kim", "agent", PASSWORD, ("care",))
    with pytest.raises(users.LoginRefused):
        users.authenticate(rt, "\u212aim", PASSWORD)
    page = TestClient(create_app(rt)).get("/login").text
    assert 'autocapitalize="none"' in page


def test_a_disabled_user_is_signed_out_everywhere_and_cannot_return(
    make_runtime: RuntimeFactory,
) -> None:
    # Someone who leaves the team had no way out of the dashboard: there was no command to
    # disable an account, only a new password nobody is told.
    rt = seeded(make_runtime)
    browser, _ = client_for(rt, "alice")
    api = api_client(rt, "alice")
    lena, _ = client_for(rt, "lena")
    users.disable(rt, "alice", actor="root")
    assert browser.get("/", follow_redirects=False).status_code == 303
    assert api.get("/api/cases").status_code == 401
    with pytest.raises(users.LoginRefused) as refused:
        users.authenticate(rt, "alice", PASSWORD)
    assert str(refused.value) == users.REFUSED  # as an unknown name: nothing to learn
    assert lena.get("/", follow_redirects=False).status_code == 200
    assert {u.name: ok for u, ok, _ in users.list_users(rt)}["alice"] is False
    with rt.sessions() as session:
        kinds = session.scalars(select(Event.kind).where(Event.case_id.is_(None))).all()
    assert "user_disabled" in kinds
    users.enable(rt, "alice", actor="root")
    assert login(TestClient(create_app(rt)), "alice")
    assert api.get("/api/cases").status_code == 401  # the old token stays revoked


def test_a_priority_or_team_changed_since_the_page_showed_it_is_not_overwritten(
    make_runtime: RuntimeFactory,
) -> None:
    # Two people on one case from pages loaded before either click: the second silently
    # undid the first's change, a case raised to urgent going back to low, or a case a
    # colleague had handed to billing moved on to tech, neither of them told.
    rt = seeded(make_runtime)
    lena, lena_csrf = client_for(rt, "lena")
    root, root_csrf = client_for(rt, "root")
    shown = root.get("/cases/C-1001").text
    assert '<input type="hidden" name="was" value="normal">' in shown
    assert '<input type="hidden" name="was" value="care">' in shown
    raised = {"csrf_token": lena_csrf, "priority": "urgent", "was": "normal"}
    assert "Done: Priority changed." in lena.post("/cases/C-1001/priority", data=raised).text
    handed = {"csrf_token": lena_csrf, "team": "billing", "was": "care"}
    assert "Done: Case handed to the team." in lena.post("/cases/C-1001/team", data=handed).text
    when = rt.clock.now().strftime("%Y-%m-%d %H:%M UTC")
    stale = root.post(
        "/cases/C-1001/priority", data={"csrf_token": root_csrf, "priority": "low", "was": "normal"}
    )
    assert stale.status_code == 400
    assert (
        f"C-1001&#39;s priority was changed to urgent by lena at {when} after your page showed "
        "normal; nothing was changed (set it again to change it)"
    ) in stale.text
    assert '<input type="hidden" name="was" value="urgent">' in stale.text  # next click sets
    stale = root.post(
        "/cases/C-1001/team", data={"csrf_token": root_csrf, "team": "tech", "was": "care"}
    )
    assert stale.status_code == 400
    assert (
        f"C-1001&#39;s team was changed to billing by lena at {when} after your page showed "
        "care; nothing was changed (set it again to change it)"
    ) in stale.text
    with rt.sessions() as session:
        case = session.get(Case, 1)
        assert case is not None
        assert (case.priority, case.team) == ("urgent", "billing")
    again = {"csrf_token": root_csrf, "priority": "low", "was": "urgent"}
    assert "Done: Priority changed." in root.post("/cases/C-1001/priority", data=again).text
    same = api_client(rt, "lena").post("/api/cases/C-1001/team", json={"team": "billing"})
    assert same.json() == {
        "ok": True,
        "message": "C-1001's team is billing already; nothing was changed",
    }


def test_a_stale_hand_over_from_a_page_that_showed_no_team_says_no_team(
    make_runtime: RuntimeFactory,
) -> None:
    # The form's "-" (no team shown) went into the refusal as is: "after your page
    # showed -".
    rt = seeded(make_runtime)
    root, csrf = client_for(rt, "root")
    assert '<input type="hidden" name="was" value="-">' in root.get("/cases/C-1020").text
    triage.set_team(rt, "C-1020", "billing", user="lena")
    when = rt.clock.now().strftime("%Y-%m-%d %H:%M UTC")
    stale = root.post("/cases/C-1020/team", data={"csrf_token": csrf, "team": "tech", "was": "-"})
    assert stale.status_code == 400
    assert (
        f"C-1020&#39;s team was changed to billing by lena at {when} after your page showed "
        "no team; nothing was changed (set it again to change it)"
    ) in stale.text


def test_a_password_changed_while_the_old_one_is_checked_signs_nobody_in(
    make_runtime: RuntimeFactory,
) -> None:
    # Signing in reads the account, hashes for a while, then records the sign-in. A new
    # password set in between (because the old one leaked) did not stop that sign-in: the
    # old password got a session for 12 hours, and when the stored hash was due for the
    # current argon2 parameters, the old password was written back over the new one.
    rt = seeded(make_runtime)
    older = PasswordHasher(time_cost=2, memory_cost=8, parallelism=1, hash_len=4, salt_len=8)
    with transaction(rt.sessions) as session:
        alices = update(WebUser).where(WebUser.name == "alice")
        session.execute(alices.values(password_hash=older.hash(PASSWORD)))
    changed: list[str] = []

    def admin_changes_it(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        # Right after the sign-in read the account: while it hashes the old password.
        if not changed and "web_users" in sql and sql.lstrip().upper().startswith("SELECT"):
            changed.append(sql)
            set_password(rt, "alice", "a brand new password", actor="root")

    client = TestClient(create_app(rt))
    nonce = NONCE.search(client.get("/login").text)
    assert nonce is not None
    event.listen(rt.engine, "after_cursor_execute", admin_changes_it)
    try:
        answer = client.post(
            "/login",
            data={"name": "alice", "password": PASSWORD, "nonce": nonce[1]},
            follow_redirects=False,
        )
    finally:
        event.remove(rt.engine, "after_cursor_execute", admin_changes_it)
    assert changed
    assert (answer.status_code, "inchannel_session" in client.cookies) == (401, False)
    assert users.REFUSED in answer.text
    assert login(TestClient(create_app(rt)), "alice", "a brand new password")
    with pytest.raises(users.LoginRefused):
        users.authenticate(rt, "alice", PASSWORD)


REPLIES_SHOWN = re.compile(r'name="replies" value="(\d+)"')


def test_a_reply_from_a_page_shown_before_a_colleagues_reply_is_not_posted(
    make_runtime: RuntimeFactory,
) -> None:
    # Two people open the top case of the queue at once and both answer it: the second
    # reply, written without seeing the first, was posted too, two public answers to one
    # customer. The form says how many replies its page showed; one queued since stops it.
    rt = seeded(make_runtime)
    alice, alice_csrf = client_for(rt, "alice")
    lena, lena_csrf = client_for(rt, "lena")
    shown = REPLIES_SHOWN.search(alice.get("/cases/C-1001").text)
    assert shown is not None
    first = lena.post(
        "/cases/C-1001/reply",
        data={"csrf_token": lena_csrf, "text": REPLY, "replies": shown.group(1)},
    )
    assert "Done: Reply queued for posting." in first.text
    mine = "Hi Jane, I'm checking your order now."
    stale = {"csrf_token": alice_csrf, "text": mine, "replies": shown.group(1)}
    refused = alice.post("/cases/C-1001/reply", data=stale)
    assert refused.status_code == 400
    assert (
        "C-1001 was answered by lena after your page showed it; your reply was not posted "
        "(read the thread, then post again to send it as well)"
    ) in refused.text
    assert f">{mine}</textarea>" in refused.text.replace("&#39;", "'")  # kept, not lost
    now = REPLIES_SHOWN.search(refused.text)
    assert now is not None
    assert int(now.group(1)) == int(shown.group(1)) + 1
    with rt.sessions() as session:
        texts = session.scalars(select(ActionRow.text).where(ActionRow.rule.is_(None))).all()
    assert texts == [REPLY]
    # Sent again from the page that shows the colleague's reply, it is posted.
    again = alice.post(
        "/cases/C-1001/reply",
        data={"csrf_token": alice_csrf, "text": mine, "replies": now.group(1)},
        follow_redirects=False,
    )
    assert again.status_code == 303
    # A double click of the first form is still "already queued", not "answered by".
    twice = lena.post(
        "/cases/C-1001/reply",
        data={"csrf_token": lena_csrf, "text": REPLY, "replies": shown.group(1)},
    )
    assert "This reply is already queued" in twice.text


MESSAGES_SHOWN = re.compile(r'action="/cases/C-1001/resolve"[^>]*>.*?name="messages" value="(\d+)"')


def test_a_case_the_customer_wrote_to_since_the_page_showed_it_is_not_resolved(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # An agent reads the case, the customer writes again ("still nothing!"), the agent
    # clicks Resolve: the case closed on a message nobody had read, and it left the queue.
    first = mention(1, "@acme my order is late, where is it?", author="jane")
    rt = seeded(make_runtime, [first])
    alice, csrf = client_for(rt, "alice")
    shown = MESSAGES_SHOWN.search(alice.get("/cases/C-1001").text.replace("\n", " "))
    assert shown is not None
    assert shown.group(1) == "1"
    again = mention(
        2,
        "@acme still nothing, where is my order?",
        author="jane",
        author_id=first["author_id"],
        conversation_id=first["conversation_id"],
        in_reply_to=first["id"],
        created_at="2026-11-20T10:05:00Z",
    )
    rt.sources["feed"] = ReplaySource("feed", write_jsonl(tmp_path / "more.jsonl", [first, again]))
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=5)
    run_cycle(rt)
    with rt.sessions() as session:
        texts = session.scalars(select(Message.text).where(Message.author_handle == "jane"))
        assert len(texts.all()) == 2
    refused = alice.post("/cases/C-1001/resolve", data={"csrf_token": csrf, "messages": "1"})
    assert refused.status_code == 400
    assert (
        "jane wrote to C-1001 again at 2026-11-20 10:05 UTC after your page showed it; "
        "it was not resolved (read the message, then resolve again)"
    ) in refused.text
    with rt.sessions() as session:
        case = session.get(Case, 1)
        assert case is not None
        assert case.state != "resolved"
    now = MESSAGES_SHOWN.search(refused.text.replace("\n", " "))
    assert now is not None
    assert now.group(1) == "2"
    done = alice.post(
        "/cases/C-1001/resolve",
        data={"csrf_token": csrf, "messages": now.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_a_colleagues_reply_in_the_same_words_is_no_double_click_of_mine(
    make_runtime: RuntimeFactory,
) -> None:
    # Two people pick the same knowledge-base answer on one case: Lena's is posted, and
    # Alice, on a page loaded before it, sends the same words minutes later. The same
    # text among the replies since her page was taken for her own double click and left
    # to the "already queued" check, which lets a repeat through after 5 minutes: the
    # customer got the same answer twice, the second written without seeing the first.
    rt = seeded(make_runtime)
    alice, alice_csrf = client_for(rt, "alice")
    lena, lena_csrf = client_for(rt, "lena")
    shown = REPLIES_SHOWN.search(alice.get("/cases/C-1001").text)
    assert shown is not None
    first = lena.post(
        "/cases/C-1001/reply",
        data={"csrf_token": lena_csrf, "text": REPLY, "replies": shown.group(1)},
    )
    assert "Done: Reply queued for posting." in first.text
    dispatch_outbox(rt)
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=6)
    stale = {"csrf_token": alice_csrf, "text": REPLY, "replies": shown.group(1)}
    refused = alice.post("/cases/C-1001/reply", data=stale)
    assert _replies_by(rt, "alice") == 0
    assert refused.status_code == 400
    assert "C-1001 was answered by lena after your page showed it" in refused.text


REPLY_FORM_MESSAGES = re.compile(
    r'action="/cases/C-1001/reply"[^>]*>(?:(?!</form>).)*?name="messages" value="(\d+)"'
)


def test_a_reply_written_before_the_customer_wrote_again_is_not_posted(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # An agent answers what the page shows; meanwhile the customer writes again. The
    # reply went out addressed to the newest message, one the agent had not read, as
    # if it answered it. The reply form says how many of the customer's messages it showed.
    first = mention(1, "@acme my order is late, where is it?", author="jane")
    rt = seeded(make_runtime, [first])
    alice, csrf = client_for(rt, "alice")
    page = alice.get("/cases/C-1001").text.replace("\n", " ")
    shown = REPLY_FORM_MESSAGES.search(page)
    assert shown is not None
    assert shown.group(1) == "1"
    replies = REPLIES_SHOWN.search(page)
    assert replies is not None
    again = mention(
        2,
        "@acme cancel it, I bought one elsewhere",
        author="jane",
        author_id=first["author_id"],
        conversation_id=first["conversation_id"],
        in_reply_to=first["id"],
        created_at="2026-11-20T10:05:00Z",
    )
    rt.sources["feed"] = ReplaySource("feed", write_jsonl(tmp_path / "more.jsonl", [first, again]))
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=5)
    run_cycle(rt)
    mine = "Hi Jane, it ships tomorrow."
    form = {"csrf_token": csrf, "text": mine, "replies": replies.group(1), "messages": "1"}
    refused = alice.post("/cases/C-1001/reply", data=form)
    assert refused.status_code == 400
    assert (
        "jane wrote to C-1001 again at 2026-11-20 10:05 UTC after your page showed it; "
        "your reply was not posted (read the message, then post again)"
    ) in refused.text
    assert f">{mine}</textarea>" in refused.text  # kept, not lost
    assert _replies_by(rt, "alice") == 0
    now = REPLY_FORM_MESSAGES.search(refused.text.replace("\n", " "))
    assert now is not None
    assert now.group(1) == "2"
    sent = alice.post(
        "/cases/C-1001/reply", data={**form, "messages": now.group(1)}, follow_redirects=False
    )
    assert sent.status_code == 303
    assert _replies_by(rt, "alice") == 1


def _replies_by(rt: Runtime, actor: str) -> int:
    with rt.sessions() as session:
        query = select(func.count()).select_from(ActionRow).where(ActionRow.actor == actor)
        return int(session.scalar(query.where(ActionRow.kind == "reply")) or 0)


SPAM_FORM_REPLIES = re.compile(
    r'action="/cases/C-1001/spam"[^>]*>(?:(?!</form>).)*?name="replies" value="(\d+)"'
)


def test_marking_as_spam_from_a_page_shown_before_a_colleagues_reply_withdraws_nothing(
    make_runtime: RuntimeFactory,
) -> None:
    # Lena answers the customer while Alice, on a page loaded before, takes the case for
    # spam: the click silently withdrew Lena's reply, which neither of them then knew.
    rt = seeded(make_runtime)
    alice, alice_csrf = client_for(rt, "alice")
    lena, lena_csrf = client_for(rt, "lena")
    shown = SPAM_FORM_REPLIES.search(alice.get("/cases/C-1001").text.replace("\n", " "))
    assert shown is not None
    posted = lena.post("/cases/C-1001/reply", data={"csrf_token": lena_csrf, "text": REPLY})
    assert "Done: Reply queued for posting." in posted.text
    stale = {"csrf_token": alice_csrf, "replies": shown.group(1)}
    refused = alice.post("/cases/C-1001/spam", data=stale)
    assert refused.status_code == 400
    assert (
        "C-1001 was answered by lena after your page showed it; it was not marked as spam "
        "(that would withdraw 1 reply not posted yet: read the thread, then mark it again)"
    ) in refused.text
    with rt.sessions() as session:
        lenas = session.scalars(select(ActionRow).where(ActionRow.actor == "lena")).one()
        assert lenas.status == "pending"
        case = session.get(Case, 1)
        assert case is not None
        assert "spam" not in case.tags
    now = SPAM_FORM_REPLIES.search(refused.text.replace("\n", " "))
    assert now is not None
    assert int(now.group(1)) == int(shown.group(1)) + 1
    done = alice.post(
        "/cases/C-1001/spam",
        data={"csrf_token": alice_csrf, "replies": now.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with rt.sessions() as session:
        lenas = session.scalars(select(ActionRow).where(ActionRow.actor == "lena")).one()
        assert lenas.status == "rejected"


APPROVE_FORM_MESSAGES = re.compile(
    r'action="/cases/C-1001/approve"[^>]*>(?:(?!</form>).)*?name="messages" value="(\d+)"'
)


def test_a_draft_approved_from_a_page_shown_before_the_customer_wrote_again_is_not_posted(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A draft answers the message it was written for; the customer wrote again since the
    # lead's page showed the case. Approved, it went out as if the follow-up had been read.
    first = mention(1, "@acme how do i return my blender?", author="jane")
    rt = seeded(make_runtime, [first])
    lena, csrf = client_for(rt, "lena")
    page = lena.get("/cases/C-1001").text.replace("\n", " ")
    shown = APPROVE_FORM_MESSAGES.search(page)
    assert shown is not None
    assert shown.group(1) == "1"
    draft = re.search(r'name="draft" value="(\d+)"', page)
    assert draft is not None
    again = mention(
        2,
        "@acme never mind, I'll keep it",
        author="jane",
        author_id=first["author_id"],
        conversation_id=first["conversation_id"],
        in_reply_to=first["id"],
        created_at="2026-11-20T10:05:00Z",
    )
    rt.sources["feed"] = ReplaySource("feed", write_jsonl(tmp_path / "more.jsonl", [first, again]))
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=5)
    run_cycle(rt)
    form = {"csrf_token": csrf, "draft": draft.group(1), "messages": "1"}
    refused = lena.post("/cases/C-1001/approve", data=form)
    assert refused.status_code == 400
    assert (
        "jane wrote to C-1001 again at 2026-11-20 10:05 UTC after your page showed it; "
        "the draft was not approved (read the message, then approve again)"
    ) in refused.text
    with rt.sessions() as session:
        statuses = set(session.scalars(select(ActionRow.status).where(ActionRow.kind == "reply")))
    assert statuses == {"draft"}
    now = APPROVE_FORM_MESSAGES.search(refused.text.replace("\n", " "))
    assert now is not None
    assert now.group(1) == "2"
    approved = lena.post(
        "/cases/C-1001/approve", data={**form, "messages": now.group(1)}, follow_redirects=False
    )
    assert approved.status_code == 303


def test_rejecting_a_draft_a_colleague_approved_since_the_page_showed_it_says_so(
    make_runtime: RuntimeFactory,
) -> None:
    # Two leads on one case: lena approves the draft, root (on a page loaded before) then
    # rejects it. "no draft 41 waiting" hid that the reply had gone out, and by whom.
    rt = seeded(make_runtime, [mention(1, "@acme how do i return my blender?", author="jane")])
    lena, lena_csrf = client_for(rt, "lena")
    root, root_csrf = client_for(rt, "root")
    page = root.get("/cases/C-1001").text
    draft = re.search(r'name="draft" value="(\d+)"', page)
    assert draft is not None
    approve = {"csrf_token": lena_csrf, "draft": draft.group(1), "messages": "1"}
    assert lena.post("/cases/C-1001/approve", data=approve, follow_redirects=False).is_redirect
    reject = {"csrf_token": root_csrf, "draft": draft.group(1), "reason": "too casual"}
    refused = root.post("/cases/C-1001/reject", data=reject)
    assert refused.status_code == 400
    assert (
        f"draft {draft.group(1)} of C-1001 was approved already by lena at 2026-11-20 "
        "09:00 UTC; it was not rejected"
    ) in refused.text
    with rt.sessions() as session:
        statuses = set(session.scalars(select(ActionRow.status).where(ActionRow.kind == "reply")))
    assert statuses == {"pending"}
