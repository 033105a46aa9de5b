"""Answers through the real pipeline and database: the entry recorded on the action and
the decision, per-entry stats with the came-back signal, a person's reply started from
an entry (casework, CLI, dashboard)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from monitor import casework, casework_drafts, casework_replies
from monitor.answers.stats import entry_stats
from monitor.backfill import backfill
from monitor.cli import main
from monitor.domain import ActionStatus
from monitor.pipeline import run_cycle
from monitor.rules.reload import RELOAD_SECONDS
from monitor.sources.base import Window
from monitor.store.models import ActionRow, Case, Customer, Message
from monitor.textlength import reply_length
from tests.answerkit import ANSWER_RULE, knowledge_base_dir
from tests.conftest import REPO, RuntimeFactory, mention
from tests.rulekit import write
from tests.test_pipeline import append
from tests.webkit import client_for, seeded

ASK = "@acme can you deliver my order to Ireland?"


def _runtime(make_runtime: RuntimeFactory, tmp_path: Path, rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    write(tmp_path / "rules", ANSWER_RULE)
    knowledge_base_dir(tmp_path / "answers")
    return make_runtime(rows, rules={"path": str(tmp_path / "rules")})


def test_answer_is_recorded_on_action_and_decision(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = _runtime(make_runtime, tmp_path, [mention(1, ASK, author_name="Claire")])
    run_cycle(rt)
    with rt.sessions() as session:
        action = session.scalars(select(ActionRow)).one()
        message = session.scalars(select(Message).where(Message.direction == "inbound")).one()
        case = session.scalars(select(Case)).one()
    assert action.answer_id == "shipping-countries"
    assert action.status == ActionStatus.SENT.value
    assert action.text == f"Hi Claire! We ship to the UK, Ireland and the EU (case {case.ref})."
    assert message.decision is not None
    assert message.decision["reply"]["answer"] == "shipping-countries"
    assert 0.55 <= message.decision["reply"]["confidence"] <= 1
    assert case.state == "auto_replied"


def test_stats_count_answers_and_customers_who_came_back_within_24_hours(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The clock stands at 09:00; answers go out then. Ann writes again at 12:00 the
    # same day (came back); Bob only three days later (resolved as far as we know).
    rows = [
        mention(1, ASK, author="ann", author_id="7", created_at="2026-11-20T08:50:00Z"),
        mention(2, ASK, author="bob", author_id="8", created_at="2026-11-20T08:55:00Z"),
        mention(5, "@acme do you ship to Ireland?", author="cy", author_id="9"),
    ]
    rt = _runtime(make_runtime, tmp_path, rows)
    with rt.sessions() as session:
        assert entry_stats(session) == []
    run_cycle(rt)
    # Written after the answers went out. (Decided in one batch with the questions, a
    # customer's later message is the one the bot answers: docs/rules.md, Guards.)
    append(
        rt,
        mention(3, "@acme thanks, but my order still shows UK only", author="ann",
                author_id="7", conversation_id="1001", created_at="2026-11-20T12:00:00Z"),
        mention(4, "@acme got it, thanks", author="bob", author_id="8",
                conversation_id="1002", created_at="2026-11-23T12:00:00Z"),
    )  # fmt: skip
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    run_cycle(rt)
    with rt.sessions() as session:
        stats = entry_stats(session)
    assert [(s.entry, s.sent, s.came_back) for s in stats] == [("shipping-countries", 3, 1)]
    assert stats[0].came_back_rate == 1 / 3


def test_stats_leave_out_answers_a_backfill_only_suppressed(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # History imported by `inchannel backfill`: the answer is recorded as what the bot
    # would have done, never sent nor queued; the entry has not been used.
    rt = _runtime(make_runtime, tmp_path, [mention(1, ASK, author_name="Claire")])
    report = backfill(rt, "feed", Window(datetime(2026, 11, 1, tzinfo=UTC)))
    assert report.suppressed == 1
    with rt.sessions() as session:
        assert session.scalars(select(ActionRow.answer_id)).all() == ["shipping-countries"]
        assert entry_stats(session) == []


def test_stats_count_as_rejected_only_the_drafts_a_person_turned_down(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """An answer withdrawn unsent (its case marked as spam, or the thread's cap) was
    counted as "rejected", the column that says a person turned the entry's text down."""
    from monitor.ingest import poll_source
    from monitor.processing import process_pending
    from monitor.triage import mark_spam

    long = ASK + " " + "Thanks so much for the help, " * 40  # read in part: a draft
    rows = [mention(1, ASK, author="ann", author_id="7"), mention(2, long, author="bob")]
    rt = _runtime(make_runtime, tmp_path, rows)
    poll_source(rt, "feed")
    process_pending(rt)  # Ann's answer queued, Bob's drafted; nothing sent yet
    mark_spam(rt, "C-1001", user="lena")
    casework_drafts.reject(rt, "C-1002", user="lena")
    with rt.sessions() as session:
        statuses = session.scalars(select(ActionRow.status).order_by(ActionRow.id)).all()
        stats = entry_stats(session)
    assert statuses == ["rejected", "rejected"]
    assert [(s.entry, s.queued, s.drafts, s.rejected) for s in stats] == [
        ("shipping-countries", 0, 0, 1)
    ]


def test_a_draft_a_person_answers_from_the_same_entry_is_not_counted_as_rejected(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """A person's reply withdraws the drafts waiting in the case. One started from the
    draft's own entry used that entry: stats counted it as turned down as well as sent,
    and the entry looked rejected for the answer it gave. Own words still count."""
    from monitor.ingest import poll_source
    from monitor.processing import process_pending

    long = ASK + " " + "Thanks so much for the help, " * 40  # read in part: a draft
    rows = [mention(1, long, author="ann"), mention(2, long, author="bob", author_id="8")]
    rt = _runtime(make_runtime, tmp_path, rows)
    poll_source(rt, "feed")
    process_pending(rt)
    casework_replies.reply(rt, "C-1001", "", user="lena", answer_id="shipping-countries")
    casework_replies.reply(rt, "C-1002", "Hi Bob, we ship to Ireland.", user="lena")
    with rt.sessions() as session:
        stats = entry_stats(session)
    assert [(s.entry, s.queued, s.drafts, s.rejected) for s in stats] == [
        ("shipping-countries", 1, 0, 1)
    ]


def test_a_person_replies_starting_from_an_entry(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = _runtime(make_runtime, tmp_path, [mention(1, "@acme my kettle is broken")])
    run_cycle(rt)
    ref = "C-1001"
    text = casework_replies.answer_prefill(rt, ref, "warranty-length")
    assert text == "Hi user1! Two years on every appliance."
    action_id = casework_replies.reply(rt, ref, "", user="lena", answer_id="warranty-length")
    with rt.sessions() as session:
        action = session.get(ActionRow, action_id)
        assert action is not None
        assert (action.answer_id, action.text, action.actor) == ("warranty-length", text, "lena")
    with pytest.raises(casework.CaseworkError, match=r"^unknown answer 'no-such-entry' \(entries"):
        casework_replies.reply(rt, ref, "", user="lena", answer_id="no-such-entry")
    with pytest.raises(casework.CaseworkError, match=r"^unknown answer '<b>' \(entries"):
        casework_replies.reply(rt, ref, "my own words", user="lena", answer_id="<b>")


def test_an_unknown_answer_lists_the_entries_in_use_today(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The error listed the first ten entries of the files, a seasonal one out of its
    # dates among them: picking it from the list was refused as not in use.
    rt = _runtime(make_runtime, tmp_path, [mention(1, "@acme my kettle is broken")])
    run_cycle(rt)  # 2026-11-20: holiday-hours is valid from 2026-12-01
    with pytest.raises(casework.CaseworkError) as caught:
        casework_replies.reply(rt, "C-1001", "", user="lena", answer_id="holiday-hour")
    assert str(caught.value) == (
        "unknown answer 'holiday-hour'"
        " (entries in use: shipping-countries, store-hours, warranty-length)"
    )


def test_dashboard_shows_the_entry_and_prefills_a_reply_from_the_picker(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    shutil.copytree(REPO / "config" / "answers", tmp_path / "answers")
    rows = [
        mention(1, "@acme do you ship to Ireland? <b>x</b>", author_name="Claire"),
        mention(2, "@acme my blender is broken", author="dan", author_id="9"),
    ]
    rt = seeded(make_runtime, rows)
    client, csrf = client_for(rt, "lena")
    page = client.get("/cases/C-1001").text
    assert "answer <code>shipping-countries</code>" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<b>x</b>" not in page
    assert '<select name="answer">' in page
    picked = client.get("/cases/C-1002", params={"answer": "warranty-length"}).text
    assert "Hi dan! Every Acme appliance has a 2-year warranty" in picked
    assert '<input type="hidden" name="answer" value="warranty-length">' in picked
    posted = client.post(
        "/cases/C-1002/reply",
        data={"csrf_token": csrf, "text": "Hi dan! Two years, no registration.",
              "answer": "warranty-length"},
        follow_redirects=False,
    )  # fmt: skip
    assert posted.status_code == 303
    with rt.sessions() as session:
        action = session.scalars(select(ActionRow).where(ActionRow.actor == "lena")).one()
    assert action.answer_id == "warranty-length"
    bad = client.get("/cases/C-1002", params={"answer": "<script>"})
    assert bad.status_code == 400
    assert "<script>" not in bad.text


def test_the_dashboard_alone_picks_up_a_changed_knowledge_base(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # `inchannel serve` runs no daemon jobs: the picker and the replies started from an
    # entry must still follow the files, not the entries the dashboard started with.
    answers = tmp_path / "answers"
    shutil.copytree(REPO / "config" / "answers", answers)
    rt = seeded(make_runtime, [mention(1, "@acme my blender is broken", author="dan")])
    client, csrf = client_for(rt, "lena")
    picked = {"answer": "warranty-length"}
    assert "Hi dan! Every Acme appliance has a 2-year warranty" in (
        client.get("/cases/C-1001", params=picked).text
    )
    returns = answers / "30-returns.yaml"
    text = returns.read_text(encoding="utf-8")
    returns.write_text(text.replace("has a 2-year warranty", "has a 3-year warranty"), "utf-8")
    (answers / "70-gifts.yaml").write_text(
        'id: gift-wrap\nquestions: ["Do you gift wrap?", "Can you wrap a present?"]\n'
        'answer: "Hi {first_name}! Gift wrap is £3 at checkout."\n',
        encoding="utf-8",
    )
    rt.clock.advance(seconds=RELOAD_SECONDS)  # type: ignore[attr-defined]
    page = client.get("/cases/C-1001", params=picked).text
    assert "Hi dan! Every Acme appliance has a 3-year warranty" in page
    assert "<option>gift-wrap</option>" in page
    reply = {"csrf_token": csrf, "text": "Hi dan! Gift wrap is £3.", "answer": "gift-wrap"}
    posted = client.post("/cases/C-1001/reply", data=reply, follow_redirects=False)
    assert posted.status_code == 303
    with rt.sessions() as session:
        action = session.scalars(select(ActionRow).where(ActionRow.actor == "lena")).one()
    assert action.answer_id == "gift-wrap"


def test_cli_answers_stats_and_reply_with_an_answer(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    path = config / "inchannel.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("sqlite:///var/", f"sqlite:///{tmp_path}/"), encoding="utf-8")
    runner = CliRunner()
    for args in (["db", "upgrade"], ["run", "--once"]):
        assert runner.invoke(main, [*args, "--config", str(path)]).exit_code == 0
    stats = runner.invoke(main, ["answers", "stats", "--json", "--config", str(path)])
    assert stats.exit_code == 0
    entries = {line.split('"entry": "')[1].split('"')[0] for line in stats.output.splitlines()}
    assert {"shipping-countries", "warranty-length"} <= entries
    # The hours question: the Christmas hours stand in for the usual ones in December.
    assert entries & {"store-hours", "store-hours-holidays"}
    reply = runner.invoke(
        main,
        ["cases", "reply", "C-1001", "--answer", "order-tracking", "--as", "lena",
         "--config", str(path)],
    )  # fmt: skip
    assert reply.exit_code == 0, reply.output
    table = runner.invoke(main, ["answers", "stats", "--config", str(path)])
    assert "order-tracking" in table.output
    shown = runner.invoke(main, ["cases", "show", "C-1001", "--config", str(path)])
    assert "answer order-tracking" in shown.output
    # A date outside the holiday season: in December store-hours-holidays answers.
    tried = runner.invoke(
        main,
        ["answers", "test", "@acme are you open on sunday?", "--at", "2026-06-15",
         "--config", str(path)],
    )  # fmt: skip
    assert "answer: store-hours\n" in tried.output


def test_hot_reload_picks_up_a_changed_knowledge_base(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    from monitor.rules.reload import RuleReloader

    rt = _runtime(make_runtime, tmp_path, [])
    reloader = RuleReloader(rt)
    reloader.check()
    first = rt.rules
    assert first.answers is not None
    assert len(first.answers.kb.entries) == 4
    (tmp_path / "answers" / "more.yaml").write_text(
        'id: gift-cards\nquestions: ["Do you sell gift cards?", "Gift vouchers?"]\n'
        'answer: "Hi {first_name}! Yes, from £10."\n',
        encoding="utf-8",
    )
    reloader.check()
    assert rt.rules is not first
    assert rt.rules.answers is not None
    assert len(rt.rules.answers.kb.entries) == 5
    good = rt.rules
    (tmp_path / "answers" / "bad.yaml").write_text("id: x\n", encoding="utf-8")
    reloader.check()
    assert rt.rules is good  # a broken edit keeps the last good rules and answers
    for path in (tmp_path / "answers").iterdir():  # files moved away, folder left
        path.unlink()
    reloader.check()
    assert rt.rules is good  # not zero entries and an answer rule that never answers


def test_stats_over_more_threads_than_a_query_may_bind(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """The threads of every sent answer went into one IN (...) list: past the 65,535
    values PostgreSQL binds in one statement, ``answers stats`` failed."""
    rt = _runtime(make_runtime, tmp_path, [])
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    threads = 70_000
    with rt.sessions.begin() as session:
        customer = Customer(platform="x", platform_user_id="7", handle="ann",
                            first_seen_at=at, last_seen_at=at)  # fmt: skip
        session.add(customer)
        session.flush()
        case = Case(platform="x", conversation_id="t0", customer_id=customer.id,
                    state="resolved", opened_at=at, updated_at=at)  # fmt: skip
        session.add(case)
        session.flush()
        session.execute(
            insert(ActionRow),
            [
                {"case_id": case.id, "kind": "reply", "platform": "x",
                 "target_external_id": f"m{n}", "conversation_id": f"t{n}", "text": "Hi!",
                 "status": "sent", "next_attempt_at": at, "idempotency_key": f"k{n}",
                 "answer_id": "shipping-countries", "created_at": at, "updated_at": at}
                for n in range(threads)
            ],
        )  # fmt: skip
        session.add(
            Message(platform="x", external_id="later", direction="inbound", kind="reply",
                    customer_id=customer.id, author_handle="ann", text="still UK only?",
                    conversation_id="t5", created_at=at + timedelta(hours=2), ingested_at=at)
        )  # fmt: skip
    with rt.sessions() as session:
        stats = entry_stats(session)
    assert [(s.entry, s.sent, s.came_back) for s in stats] == [("shipping-countries", threads, 1)]


TIMETABLE = """
id: store-timetable
questions:
  - What are the opening hours of every store?
  - When is each shop open?
answer:
  x: "Hi {first_name}! Every store is open 9am-8pm Mon-Sat."
  reddit: |
    Hi {first_name}! Opening hours, store by store:

    | store | hours |
    |---|---|
%s
"""


def test_a_person_starts_from_a_long_reddit_answer_check_config_accepted(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """The brand's markdown goes to Reddit as written, so check-config and the bot
    measure it as written; a person's reply started from the entry was measured as
    escaped text (every "|" doubled) and refused as over 10,000 characters."""
    rows = "\n".join(f"    | Store {n} | 9am-8pm |" for n in range(400))
    write(tmp_path / "rules", ANSWER_RULE)
    knowledge_base_dir(tmp_path / "answers", TIMETABLE % rows)
    customer = mention(1, "@acme my kettle is broken", platform="reddit", author="dan")
    rt = make_runtime([customer], rules={"path": str(tmp_path / "rules")})
    run_cycle(rt)
    text = casework_replies.answer_prefill(rt, "C-1001", "store-timetable")
    assert len(text) <= 10_000 < reply_length("reddit", text)  # escaped, it is longer
    action_id = casework_replies.reply(rt, "C-1001", "", user="lena", answer_id="store-timetable")
    with rt.sessions() as session:
        action = session.get(ActionRow, action_id)
        assert action is not None
        assert action.text == text.strip()


def test_the_reply_box_measures_a_reply_started_from_an_entry_as_posted(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """A reply started from an entry goes to Reddit as written, and submit measures it so;
    the check as the person typed measured it escaped (every "|" doubled) and warned
    about a text the submit then accepted."""
    rows = "\n".join(f"    | Store {n} | 9am-8pm |" for n in range(400))
    knowledge_base_dir(tmp_path / "answers", TIMETABLE % rows)
    customer = mention(1, "@acme my kettle is broken", platform="reddit", author="dan")
    rt = seeded(make_runtime, [customer])
    client, csrf = client_for(rt, "root")
    page = client.get("/cases/C-1001", params={"answer": "store-timetable"}).text
    assert 'data-check="/cases/C-1001/check?answer=store-timetable"' in page
    text = casework_replies.answer_prefill(rt, "C-1001", "store-timetable")
    header = {"X-CSRF-Token": csrf}
    picked = client.post("/cases/C-1001/check?answer=store-timetable", content=text, headers=header)
    assert picked.json() == {"problems": [], "length": len(text.strip()), "limit": 10_000}
    # The same words as a person's own: escaped, as the reply without an entry posts them.
    own = client.post("/cases/C-1001/check", content=text, headers=header).json()
    assert own["length"] == reply_length("reddit", text) > 10_000
    assert own["problems"] == [f"{own['length']} characters: reddit allows 10000"]
    # An entry the knowledge base does not have is no markdown: the submit refuses it.
    unknown = client.post("/cases/C-1001/check?answer=nope", content=text, headers=header)
    assert unknown.json()["length"] == own["length"]
    posted = client.post(
        "/cases/C-1001/reply",
        data={"csrf_token": csrf, "text": text, "answer": "store-timetable"},
        follow_redirects=False,
    )
    assert posted.status_code == 303


def test_the_picker_offers_only_the_entries_in_use_today(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """The picker listed every enabled entry: the Christmas hours in November, and the
    usual hours in December while the Christmas hours replace them, so a person could
    post an answer the bot itself would not use that day."""
    knowledge_base_dir(tmp_path / "answers")
    rt = seeded(make_runtime, [mention(1, "@acme are you open on Sunday?", author="dan")])
    client, _ = client_for(rt, "lena")
    november = client.get("/cases/C-1001").text  # the clock stands at 2026-11-20
    assert "<option>store-hours</option>" in november
    assert "<option>holiday-hours</option>" not in november
    early = client.get("/cases/C-1001", params={"answer": "holiday-hours"})
    assert early.status_code == 400
    assert "answer &#39;holiday-hours&#39; is not in use on 2026-11-20" in early.text
    with pytest.raises(casework.CaseworkError, match="is valid from 2026-12-01 to 2027-01-02"):
        casework_replies.reply(rt, "C-1001", "", user="lena", answer_id="holiday-hours")
    rt.clock.set(datetime(2026, 12, 10, 9, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    client, _ = client_for(rt, "lena")  # the November session has expired
    december = client.get("/cases/C-1001").text
    assert "<option>holiday-hours</option>" in december
    assert "<option>store-hours</option>" not in december
    with pytest.raises(casework.CaseworkError, match="replaced by 'holiday-hours'"):
        casework_replies.answer_prefill(rt, "C-1001", "store-hours")
    assert "Christmas hours" in casework_replies.answer_prefill(rt, "C-1001", "holiday-hours")


def test_cli_answers_stats_refuses_days_before_the_calendar(tmp_path: Path) -> None:
    """``--days 1000000`` reaches before year 1: an OverflowError traceback."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    path = config / "inchannel.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("sqlite:///var/", f"sqlite:///{tmp_path}/"), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(path)]).exit_code == 0
    for days in ("1000000", "99999999999999999999"):
        result = runner.invoke(main, ["answers", "stats", "--days", days, "--config", str(path)])
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--days'" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    ok = runner.invoke(main, ["answers", "stats", "--days", "36500", "--config", str(path)])
    assert ok.exit_code == 0, ok.output
