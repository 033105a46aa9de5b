"""Dashboard pages through the real core: a database filled by the pipeline from the sample
mentions, signed-in clients, and every case action through its HTML form."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from monitor.clock import FakeClock
from monitor.dispatch import dispatch_outbox
from monitor.domain import ActionStatus
from monitor.pipeline import run_cycle
from monitor.rules.reload import RuleReloader
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Event, SourceState, Usage
from monitor.store.web_models import SentimentFeedback
from monitor.web.users import LoginRefused, authenticate, create_user, disable, list_users
from tests.conftest import REPO, RuntimeFactory, mention
from tests.fakes import ScriptedResponder, permanent
from tests.webkit import PASSWORD, TEAMS, api_client, client_for, login, seeded


def _post(client, csrf: str, path: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)


def test_every_page_needs_a_sign_in(make_runtime: RuntimeFactory) -> None:
    client, _ = client_for(seeded(make_runtime))
    for path in ("/", "/cases/C-1001", "/reports", "/reports.csv", "/health", "/admin/users"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    assert client.post("/cases/C-1001/resolve", follow_redirects=False).status_code == 303


def test_queue_sorts_by_sla_then_priority_and_counts_states(make_runtime: RuntimeFactory) -> None:
    client, _ = client_for(seeded(make_runtime), "lena")
    page = client.get("/").text
    refs = [
        line.split('"/cases/')[1].split('"')[0]
        for line in page.splitlines()
        if 'href="/cases/' in line
    ]
    # The cases owing an answer come first by deadline: care's (60 min), then
    # international's (240 min); then the rest by priority and age, among them tech's
    # cases (30 min), which the bot acknowledged in time.
    assert refs[:4] == ["C-1010", "C-1016", "C-1006", "C-1007"]
    assert refs[7:10] == ["C-1002", "C-1003", "C-1004"]
    # The demo's C-1001 stays with care, the bot's thanks for "it finally arrived, thank
    # you!" posted, and C-1034, a payment question, waits for a draft's approval, as
    # does C-1032, a cancel question ("ordered it by mistake"), which is no complaint;
    # C-1035 ("was a joke") is escalated.
    assert "awaiting_human: 18" in page
    assert "awaiting_approval: 7" in page
    assert "C-1028" in page  # untriaged cases without an SLA come last
    assert 'src="/static/x.svg"' in page
    assert 'src="/static/reddit.svg"' in page


def test_queue_filters(make_runtime: RuntimeFactory) -> None:
    client, _ = client_for(seeded(make_runtime), "lena")
    assert _refs(client.get("/?team=billing").text) == ["C-1005", "C-1026", "C-1033"]
    assert _refs(client.get("/?tag=abuse").text) == ["C-1010"]
    assert _refs(client.get("/?tag=Abuse").text) == ["C-1010"]  # tags are stored lower-case
    assert _refs(client.get("/?q=air+fryer").text) == ["C-1023"]
    assert _refs(client.get("/?q=jane_d").text) == ["C-1001"]
    assert set(_refs(client.get("/?state=awaiting_approval").text)) == {
        "C-1009",
        "C-1015",
        "C-1025",
        "C-1029",
        "C-1030",
        "C-1032",
        "C-1034",
    }
    assert set(_refs(client.get("/?platform=reddit&sentiment=negative").text)) == {
        "C-1023",
        "C-1026",
    }
    assert _refs(client.get("/?q=100%25").text) == []  # % is searched for, not a wildcard
    live = client.get("/queue/live?team=billing").text
    assert "C-1005" in live
    assert "<html" not in live


def _refs(page: str) -> list[str]:
    return [part.split('"')[0] for part in page.split('href="/cases/')[1:]]


def test_case_page_shows_thread_history_decisions_and_audit(make_runtime: RuntimeFactory) -> None:
    client, _ = client_for(seeded(make_runtime), "alice")
    page = client.get("/cases/C-1001").text
    # The brand's own earlier reply (the parent) is part of the thread the customer sees.
    assert "acmehelp" in page
    assert "checking with the carrier" in page
    assert "tracking hasn&#39;t updated" in page
    assert "not detected" not in page  # X declared no language; the scorer read English
    assert "negative (-0.3182)" in page
    assert "Bot decisions" in page
    assert "rules " in page
    assert "Audit trail" in page
    assert "opened" in page
    assert "1 case(s)" in page


def test_case_page_shows_the_language_found_and_why_a_message_is_unscored(
    make_runtime: RuntimeFactory,
) -> None:
    rows = [
        # No platform-declared language (Reddit never declares one): the scorer's.
        mention(1, "@acme Mijn bestelling is nog steeds niet geleverd, wat is er aan de hand?"),
        mention(2, "@acme when will the winter sale include the espresso machines?"),
        mention(3, "@acme my order is late", lang="en"),
    ]
    client, _ = client_for(seeded(make_runtime, rows), "root")
    dutch = client.get("/cases/C-1001").text
    # Unscored has no score: "(0.00)" read as a neutral one.
    assert "unscored: language:nl" in dutch
    assert "language nl" in dutch
    assert "not detected" not in dutch  # the scorer detected it: Dutch
    no_signal = client.get("/cases/C-1002").text
    assert "unscored: no-signal" in no_signal
    assert "not detected" not in no_signal
    assert "language en" in client.get("/cases/C-1003").text


def test_case_page_shows_the_compound_the_rules_compared(make_runtime: RuntimeFactory) -> None:
    rows = [mention(1, "@acme the delivery was disastrous")]
    client, _ = client_for(seeded(make_runtime, rows), "root")
    page = client.get("/cases/C-1001").text
    # -0.5994 is not within the shipped angry-customer rule's "-1 .. -0.6", which did not
    # match; shown as -0.60, the score said it should have.
    assert "negative (-0.5994)" in page
    assert "(-0.60)" not in page


def test_reply_is_checked_queued_and_sent(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "alice")
    too_long = _post(client, csrf, "/cases/C-1001/reply", text="a" * 281)
    assert too_long.status_code == 400
    assert "281 characters: x allows 280" in too_long.text
    assert "a" * 281 in too_long.text  # what the person typed is kept
    done = _post(client, csrf, "/cases/C-1001/reply", text="Sorry Jane, a new parcel ships today.")
    assert done.status_code == 303
    assert done.headers["location"] == "/cases/C-1001?done=reply"
    dispatch_outbox(rt)
    page = client.get("/cases/C-1001?done=reply").text
    # What happened, not the form's title ("Done: Reply publicly in the case's thread").
    assert "Done: Reply queued for posting." in page
    assert "a new parcel ships today" in page
    assert "waiting_customer" in page


def test_check_as_you_type(make_runtime: RuntimeFactory) -> None:
    client, csrf = client_for(seeded(make_runtime), "alice")
    ok = client.post("/cases/C-1001/check", content="Hello", headers={"X-CSRF-Token": csrf})
    assert ok.json() == {"problems": [], "length": 5, "limit": 280}
    long = client.post("/cases/C-1001/check", content="é" * 300, headers={"X-CSRF-Token": csrf})
    assert long.json()["problems"] == ["300 characters: x allows 280"]
    assert client.post("/cases/C-1001/check", content="x").status_code == 403
    other = client.post("/cases/C-1005/check", content="x", headers={"X-CSRF-Token": csrf})
    # As the case page answers it: the case exists, and is another team's.
    assert (other.status_code, other.json()["error"]) == (
        403,
        "C-1005 belongs to team billing, which is not one of yours",
    )
    gone = client.post("/cases/C-9999/check", content="x", headers={"X-CSRF-Token": csrf})
    assert (gone.status_code, gone.json()["error"]) == (404, "no case C-9999")


def test_the_draft_box_measures_an_edit_as_the_approval_posts_it(
    make_runtime: RuntimeFactory,
) -> None:
    """An edited draft goes to Reddit as written (the rule's markdown), and approving
    measures it so; the check as the lead typed measured it escaped and warned about a
    text the approval then accepted."""
    rows = [
        mention(1, "@acme do you sell lids?", platform="reddit", author="dan"),
        mention(
            2, "@acme is there a shop in Leeds?", platform="reddit", author="eve", author_id="9"
        ),
    ]
    rt = seeded(make_runtime, rows)
    with rt.sessions() as session:
        drafts = dict(
            session.query(ActionRow.case_id, ActionRow.id).filter(ActionRow.status == "draft")
        )
    client, csrf = client_for(rt, "root")
    draft = drafts[1]
    assert f'data-check="/cases/C-1001/check?draft={draft}"' in client.get("/cases/C-1001").text
    edited = "Hi dan, " + "| a " * 2400  # 9,608 characters; escaped, every "|" doubles
    header = {"X-CSRF-Token": csrf}
    checked = client.post(f"/cases/C-1001/check?draft={draft}", content=edited, headers=header)
    assert checked.json() == {"problems": [], "length": len(edited.strip()), "limit": 10_000}
    # Another case's draft is not this box's: the text is measured as a person's own.
    other = client.post(f"/cases/C-1001/check?draft={drafts[2]}", content=edited, headers=header)
    assert other.json()["problems"] == ["12007 characters: reddit allows 10000"]
    for bad in ("x", "99999999999999999999999"):
        junk = client.post(f"/cases/C-1001/check?draft={bad}", content=edited, headers=header)
        assert junk.json()["length"] == 12007
    approved = _post(client, csrf, "/cases/C-1001/approve", text=edited, draft=str(draft))
    assert approved.status_code == 303


def test_lead_approves_edits_and_rejects_drafts(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "lena")
    assert "Draft waiting for approval" in client.get("/cases/C-1015").text
    edited = "Yes, we ship to Ireland: delivery takes 3-5 days."
    assert _post(client, csrf, "/cases/C-1015/approve", text=edited).status_code == 303
    assert _post(client, csrf, "/cases/C-1025/reject", reason="off topic").status_code == 303
    with rt.sessions() as session:
        actions = {a.case_id: a for a in session.query(ActionRow).filter(ActionRow.kind == "reply")}
        assert actions[15].status == ActionStatus.PENDING
        assert actions[15].text == edited
        assert actions[15].actor == "lena"
        assert actions[25].status == ActionStatus.REJECTED
    again = _post(client, csrf, "/cases/C-1015/approve")
    assert again.status_code == 400
    assert "has no draft waiting for approval" in again.text


def test_a_browsers_line_breaks_are_posted_and_measured_as_typed(
    make_runtime: RuntimeFactory,
) -> None:
    """A browser sends a text box's line breaks as CRLF, while the check as you type
    measures the box's LF text: a reply the check passed was refused on submit, and an
    untouched multi-line draft was approved as "edited" with carriage returns in it."""
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "lena")
    typed = "\n".join(["Sorry Jane, a new parcel ships today." + "." * 32] * 4)  # 279 characters
    header = {"X-CSRF-Token": csrf}
    checked = client.post("/cases/C-1001/check", content=typed, headers=header)
    assert checked.json()["problems"] == []
    sent = _post(client, csrf, "/cases/C-1001/reply", text=typed.replace("\n", "\r\n"))
    assert sent.status_code == 303, sent.text[-800:]
    drafted = "Yes, we ship to Ireland.\nDelivery takes 3-5 days."
    with rt.sessions.begin() as session:
        session.execute(
            update(ActionRow)
            .where(ActionRow.case_id == 15, ActionRow.status == "draft")
            .values(text=drafted)
        )
    as_sent = drafted.replace("\n", "\r\n")
    assert _post(client, csrf, "/cases/C-1015/approve", text=as_sent).status_code == 303
    with rt.sessions() as session:
        mine = session.query(ActionRow).filter(ActionRow.actor == "lena")
        texts = {a.case_id: a.text for a in mine}
        approved = session.query(Event).filter(Event.case_id == 15, Event.kind == "approved").one()
    assert texts == {1: typed, 15: drafted}
    assert approved.detail["edited"] is False


def test_triage_forms(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "lena")
    for op, data in (
        ("assign", {"assignee": "alice"}),
        ("priority", {"priority": "urgent"}),
        ("team", {"team": "billing"}),
        ("tag", {"add": "vip, Refund", "remove": "praise"}),
        ("note", {"text": "Called the carrier."}),
    ):
        answer = _post(client, csrf, f"/cases/C-1001/{op}", **data)
        assert answer.status_code == 303, (op, answer.text[:300])
    with rt.sessions() as session:
        case = session.get(Case, 1)
        assert case is not None
        # alice (care) cannot open a billing case: the team change unassigned her.
        assert (case.assignee, case.priority, case.team) == (None, "urgent", "billing")
        assert case.tags == ["complaint", "delivery", "vip", "refund"]
        kinds = [e.actor + ":" + e.kind for e in session.query(Event).filter(Event.case_id == 1)]
    assert {"lena:assigned", "lena:priority", "lena:team", "lena:tags", "lena:note"} <= set(kinds)
    # Now a billing case: alice (care) may not open it; bob (billing) and the lead may.
    assert (
        'value="bob"><option value="lena"><option value="root">' in client.get("/cases/C-1001").text
    )
    refused = _post(client, csrf, "/cases/C-1001/assign", assignee="alice")
    assert refused.status_code == 400
    assert "alice is an agent of care and cannot open the cases of team billing" in refused.text
    bad = _post(client, csrf, "/cases/C-1001/priority", priority="asap")
    assert bad.status_code == 400
    assert "priority must be one of low, normal, high, urgent" in bad.text


def test_sentiment_correction_spam_and_resolve(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "alice")
    with rt.sessions() as session:
        first = session.query(ActionRow).count()  # any id that is not in case 1 is refused
        message_id = session.execute(
            __import__("sqlalchemy").text("SELECT id FROM messages WHERE case_id = 1 LIMIT 1")
        ).scalar_one()
    assert (
        _post(
            client, csrf, "/cases/C-1001/sentiment", message_id=str(message_id), label="negative"
        ).status_code
        == 303
    )
    with rt.sessions() as session:
        feedback = session.query(SentimentFeedback).one()
        assert (feedback.corrected_label, feedback.user, feedback.case_id) == (
            "negative",
            "alice",
            1,
        )
    assert "corrected to <strong>negative</strong> by alice" in client.get("/cases/C-1001").text
    wrong = _post(
        client, csrf, "/cases/C-1001/sentiment", message_id=str(10_000 + first), label="negative"
    )
    assert wrong.status_code == 400
    assert "is not part of C-1001" in wrong.text
    assert _post(client, csrf, "/cases/C-1012/spam").status_code == 303
    assert _post(client, csrf, "/cases/C-1016/resolve").status_code == 303
    with rt.sessions() as session:
        spam, resolved = session.get(Case, 12), session.get(Case, 16)
        assert spam is not None
        assert resolved is not None
        assert spam.state == resolved.state == "resolved"
        assert "spam" in spam.tags


def test_reports_page_and_csv(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    dispatch_outbox(rt)
    client, _ = client_for(rt, "lena")
    page = client.get("/reports?days=30").text
    assert page.count("<svg") == 6
    assert "SLA attainment" in page
    answer = client.get("/reports.csv?days=30")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["section", "group", "key", "value"]
    sections = {row[0] for row in rows[1:]}
    assert {"volume", "first_response_minutes", "sla", "tags"} <= sections
    assert ["tags", "needs-human", "cases", "5"] in rows


# What a spreadsheet evaluates: = + - @ start a formula, and Excel skips a leading tab
# or carriage return before looking (OWASP "CSV injection").
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1")
HOSTILE_RULE = """
name: hostile-team
match:
  text: order
then:
  escalate: {team: "=2+5", priority: high, reason: hostile team name}
"""


def test_csv_export_cells_are_never_formulas(make_runtime: RuntimeFactory, tmp_path: Path) -> None:
    # Team names come from the config, tags from rules and people; the customers' own
    # words do not reach the report. A cell starting with a tab or CR was left as it was.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "hostile.yaml").write_text(HOSTILE_RULE, encoding="utf-8")
    teams = [*TEAMS, {"name": "=2+5"}]
    rt = make_runtime([mention(1)], rules={"path": str(rules)}, teams=teams)
    run_cycle(rt)
    # Tags are checked now (a letter or digit first), but a database kept from before
    # the check may hold any: the export must not trust them.
    with rt.sessions.begin() as session:
        session.execute(update(Case).values(tags=list(FORMULAS)))
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    rows = list(csv.reader(io.StringIO(client.get("/reports.csv").text)))
    assert ["sla", "'=2+5", "pending", "1"] in rows
    for formula in FORMULAS:
        assert ["tags", "'" + formula, "cases", "1"] in rows
    for cell in (cell for row in rows for cell in row):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_health_lists_sources_and_retries_dead_actions(make_runtime: RuntimeFactory) -> None:
    platform = ScriptedResponder()
    platform.fail_next(permanent("403 replies restricted"))
    rt = seeded(make_runtime, responder=platform)
    with rt.sessions() as session:
        dead_id = session.query(ActionRow.id).filter(ActionRow.status == "dead").scalar()
    client, csrf = client_for(rt, "lena")
    page = client.get("/health").text
    assert "feed" in page
    assert "<th>Cursor lag</th>" in page
    assert "<td>0 s</td>" in page  # the seeding cycle read the whole feed just now
    assert "403 replies restricted" in page
    assert "Retry" in page
    assert _post(client, csrf, f"/actions/{dead_id}/retry").status_code == 303
    with rt.sessions() as session:
        retried = session.get(ActionRow, dead_id)
        assert retried is not None
        assert (retried.status, retried.attempts) == ("pending", 0)
    again = _post(client, csrf, f"/actions/{dead_id}/retry")  # a double click: as asked
    assert (again.status_code, again.headers["location"]) == (303, f"/health?retried={dead_id}")
    agent, agent_csrf = client_for(rt, "alice")
    assert _post(agent, agent_csrf, f"/actions/{dead_id}/retry").status_code == 403


def test_health_says_a_stopped_source_is_stopped(make_runtime: RuntimeFactory) -> None:
    # A permanent error parks the next poll ten years ahead: the page showed that date
    # as the next poll, one the team could wait for; `status` says "stopped".
    rt = seeded(make_runtime)
    parked = rt.clock.now() + timedelta(days=3650)
    with transaction(rt.sessions) as session:
        session.execute(update(SourceState).values(next_poll_at=parked))
    client, _ = client_for(rt, "lena")
    page = client.get("/health").text
    assert "<td>stopped</td>" in page
    assert str(parked.year) not in page


def test_health_does_not_call_the_daemons_own_rows_unconfigured_sources(
    make_runtime: RuntimeFactory,
) -> None:
    # The rules reload's row (every daemon has one) read "@rules (not configured)", as
    # a source taken out of the config does, on the demo's first Health page.
    rt = seeded(make_runtime)
    RuleReloader(rt).check()
    with transaction(rt.sessions) as session:
        session.add(SourceState(name="retired"))  # a source no longer in the config
    client, _ = client_for(rt, "lena")
    page = client.get("/health").text
    assert "<td>@rules</td>" in page
    assert "<td>retired (not configured)</td>" in page


def test_health_confirms_a_retry_only_for_an_action_it_requeued(
    make_runtime: RuntimeFactory,
) -> None:
    # /health?retried=ANY said "Action ANY will be sent again" for any text.
    platform = ScriptedResponder()
    platform.fail_next(permanent("403 replies restricted"))
    rt = seeded(make_runtime, responder=platform)
    with rt.sessions() as session:
        dead_id = session.query(ActionRow.id).filter(ActionRow.status == "dead").scalar()
    client, csrf = client_for(rt, "lena")
    for spoof in ("ANY", "999999", str(dead_id), "9" * 30):
        page = client.get(f"/health?retried={spoof}").text
        assert "will be sent again" not in page, spoof
    answer = _post(client, csrf, f"/actions/{dead_id}/retry")
    page = client.get(answer.headers["location"]).text
    assert f"Action {dead_id} will be sent again." in page


def test_admin_manages_users(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "root")
    assert "lena" in client.get("/admin/users").text
    added = _post(
        client,
        csrf,
        "/admin/users",
        name="zoe",
        role="agent",
        teams="tech",
        password="long enough pw",
    )
    assert added.status_code == 303
    with rt.sessions() as session:
        added = session.query(Event).filter(Event.kind == "user_added", Event.actor == "root").one()
        assert added.detail == {"name": "zoe", "role": "agent", "teams": ["tech"]}
        assert added.case_id is None
    fresh, _ = client_for(rt)
    assert login(fresh, "zoe", "long enough pw")
    short = _post(client, csrf, "/admin/users", name="yan", role="agent", password="short")
    assert short.status_code == 400
    assert "at least 10 characters" in short.text


def test_a_team_given_twice_is_stored_once(make_runtime: RuntimeFactory) -> None:
    # "care care" was stored as two teams and shown as "care, care".
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "root")
    form = {"name": "zoe", "role": "agent", "password": "long enough pw"}
    added = _post(client, csrf, "/admin/users", teams="tech care tech,care", **form)
    assert added.status_code == 303
    assert [u.teams for u, _, _ in list_users(rt) if u.name == "zoe"] == [("tech", "care")]
    assert "<td>tech, care</td>" in client.get("/admin/users").text
    with rt.sessions() as session:
        event = session.query(Event).filter(Event.kind == "user_added").all()[-1]
        assert event.detail["teams"] == ["tech", "care"]


def test_unlocking_a_user_who_is_not_locked_says_so_and_records_nothing(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "root")
    answer = _post(client, csrf, "/admin/users/alice/unlock")
    assert answer.status_code == 400
    assert "user alice is not locked" in answer.text
    for _ in range(5):
        with pytest.raises(LoginRefused):
            authenticate(rt, "alice", "wrong password")
    assert _post(client, csrf, "/admin/users/alice/unlock").status_code == 303
    with rt.sessions() as session:
        unlocked = session.query(Event).filter(Event.kind == "user_unlocked").all()
        assert [e.detail for e in unlocked] == [{"name": "alice"}]
    assert login(client_for(rt)[0], "alice")


def test_the_users_page_tells_a_disabled_user_from_a_locked_one(
    make_runtime: RuntimeFactory,
) -> None:
    """A disabled user was shown as "locked until —" (or until a lockout long over) with
    an Unlock button, which recorded an unlock and still left them unable to sign in."""
    rt = seeded(make_runtime)
    assert isinstance(rt.clock, FakeClock)
    for _ in range(5):
        with pytest.raises(LoginRefused):
            authenticate(rt, "alice", "wrong password")
    rt.clock.advance(minutes=20)  # alice's lockout is over
    for name in ("alice", "bob"):
        disable(rt, name, actor="root")
    for _ in range(5):
        with pytest.raises(LoginRefused):
            authenticate(rt, "lena", "wrong password")
    client, _ = client_for(rt, "root")
    rows = {
        row.split("</td>")[0]: row for row in client.get("/admin/users").text.split("<tr><td>")[1:]
    }
    for name in ("alice", "bob"):
        assert "<td>disabled</td>" in rows[name]
        assert "unlock" not in rows[name]
    assert "locked until 2026-11-20 09:35 UTC" in rows["lena"]
    assert 'action="/admin/users/lena/unlock"' in rows["lena"]


def test_report_volume_counts_customers_not_the_brands_own_posts(
    make_runtime: RuntimeFactory,
) -> None:
    # The samples hold 39 customer messages and 3 posts of the brand's own accounts (a
    # sale announcement, replies of @acmehelp found by the search). Those were counted as
    # inbound volume, as "unscored" messages, and in the CSV.
    rt = seeded(make_runtime)
    client, _ = client_for(rt, "lena")
    volume = [row for row in _csv(client.get("/reports.csv").text) if row[0] == "volume"]
    assert sum(int(row[3]) for row in volume) == 39
    unscored = sum(int(row[3]) for row in volume if row[2] == "unscored")
    # No sentiment word: "can I pay with paypal?", "can I still cancel ...? ordered it by
    # mistake" and "when will the refund show up?"
    assert unscored == 18
    page = client.get("/reports").text
    assert "<title>2026-11-20 unscored: 18</title>" in page  # the chart: 21 with own posts


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_done_lines_say_what_happened(make_runtime: RuntimeFactory) -> None:
    # The line after a form named the form ("Done: Approve the draft (optionally
    # edited)", "Done: Mark as spam and close"), not what had been done.
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "root")
    for op, fields, said in (
        ("note", {"text": "called back"}, "Done: Note added."),
        ("priority", {"priority": "urgent"}, "Done: Priority changed."),
        ("tag", {"add": "vip"}, "Done: Tags changed."),
        ("spam", {}, "Done: Marked as spam and closed."),
    ):
        sent = _post(client, csrf, f"/cases/C-1001/{op}", **fields)
        assert sent.status_code == 303, sent.text
        page = client.get(sent.headers["location"]).text
        assert said in page, op


def test_health_shows_the_reads_held_as_status_does(make_runtime: RuntimeFactory) -> None:
    # Each X request's hold is a usage row of its own (x:reads_held:<until>:<id>): the
    # page listed every row, a killed worker's lapsed hold among them, as reads held.
    rt = seeded(make_runtime)
    now = rt.clock.now()
    day = now.strftime("%Y-%m-%d")
    live = int((now + timedelta(minutes=1)).timestamp())
    lapsed = int((now - timedelta(hours=3)).timestamp())
    with transaction(rt.sessions) as session:
        session.add_all(
            [
                Usage(key="x:reads", day=day, count=40),
                Usage(key=f"x:reads_held:{live}:a1", day=day, count=300),
                Usage(key=f"x:reads_held:{live}:b2", day=day, count=30),
                Usage(key=f"x:reads_held:{lapsed}:c3", day=day, count=300),
            ]
        )
    health = api_client(rt, "lena").get("/api/health").json()
    assert health["usage_today"] == [["x:reads", 40], ["x:reads_held", 330]]
    assert collect(rt).usage_today == {"x:reads": 40, "x:reads_held": 330}
    client, _ = client_for(rt, "lena")
    text = client.get("/health").text
    assert "x:reads_held:" not in text
    assert "<td>x:reads_held</td><td>330</td>" in text


def test_a_case_closed_as_spam_offers_no_reply_and_refuses_one(
    make_runtime: RuntimeFactory,
) -> None:
    # It stays closed until the `spam` tag is removed: the page offered the reply box,
    # and a reply (typed, say, before a colleague marked the case) reopened the case and
    # was posted to the spammer; the API did the same.
    rt = seeded(make_runtime)
    client, csrf = client_for(rt, "alice")
    assert _post(client, csrf, "/cases/C-1012/spam").status_code == 303
    page = client.get("/cases/C-1012").text
    assert 'action="/cases/C-1012/reply"' not in page
    assert "Closed as spam: remove its spam tag to reply." in page
    refused = _post(client, csrf, "/cases/C-1012/reply", text="Thanks for reaching out!")
    assert refused.status_code == 400
    assert "C-1012 was closed as spam: remove its spam tag to reply" in refused.text
    answer = api_client(rt, "alice").post("/api/cases/C-1012/reply", json={"text": "Hi there"})
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "C-1012 was closed as spam: remove its spam tag to reply"},
    )
    with rt.sessions() as session:
        case = session.get(Case, 12)
        assert case is not None
        assert case.state == "resolved"
        assert (
            session.query(ActionRow)
            .filter(ActionRow.case_id == 12)
            .filter(ActionRow.status == ActionStatus.PENDING.value)
            .count()
            == 0
        )


def test_api_health_lists_every_outbox_status_as_status_json_does(
    make_runtime: RuntimeFactory,
) -> None:
    # Only the statuses present were keys: a script reading outbox_counts["dead"] failed
    # with a KeyError while nothing had died, where `status --json` has every one.
    rt = seeded(make_runtime)
    counts = api_client(rt, "lena").get("/api/health").json()["outbox_counts"]
    assert counts == collect(rt).outbox
    assert set(counts) == {status.value for status in ActionStatus}
    assert 0 in counts.values()
    # The page still shows only what there is.
    client, _ = client_for(rt, "lena")
    page = client.get("/health").text
    shown = {status for status, n in counts.items() if n}
    assert all((f'class="pill">{s}: ' in page) == (s in shown) for s in counts)


def test_a_case_whose_newest_post_x_refuses_a_reply_to_says_so_instead_of_a_reply_box(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # An X search hit naming no brand account: X's API refuses our reply to it. The page
    # offered the reply box all the same, and the agent learnt it only on submit, after
    # typing the answer; the reason now stands where the box was, as for a spam case.
    hit = mention(1, "Acme <b>lost</b> my parcel", author="jane", kind="keyword")
    shutil.copytree(REPO / "config" / "answers", tmp_path / "answers")
    rt = seeded(make_runtime, [{**hit, "reply_allowed": False}])
    client, csrf = client_for(rt, "alice")
    page = client.get("/cases/C-1001").text
    assert 'action="/cases/C-1001/reply"' not in page
    assert (
        "X refuses replies to posts that do not mention @acme or @acmehelp; answer from X&#39;s app"
    ) in page
    assert 'action="/cases/C-1001/note"' in page  # the person can still note what they did
    assert "<b>lost</b>" not in page  # the post's words stay text
    # The API and the form still refuse a reply, with the same reason.
    refused = _post(client, csrf, "/cases/C-1001/reply", text="Sorry Jane, we're on it.")
    assert refused.status_code == 400
    assert "X refuses replies to posts that do not mention @acme" in refused.text
    # What was typed is kept where it can be copied into X's app, never in a form.
    assert "Sorry Jane, we&#39;re on it.</textarea>" in refused.text
    assert 'action="/cases/C-1001/reply"' not in refused.text
    answer = api_client(rt, "alice").post("/api/cases/C-1001/reply", json={"text": "Hi Jane"})
    assert answer.status_code == 400
    assert "X refuses replies" in answer.json()["error"]
    # A knowledge-base answer picked is shown to copy too.
    picked = client.get("/cases/C-1001", params={"answer": "warranty-length"}).text
    assert "Every Acme appliance has a 2-year warranty" in picked
    assert 'action="/cases/C-1001/reply"' not in picked


def test_a_case_whose_newest_post_mentions_the_brand_offers_the_reply_box_again(
    make_runtime: RuntimeFactory,
) -> None:
    # The refusal is the newest post's: the customer's later mention takes a reply.
    hit = mention(1, "Acme lost my parcel", author="jane", kind="keyword", reply_allowed=False)
    again = mention(
        2,
        "@acme hello? my parcel",
        author="jane",
        author_id=hit["author_id"],
        conversation_id=hit["conversation_id"],
        in_reply_to=hit["id"],
        created_at="2026-11-20T10:05:00Z",
    )
    rt = seeded(make_runtime, [hit, again])
    client, _ = client_for(rt, "alice")
    page = client.get("/cases/C-1001").text
    assert 'action="/cases/C-1001/reply"' in page
    box = page.split('<section class="reply">')[1].split("</section>")[0]
    assert "X refuses replies" not in box


def test_health_says_a_copied_database_has_no_worker_yet(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # After `db copy` the page showed the old database's polls as if the sources were
    # being read, while no worker ran on the new one; `status` now says so, and so does
    # the page, until a worker's first health check there.
    from monitor.health_alerts import check_health
    from monitor.ingest import release_leases
    from monitor.runtime import build_runtime
    from monitor.status import COPIED_NOT_STARTED
    from monitor.store.copy import copy_database
    from monitor.store.db import make_engine

    rt = seeded(make_runtime)
    release_leases(rt)
    target = f"sqlite:///{tmp_path / 'moved.db'}"
    engine = make_engine(target)
    copy_database(rt.engine, engine, clock=rt.clock)
    engine.dispose()
    database = rt.settings.database.model_copy(update={"url": target})
    clock = FakeClock(rt.clock.now() + timedelta(minutes=2))
    moved = build_runtime(rt.settings.model_copy(update={"database": database}), clock=clock)
    client, _ = client_for(moved, "lena")
    assert COPIED_NOT_STARTED in client.get("/health").text
    check_health(moved)
    assert COPIED_NOT_STARTED not in client.get("/health").text
    moved.engine.dispose()
