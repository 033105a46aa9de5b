"""Report figures against hand-computed expectations on a few cases."""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select, update

from monitor import casework_actions, casework_replies, triage
from monitor.dispatch import dispatch_outbox
from monitor.domain import Platform
from monitor.pipeline import check_sla, run_cycle
from monitor.runtime import Runtime
from monitor.sources.replay import ReplaySource
from monitor.store.models import Case, Event
from monitor.web.reports import Attainment, build_report
from monitor.web.users import create_user
from responders.base import ResponderError
from tests.conftest import RuntimeFactory, mention, write_jsonl
from tests.fakes import ScriptedResponder
from tests.test_pipeline import append
from tests.webkit import PASSWORD, api_client, client_for

CARE = {"name": "care", "first_response_minutes": 60}
OTHERS = [{"name": "billing"}, {"name": "tech"}, {"name": "international"}]
ABUSE = "@acme you are idiots"  # the shipped rules escalate it to care
NOW = "2026-11-20T09:00:00Z"  # FakeClock's start
SPANISH = "@acme todavía no tengo ninguna respuesta, esto es inaceptable"


def _escalated(make_runtime: RuntimeFactory, n: int, **overrides: Any) -> Runtime:
    """``n`` abusive mentions escalated to care just now, C-1001 onwards, unanswered."""
    rt = make_runtime(
        [mention(i, ABUSE, created_at=NOW) for i in range(1, n + 1)],
        **{"teams": [CARE, *OTHERS], **overrides},
    )
    run_cycle(rt)
    return rt


def _care(rt: Runtime) -> Attainment:
    (care,) = [a for a in build_report(rt).sla if a.team == "care"]
    return care


def test_a_case_closed_unanswered_before_its_deadline_is_no_breach(
    make_runtime: RuntimeFactory,
) -> None:
    # Spam, or a post that needed no answer, closed in time: no answer was owed any more.
    # Its deadline stayed on the case, so it was "pending" until the deadline and
    # "breached" ever after, and marking spam lowered the team's attainment.
    rt = _escalated(make_runtime, 4)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    triage.mark_spam(rt, "C-1001", user="lena")
    casework_actions.resolve(rt, "C-1002", user="lena")
    casework_replies.reply(rt, "C-1003", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    assert _care(rt) == Attainment("care", met=1, breached=0, pending=1)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    assert _care(rt) == Attainment("care", met=1, breached=1, pending=0)
    # Closed after the deadline, unanswered: the customer waited past it.
    casework_actions.resolve(rt, "C-1004", user="lena")
    assert _care(rt) == Attainment("care", met=1, breached=1, pending=0)


def test_the_volume_chart_has_a_column_for_every_day_even_a_quiet_one(
    make_runtime: RuntimeFactory,
) -> None:
    # Days came from the messages alone: a day without any was left out of the axis, the
    # columns either side of it stood next to each other and the gap did not show.
    rt = make_runtime(
        [
            mention(1, created_at="2026-11-17T10:00:00Z"),
            mention(2, created_at="2026-11-19T10:00:00Z"),
        ],
        teams=[CARE, *OTHERS],
    )
    run_cycle(rt)
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    page = client.get("/reports?days=7").text
    sentiment = page.split("<h2>Volume by sentiment</h2>")[1].split("</figure>")[0]
    # Since 2026-11-13 09:00 UTC, to now, 2026-11-20 09:00 UTC.
    labels = re.findall(r'font-size="10">(\d\d-\d\d)</text>', sentiment)
    assert labels == [f"11-{day}" for day in range(13, 21)]
    assert sentiment.count("<rect") - 4 == 2  # two columns with messages, four legend keys


def test_the_csv_export_opens_in_excel_with_its_accents(make_runtime: RuntimeFactory) -> None:
    # Team names come from the config in any language. Without a byte-order mark Excel
    # reads a CSV file in the system's code page: "Kundendienst Österreich" showed as
    # "Kundendienst Ã–sterreich".
    team = "Kundendienst Österreich"
    rt = _escalated(make_runtime, 1, teams=[CARE, *OTHERS, {"name": team}])
    with rt.sessions.begin() as session:
        session.execute(update(Case).values(team=team))
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    answer = client.get("/reports.csv")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["section", "group", "key", "value"]
    assert ["sla", team, "pending", "1"] in rows


def test_the_first_response_is_credited_to_whoever_was_posted_first(
    make_runtime: RuntimeFactory,
) -> None:
    # The bot's reply, queued first, was held by the X write budget; a person answered
    # meanwhile. The first reply queued, not the first posted, was taken for the first
    # response: "by bot", though the customer heard from a person first.
    rt = make_runtime([mention(1, "@acme thank you so much, that was amazing!", created_at=NOW)])
    responder = ScriptedResponder()
    rt.responders = dict.fromkeys(Platform, responder)
    reset = rt.clock.now() + timedelta(hours=1)
    responder.fail_next(
        ResponderError("x reply budget: 50 of 50", retry_after=reset, rate_limited=True)
    )
    run_cycle(rt)
    rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Thank you, Jane!", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert len(responder.posts) == 2
    assert responder.posts[0][2] == "Thank you, Jane!"
    timings = {t.group: (t.count, t.median) for t in build_report(rt).first_response}
    assert timings == {"(none)": (1, 5.0), "by human": (1, 5.0)}


def test_no_sla_countdown_on_cases_that_owe_no_answer(make_runtime: RuntimeFactory) -> None:
    # Answering or closing a case leaves its deadline on the row (reports read the first
    # one). Shown anyway, a case answered in time and one closed as spam read "SLA
    # overdue" in red on their pages and in the queue's closed states, once it had passed.
    rt = _escalated(make_runtime, 3)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    triage.mark_spam(rt, "C-1002", user="lena")
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    for path in ("/cases/C-1001", "/cases/C-1002", "/?state=waiting_customer", "/?state=resolved"):
        page = client.get(path).text
        assert "overdue" not in page, path
    # The one still unanswered is overdue, in the queue and on its page.
    assert "overdue 1h 10m" in client.get("/cases/C-1003").text
    assert "overdue 1h 10m" in client.get("/").text


def _timings(rows: list[Any]) -> dict[str, tuple[int, float | None]]:
    return {t.group: (t.count, t.median) for t in rows}


def test_cases_closed_as_spam_are_not_timed(make_runtime: RuntimeFactory) -> None:
    # Marking spam resolves the case minutes after it opened: those minutes counted as a
    # resolution (and an answer sent before someone saw it was spam as a first response),
    # and pulled the team's medians down, though no customer was helped.
    rt = _escalated(make_runtime, 2)
    rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
    triage.mark_spam(rt, "C-1001", user="lena")  # resolved 10 minutes after opening
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1002", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(minutes=20)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1002", user="lena")
    report = build_report(rt)
    assert _timings(report.first_response) == {"care": (1, 20.0), "by human": (1, 20.0)}
    assert _timings(report.resolution) == {"care": (1, 40.0)}
    # Still counted where it belongs: its tag, and the SLA (answered in time).
    assert ("spam", 1) in report.top_tags
    assert _care(rt) == Attainment("care", met=2, breached=0, pending=0)


def test_first_response_is_also_given_in_the_business_minutes_the_sla_counts(
    make_runtime: RuntimeFactory,
) -> None:
    # Opened on Friday at 16:30, answered on Monday at 09:30 by a team open 09:00-17:00 on
    # weekdays: 3,900 minutes on the clock, 60 on the SLA's (met, with 60 minutes). Only
    # the clock figure was reported, next to an attainment the team met.
    care = {**CARE, "timezone": "Europe/London", "business_hours": {"mon-fri": "09:00-17:00"}}
    rt = make_runtime([mention(1, ABUSE, created_at="2026-11-20T16:30:00Z")], teams=[care, *OTHERS])
    rt.clock.advance(hours=7, minutes=30)  # type: ignore[attr-defined]
    run_cycle(rt)
    rt.clock.advance(days=2, hours=17)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    report = build_report(rt)
    assert _timings(report.first_response) == {"care": (1, 3900.0), "by human": (1, 3900.0)}
    assert _timings(report.first_response_business) == {"care": (1, 60.0), "by human": (1, 60.0)}
    assert _care(rt) == Attainment("care", met=1, breached=0, pending=0)
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    page = client.get("/reports").text
    assert "<td>care</td><td>1</td><td>3900.0</td><td>3900.0</td><td>60.0</td><td>60.0</td>" in page
    rows = list(csv.reader(io.StringIO(client.get("/reports.csv").content.decode("utf-8-sig"))))
    assert ["first_response_business_minutes", "care", "median", "60.0"] in rows
    assert ["first_response_minutes", "care", "median", "3900.0"] in rows


def test_the_csv_has_every_figure_the_page_and_the_api_show(make_runtime: RuntimeFactory) -> None:
    # The page's "Attained" column and the API's percent were missing from the CSV, and
    # the window it covers was only in the file's name.
    rt = _escalated(make_runtime, 2)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    rows = list(
        csv.reader(io.StringIO(client.get("/reports.csv?days=7").content.decode("utf-8-sig")))
    )
    assert ["sla", "care", "percent", "50.0"] in rows
    assert ["window", "", "since", "2026-11-13T11:10:00+00:00"] in rows
    assert ["window", "", "days", "7"] in rows
    page = client.get("/reports?days=7").text
    assert "<td>care</td><td>1</td><td>1</td><td>0</td><td>50.0%</td>" in page
    # The volume's days are UTC days, the first and the last partly in the window.
    assert "Inbound messages per UTC day by sentiment" in page


def test_a_case_answered_while_the_report_is_read_is_timed_in_both_tables_or_neither(
    make_runtime: RuntimeFactory,
) -> None:
    # The report reads the cases, then the business minutes of the answered ones, in two
    # statements. A reply posted in between made the case answered in the second only:
    # its business minutes were reported for a group the clock table did not have, and
    # the page, which pairs the two tables row by row, showed them under the wrong group.
    care = {**CARE, "timezone": "Europe/London", "business_hours": {"mon-fri": "09:00-17:00"}}
    rt = _escalated(make_runtime, 1, teams=[care, *OTHERS])
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    posted: list[str] = []

    def dispatch_meanwhile(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = " ".join(statement.split())
        if posted or "first_response_at IS NOT NULL AND cases.team IN" not in words:
            return
        posted.append(statement)
        dispatch_outbox(rt)

    event.listen(rt.engine, "before_cursor_execute", dispatch_meanwhile)
    try:
        report = build_report(rt)
    finally:
        event.remove(rt.engine, "before_cursor_execute", dispatch_meanwhile)
    assert len(posted) == 1
    assert _timings(report.first_response) == {}
    assert _timings(report.first_response_business) == {}
    assert _timings(build_report(rt).first_response_business) == {
        "care": (1, 10.0),
        "by human": (1, 10.0),
    }


def test_the_csv_has_a_volume_row_for_every_day_even_a_quiet_one(
    make_runtime: RuntimeFactory,
) -> None:
    # The CSV listed only the days, platforms and labels that had messages: a chart or a
    # pivot table made from it skipped the quiet days, as the page's chart once did, and
    # a day's "x negative" was missing rather than 0.
    rt = make_runtime(
        [
            mention(1, created_at="2026-11-17T10:00:00Z"),
            mention(2, created_at="2026-11-19T10:00:00Z"),
        ],
        teams=[CARE, *OTHERS],
    )
    run_cycle(rt)
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    text = client.get("/reports.csv?days=7").content.decode("utf-8-sig")
    volume = [row for row in csv.reader(io.StringIO(text)) if row[0] == "volume"]
    # Since 2026-11-13 09:00 UTC, to now, 2026-11-20 09:00 UTC: every UTC day, every
    # platform, every label.
    days = [f"2026-11-{day}" for day in range(13, 21)]
    groups = [f"{day} {platform}" for day in days for platform in ("reddit", "x")]
    labels = ["negative", "neutral", "positive", "unscored"]
    assert [row[1:3] for row in volume] == [[g, label] for g in groups for label in labels]
    assert ["volume", "2026-11-15 x", "negative", "0"] in volume
    assert sum(int(row[3]) for row in volume) == 2
    assert sum(int(row[3]) for row in volume if row[1] == "2026-11-17 x") == 1


def test_the_api_volume_has_every_day_even_a_quiet_one(make_runtime: RuntimeFactory) -> None:
    # /api/reports listed only the days, platforms and labels that had messages, while
    # the chart and the CSV show every day of the window with zeros: a script drawing
    # from the JSON joined the days either side of a quiet one.
    rt = make_runtime(
        [
            mention(1, created_at="2026-11-17T10:00:00Z"),
            mention(2, created_at="2026-11-19T10:00:00Z"),
        ],
        teams=[CARE, *OTHERS],
    )
    run_cycle(rt)
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    volume = api_client(rt, "lena").get("/api/reports", params={"days": 7}).json()["volume"]
    days = [f"2026-11-{day}" for day in range(13, 21)]
    labels = ["negative", "neutral", "positive", "unscored"]
    keys = [[d, p, label] for d in days for p in ("reddit", "x") for label in labels]
    assert [row[:3] for row in volume] == keys
    assert ["2026-11-15", "x", "negative", 0] in volume
    assert sum(row[3] for row in volume) == 2
    assert sum(row[3] for row in volume if row[:2] == ["2026-11-17", "x"]) == 1


def test_the_reports_page_says_its_days_are_utc_days(make_runtime: RuntimeFactory) -> None:
    # The volume counts UTC days, as docs/dashboard.md says, but the page named no time
    # zone for its columns: a team in New York read its 23:30 complaint under the next
    # day and took the columns for its own days.
    rt = make_runtime(
        [mention(1, created_at="2026-11-20T04:30:00Z")],
        teams=[{**CARE, "timezone": "America/New_York"}, *OTHERS],
    )
    run_cycle(rt)
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    page = client.get("/reports?days=7").text
    volume = page.split("<h2>Volume by sentiment</h2>")[1].split("<h2>First response</h2>")[0]
    assert "one column per UTC day (00:00–24:00 UTC)" in volume


def test_an_answer_posted_at_the_deadline_is_on_time_for_the_alert_and_the_report(
    make_runtime: RuntimeFactory,
) -> None:
    # A 60-minute SLA is met by an answer within 60 minutes, as the report counts it; the
    # breach check fired at the deadline itself, so the team was told "overdue" of a case
    # the report then called met. Overdue is past the deadline, for both.
    rt = _escalated(make_runtime, 2)
    rt.clock.advance(minutes=60)  # type: ignore[attr-defined]
    check_sla(rt)
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    with rt.sessions() as session:
        kinds = session.scalars(select(Event.kind).where(Event.kind == "sla_breached")).all()
    assert kinds == []
    assert _care(rt) == Attainment("care", met=1, breached=0, pending=1)
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    assert 'class="pill "' in client.get("/cases/C-1002").text  # due now, not red yet
    rt.clock.advance(seconds=1)  # type: ignore[attr-defined]
    check_sla(rt)
    assert 'class="pill breached"' in client.get("/cases/C-1002").text
    with rt.sessions() as session:
        breached = session.scalars(select(Case).where(Case.sla_breached_at.is_not(None)))
        assert [c.ref for c in breached] == ["C-1002"]
    assert _care(rt) == Attainment("care", met=1, breached=1, pending=0)


def test_a_first_response_is_credited_to_the_team_that_held_the_case_then(
    make_runtime: RuntimeFactory,
) -> None:
    # Care answered C-1001 in 10 minutes, within its 60-minute SLA; a lead moved it to
    # billing a day later. Read off the case's team now, billing was
    # credited with a first response (and an SLA met) it never gave, care lost it, and a
    # team's figures changed whenever its old cases were handed on.
    rt = _escalated(make_runtime, 2)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    for ref in ("C-1001", "C-1002"):
        casework_replies.reply(rt, ref, "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    triage.set_team(rt, "C-1001", "billing", user="lena")
    report = build_report(rt)
    assert _timings(report.first_response) == {"care": (2, 10.0), "by human": (2, 10.0)}
    assert _timings(report.first_response_business) == _timings(report.first_response)
    assert report.sla == [Attainment("care", met=2, breached=0, pending=0)]


def test_a_first_response_before_a_rule_escalated_the_case_is_no_teams(
    make_runtime: RuntimeFactory,
) -> None:
    # The bot thanked Jane at once; her angry follow-up an hour later was escalated to
    # care by a rule. Care was credited with the bot's first response, given before the
    # case was care's: a minute's response time that flattered care's own.
    thanks = "@acme thank you so much, that was amazing!"
    first = mention(1, thanks, created_at=NOW)
    rt = make_runtime([first], teams=[CARE, *OTHERS])
    run_cycle(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    later = rt.clock.now().isoformat()
    angry = mention(2, ABUSE, created_at=later, author="user1", author_id="501")
    angry.update(conversation_id="1001", in_reply_to="1001")
    path = write_jsonl(rt.settings.base_dir / "later.jsonl", [first, angry])
    rt.sources["feed"] = ReplaySource("feed", path, page_size=5)
    run_cycle(rt)
    with rt.sessions() as session:
        (case,) = session.scalars(select(Case)).all()
        assert (case.team, case.first_response_at is not None) == ("care", True)
    assert _timings(build_report(rt).first_response) == {"(none)": (1, 0.0), "by bot": (1, 0.0)}


def test_a_first_response_stays_with_the_team_a_rule_moved_the_waiting_case_from(
    make_runtime: RuntimeFactory,
) -> None:
    # The bot acknowledged a late order at once and the rules gave the case to care;
    # while it still waited on care, the customer asked for a refund and the rules handed
    # it to billing. The case changed team in the same state, so no event was recorded:
    # the reports credited billing with care's first response.
    late = mention(1, "@acme my order is late", created_at=NOW)
    rt = make_runtime([late], teams=[CARE, *OTHERS])
    run_cycle(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    refund = mention(
        2,
        "@acme and I was charged twice, I want a refund",
        created_at=rt.clock.now().isoformat(),
        author="user1",
        author_id="501",
        conversation_id="1001",
        in_reply_to="1001",
    )
    path = write_jsonl(rt.settings.base_dir / "later.jsonl", [late, refund])
    rt.sources["feed"] = ReplaySource("feed", path, page_size=5)
    run_cycle(rt)
    with rt.sessions() as session:
        (case,) = session.scalars(select(Case)).all()
        assert (case.team, case.state) == ("billing", "awaiting_human")
    assert _timings(build_report(rt).first_response) == {"care": (1, 0.0), "by bot": (1, 0.0)}


def test_a_reopened_case_is_timed_while_it_was_open_not_while_it_sat_resolved(
    make_runtime: RuntimeFactory,
) -> None:
    # Answered and resolved in 30 minutes; two days later the customer writes again and
    # the case is answered and resolved in 20 more. Its resolution ran from the first
    # opening to the last close, the two days it sat resolved included: 2,930 minutes
    # for 50 minutes of the team's time, and one such case set the team's p90.
    rt = _escalated(make_runtime, 1)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(minutes=20)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    assert _timings(build_report(rt).resolution) == {"care": (1, 30.0)}
    rt.clock.advance(days=2)  # type: ignore[attr-defined]
    written = rt.clock.now().isoformat().replace("+00:00", "Z")
    again = {"conversation_id": "1001", "in_reply_to": "1001", "created_at": written}
    append(rt, mention(1, ABUSE, **{"id": "2001", **again}))
    run_cycle(rt)
    assert _timings(build_report(rt).resolution) == {}  # open again: not resolved
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry again, which order is it?", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    assert _timings(build_report(rt).resolution) == {"care": (1, 50.0)}
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    rows = list(csv.reader(io.StringIO(client.get("/reports.csv").content.decode("utf-8-sig"))))
    assert ["resolution_minutes", "care", "median", "50.0"] in rows


def _write_again(rt: Runtime, n: int, text: str = ABUSE) -> None:
    """Customer ``n`` writes again in her thread, now."""
    written = rt.clock.now().isoformat().replace("+00:00", "Z")
    again = {"conversation_id": str(1000 + n), "in_reply_to": str(1000 + n)}
    append(rt, mention(n, text, **{"id": str(2000 + n), "created_at": written, **again}))
    run_cycle(rt)


def test_a_breach_stays_counted_when_the_customer_reopens_the_case(
    make_runtime: RuntimeFactory,
) -> None:
    # Closed unanswered two hours after its one-hour deadline: breached. The customer
    # wrote again the next day; the reopening moved the opening and cleared the
    # deadline, and the breach left the attainment (pending, then met once answered).
    # C-1002, closed in time, owed nothing: reopened, only its new clock counts.
    rt = _escalated(make_runtime, 2)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1002", user="lena")
    rt.clock.advance(hours=3)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    assert _care(rt) == Attainment("care", met=0, breached=1, pending=0)
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    _write_again(rt, 1)
    _write_again(rt, 2)
    assert _care(rt) == Attainment("care", met=0, breached=1, pending=1)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    for ref in ("C-1001", "C-1002"):
        casework_replies.reply(rt, ref, "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    assert _care(rt) == Attainment("care", met=1, breached=1, pending=0)
    with rt.sessions() as session:  # the reopened conversation got its own clock
        case = session.scalars(select(Case).where(Case.id == 1)).one()
        assert case.first_response_at is not None
        assert case.sla_due_at is not None
        assert case.first_response_at <= case.sla_due_at


def test_a_late_first_response_stays_breached_after_the_customer_follows_up(
    make_runtime: RuntimeFactory,
) -> None:
    rt = _escalated(make_runtime, 1)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    assert _care(rt) == Attainment("care", met=0, breached=1, pending=0)
    rt.clock.advance(minutes=30)  # type: ignore[attr-defined]
    _write_again(rt, 1)
    assert _care(rt) == Attainment("care", met=0, breached=1, pending=0)
    rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Thanks, looking into it.", user="lena")
    dispatch_outbox(rt)
    casework_actions.resolve(rt, "C-1001", user="lena")
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    _write_again(rt, 1, "@acme still nothing, you are idiots")
    assert _care(rt) == Attainment("care", met=0, breached=1, pending=0)


# Teams that promise an answer within a working day: a case handed to one past care's
# one-hour deadline is not overdue for it yet.
SLOWER = [
    CARE,
    *({"name": t, "first_response_minutes": 480} for t in ("billing", "tech", "international")),
]


def _attainment(rt: Runtime) -> dict[str, tuple[int, int, int]]:
    return {a.team: (a.met, a.breached, a.pending) for a in build_report(rt).sla}


def test_a_breach_stays_with_the_team_that_missed_it_when_a_lead_hands_the_case_on(
    make_runtime: RuntimeFactory,
) -> None:
    # Care left C-1001 unanswered two hours, past its one-hour deadline; a lead then
    # gave it to billing, which answered in ten minutes. The move reset the deadline
    # for billing: the breach left the reports, which showed billing pending, then met.
    rt = _escalated(make_runtime, 1, teams=SLOWER)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    assert _attainment(rt) == {"care": (0, 1, 0)}
    triage.set_team(rt, "C-1001", "billing", user="lena")
    assert _attainment(rt) == {"care": (0, 1, 0)}
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    dispatch_outbox(rt)
    assert _attainment(rt) == {"care": (0, 1, 0)}
    with rt.sessions() as session:  # billing still got its own clock for the queue
        case = session.scalars(select(Case).where(Case.id == 1)).one()
        assert case.sla_due_at == case.opened_at + timedelta(hours=8)


def test_a_breach_stays_with_the_team_that_missed_it_when_a_rule_hands_the_case_on(
    make_runtime: RuntimeFactory,
) -> None:
    # Care left C-1001 unanswered past its deadline; the customer wrote again in
    # Spanish and the rules gave the waiting case to international, resetting the
    # deadline: answered ten minutes later, it showed as met for international and care's
    # breach was gone. C-1002, moved before care's deadline, counts on the new clock.
    rt = _escalated(make_runtime, 2, teams=SLOWER)
    rt.clock.advance(minutes=30)  # type: ignore[attr-defined]
    _write_again(rt, 2, SPANISH)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    _write_again(rt, 1, SPANISH)
    with rt.sessions() as session:
        teams = session.scalars(select(Case.team).order_by(Case.id)).all()
        assert teams == ["international", "international"]
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    for ref in ("C-1001", "C-1002"):
        casework_replies.reply(rt, ref, "Lo sentimos, ¿cuál es su pedido?", user="lena")
    dispatch_outbox(rt)
    assert _attainment(rt) == {"care": (0, 1, 0), "international": (1, 0, 0)}


def test_a_resolved_case_handed_to_another_team_owes_nothing_until_it_is_reopened(
    make_runtime: RuntimeFactory,
) -> None:
    # Care closed C-1001 unanswered in half an hour, inside its hour; a lead then gave the
    # closed case to tech, which promises 15 minutes. The move started tech's clock from
    # the opening: tech showed a breach of a case it got closed, and when the customer
    # wrote again that deadline was kept as missed and stayed a breach after the new one.
    tech = {"name": "tech", "first_response_minutes": 15}
    rt = _escalated(make_runtime, 1, teams=[CARE, *OTHERS[:1], tech, *OTHERS[2:]])
    rt.clock.advance(minutes=30)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    triage.set_team(rt, "C-1001", "tech", user="lena")
    assert _attainment(rt) == {}
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    _write_again(rt, 1, "@acme hello?")
    with rt.sessions() as session:  # tech's clock starts when the customer reopens it
        case = session.scalars(select(Case).where(Case.id == 1)).one()
        assert (case.state, case.team, case.missed_due_at) == ("new", "tech", None)
        assert case.sla_due_at == rt.clock.now() + timedelta(minutes=15)
    assert _attainment(rt) == {"tech": (0, 0, 1)}


def test_a_reopened_case_handed_on_while_closed_keeps_its_teams_name_in_the_report(
    make_runtime: RuntimeFactory,
) -> None:
    # A case no team held, closed unanswered after two hours, then given to care: care's
    # one-hour clock ran from the opening, and once the customer wrote again its breach
    # was kept and credited to the team that held the case then, none: "(none)" 0/1.
    rt = make_runtime([mention(1, "@acme hello there", created_at=NOW)], teams=SLOWER)
    run_cycle(rt)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    triage.set_team(rt, "C-1001", "care", user="lena")
    assert _attainment(rt) == {}
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    _write_again(rt, 1, "@acme hello?")
    assert _attainment(rt) == {"care": (0, 0, 1)}


def test_a_breach_stays_with_its_team_when_the_closed_case_is_handed_on(
    make_runtime: RuntimeFactory,
) -> None:
    # Care closed C-1001 unanswered two hours late; handed to billing while closed, the
    # breach is care's (the move must keep it, as it starts no clock of billing's), and
    # billing's clock starts when the customer writes again.
    rt = _escalated(make_runtime, 1, teams=SLOWER)
    rt.clock.advance(hours=3)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    triage.set_team(rt, "C-1001", "billing", user="lena")
    assert _attainment(rt) == {"care": (0, 1, 0)}
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    _write_again(rt, 1, "@acme hello?")
    assert _attainment(rt) == {"care": (0, 1, 0)}  # the case's one outcome: care's breach
    with rt.sessions() as session:
        case = session.scalars(select(Case).where(Case.id == 1)).one()
        assert case.sla_due_at == rt.clock.now() + timedelta(hours=8)
