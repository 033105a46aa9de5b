"""The step functions end to end, on SQLite and PostgreSQL, with a FakeClock."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError

from monitor.clock import FakeClock
from monitor.daemon import guarded
from monitor.domain import ActionStatus, CaseState
from monitor.ingest import release_leases
from monitor.pipeline import dispatch_outbox, poll_source, process_pending, run_cycle
from monitor.runtime import Runtime
from monitor.settings import ReplaySourceConfig
from monitor.store.models import ActionRow, Case, Customer, Event, Message, SourceState
from responders.recording import RecordingResponder
from tests.conftest import REPO, RuntimeFactory, mention


def count(rt: Runtime, model: type, *where: ColumnElement[bool]) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def recorded(rt: Runtime) -> list[str]:
    responder = rt.responders[next(iter(rt.responders))]
    assert isinstance(responder, RecordingResponder)
    return [p.text for p in responder.posts]


def test_sample_feed_runs_end_to_end_and_twice_is_a_no_op(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime()
    sample = tmp_path / "mentions.jsonl"
    shutil.copy(REPO / "config" / "samples" / "mentions.jsonl", sample)
    rt = make_runtime(
        sources=[{"name": "demo", "type": "replay", "path": str(sample), "page_size": 6}]
    )
    run_cycle(rt)
    messages = count(rt, Message)
    assert count(rt, Message, Message.direction == "inbound") == 42
    assert count(rt, Message, Message.processed.is_(False)) == 0
    assert count(rt, Case) >= 25
    assert count(rt, ActionRow, ActionRow.status == ActionStatus.SENT) == len(recorded(rt)) > 0
    run_cycle(rt)
    assert count(rt, Message) == messages
    assert count(rt, ActionRow, ActionRow.status == ActionStatus.SENT) == len(recorded(rt))


def test_poll_stores_page_and_cursor_together_and_duplicates_once(
    make_runtime: RuntimeFactory,
) -> None:
    rows = [mention(i) for i in range(7)] + [mention(3), mention(4)]
    rt = make_runtime(rows)
    assert poll_source(rt, "feed") is True
    assert count(rt, Message) == 5
    assert poll_source(rt, "feed") is False
    assert count(rt, Message) == 7
    with rt.sessions() as session:
        state = session.get(SourceState, "feed")
        assert state is not None
        assert state.cursor == "9"
        assert state.items_total == 7
    # A second source replaying the same items (a platform re-serving a page) adds nothing.
    release_leases(rt)
    again = make_runtime(rows)
    while poll_source(again, "feed"):
        pass
    assert count(again, Message) == 7


def test_follow_up_joins_case_and_reopens_resolved_case(make_runtime: RuntimeFactory) -> None:
    first = mention(1, "@acme my order is late")
    follow = mention(
        2, "@acme still waiting", author="user1", author_id="501", conversation_id="1001"
    )
    rt = make_runtime([first])
    run_cycle(rt)
    with rt.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        case.state = CaseState.RESOLVED.value
    release_leases(rt)  # the daemon restarts with a longer feed
    rt2 = make_runtime([first, follow])
    run_cycle(rt2)
    with rt2.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.state != CaseState.RESOLVED.value
        assert count(rt2, Message, Message.case_id == case.id, Message.direction == "inbound") == 2
        kinds = session.scalars(select(Event.detail).where(Event.kind == "state")).all()
        assert any(d.get("reason") == "customer wrote again" for d in kinds)


def test_new_thread_same_customer_opens_new_case(make_runtime: RuntimeFactory) -> None:
    rows = [mention(1), mention(2, author="user1", author_id="501")]
    rt = make_runtime(rows)
    run_cycle(rt)
    assert count(rt, Case) == 2
    assert count(rt, Customer) == 1


def test_brand_own_posts_are_stored_but_never_acted_on(make_runtime: RuntimeFactory) -> None:
    rows = [
        mention(1, "@acme the app is down, cannot log in"),
        mention(
            2, "@user1 sorry, we're on it", author="AcmeHelp", author_id="9", conversation_id="1001"
        ),
        mention(3, "Our sale starts today!", author="acme", author_id="1"),
    ]
    rt = make_runtime(rows)
    run_cycle(rt)
    assert count(rt, Message, Message.kind == "own") == 2
    assert count(rt, Case) == 1
    assert count(rt, ActionRow) == 1
    assert all("sale" not in text for text in recorded(rt))
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        ids = ["1001", "1002", "1003"]
        mine = select(Message.external_id, Message.case_id).where(Message.external_id.in_(ids))
        links = dict(session.execute(mine).all())
    # The reply joins the case the customer opened earlier in the same batch.
    assert links == {"1001": case.id, "1002": case.id, "1003": None}


def test_reply_is_recorded_and_stored_as_outbound(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme the website is down again")])
    run_cycle(rt)
    texts = recorded(rt)
    assert len(texts) == 1
    with rt.sessions() as session:
        out = session.scalars(select(Message).where(Message.direction == "outbound")).one()
        assert out.text == texts[0]
        assert out.in_reply_to == "1001"
        case = session.scalars(select(Case)).one()
        assert case.first_response_at is not None
        assert case.state == CaseState.AWAITING_HUMAN.value  # outage: ack in thread + escalate


def test_hostile_and_extreme_texts_are_stored_and_processed(make_runtime: RuntimeFactory) -> None:
    texts = [
        "x" * 100_000,
        "",
        "😡" * 5_000,
        "bad \ud800 surrogate",
        "\u202eevil rtl {case} {author.__class__}",
        "\x00 nul and \x1b[31m escape",
    ]
    rows = [mention(i, t) for i, t in enumerate(texts)]
    rt = make_runtime(rows)
    run_cycle(rt)
    assert count(rt, Message, Message.direction == "inbound") == len(texts)
    assert count(rt, Message, Message.processed.is_(False)) == 0
    with rt.sessions() as session:
        longest = max(len(t) for t in session.scalars(select(Message.text)))
        assert longest == 40_000


def test_template_is_never_filled_from_mention_text(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme refund now {case} {first_name}", author_name="{brand}")])
    run_cycle(rt)
    (text,) = recorded(rt)
    assert "{brand}" in text or "{" not in text
    assert "refund now" not in text


def test_process_and_dispatch_report_more_work(make_runtime: RuntimeFactory) -> None:
    rows = [mention(i, "@acme the site is down") for i in range(12)]
    rt = make_runtime(rows, processing={"batch_size": 5}, dispatch={"batch_size": 5})
    while poll_source(rt, "feed"):
        pass
    assert process_pending(rt) is True
    assert process_pending(rt) is True
    assert process_pending(rt) is False
    assert dispatch_outbox(rt) is True
    assert dispatch_outbox(rt) is True
    assert dispatch_outbox(rt) is False
    assert count(rt, ActionRow, ActionRow.status == ActionStatus.SENT) == 12


def test_locked_database_fails_the_step_and_the_next_run_catches_up(
    make_runtime: RuntimeFactory, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [mention(i) for i in range(3)]
    if db_url.startswith("sqlite"):
        database = {"url": db_url, "busy_timeout_ms": 50}
    else:
        database = {"url": db_url + "?options=-c%20lock_timeout%3D200"}
    rt = make_runtime(rows, database=database)
    job = guarded("poll:feed", rt, functools.partial(poll_source, rt, "feed"))
    with locked(db_url):
        job()  # must not raise: the daemon keeps running
    assert "job=poll:feed failed" in caplog.text
    assert count(rt, Message) == 0
    job()
    run_cycle(rt)
    assert count(rt, Message, Message.direction == "inbound") == 3
    assert count(rt, Case) == 3


def test_a_page_the_database_refuses_backs_the_source_off_and_is_read_again(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A value a column refuses escaped poll_source unrecorded: no back-off, no error in
    # status, and the page was fetched again (on X, billed) at every interval.
    rt = make_runtime([mention(i) for i in range(3)])
    refusals = 0

    def refuse_once(conn: object, cursor: object, statement: str, *args: object) -> None:
        nonlocal refusals
        if statement.startswith("INSERT INTO messages") and not refusals:
            refusals += 1
            refused = sqlite3.IntegrityError("CHECK constraint failed: kind\nDETAIL: row")
            raise IntegrityError(statement, {}, refused)

    event.listen(rt.engine, "before_cursor_execute", refuse_once)
    try:
        assert poll_source(rt, "feed") is False  # must not raise
    finally:
        event.remove(rt.engine, "before_cursor_execute", refuse_once)
    now = rt.clock.now()
    with rt.sessions() as session:
        state = session.get(SourceState, "feed")
        assert state is not None
        assert (state.cursor, state.consecutive_failures, state.last_poll_at) == (None, 1, now)
        assert state.last_error == (
            "the database refused the page: IntegrityError: CHECK constraint failed: kind"
        )
        assert state.next_poll_at == now + timedelta(seconds=30)
    assert "the database refused the page" in caplog.text
    assert count(rt, Message) == 0
    assert poll_source(rt, "feed") is False  # backing off: nothing fetched
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(seconds=30)
    assert poll_source(rt, "feed") is False
    assert count(rt, Message, Message.direction == "inbound") == 3
    with rt.sessions() as session:
        state = session.get(SourceState, "feed")
        assert state is not None
        assert (state.consecutive_failures, state.last_error) == (0, None)


@contextlib.contextmanager
def locked(db_url: str) -> Iterator[None]:
    """Hold an exclusive lock from another connection, as a competing writer would."""
    if db_url.startswith("sqlite"):
        blocker = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    engine = create_engine(db_url)
    with engine.connect() as conn:
        conn.execute(text("LOCK TABLE source_state IN ACCESS EXCLUSIVE MODE"))
        yield
        conn.rollback()
    engine.dispose()


def test_old_mentions_are_stored_and_decided_but_never_answered(
    make_runtime: RuntimeFactory,
) -> None:
    old = mention(1, "@acme the site is down", created_at="2026-11-18T08:00:00Z")
    fresh = mention(2, "@acme the site is down")
    rt = make_runtime([old, fresh])
    run_cycle(rt)
    with rt.sessions() as session:
        decisions = {m.external_id: m.decision or {} for m in session.scalars(select(Message))}
    assert decisions["1001"]["notes"] == [
        "guard: the mention is 49 h old; the bot answers fresh mentions only"
    ]
    assert "reply" not in decisions["1001"]
    assert decisions["1001"]["escalation"]["team"] == "tech"  # a person still sees it
    assert "reply" in decisions["1002"]
    assert len(recorded(rt)) == 1


def test_age_limit_can_be_switched_off(make_runtime: RuntimeFactory) -> None:
    old = mention(1, "@acme the site is down", created_at="2026-11-18T08:00:00Z")
    rt = make_runtime([old], rules={"path": str(REPO / "config" / "rules"), "max_age_hours": 0})
    run_cycle(rt)
    assert len(recorded(rt)) == 1


def test_a_page_served_newest_first_is_decided_in_the_order_written(
    make_runtime: RuntimeFactory,
) -> None:
    # X answers newest first. Stored in that order, the customer's "it arrived, thanks"
    # was decided before their complaint: the case opened on the thanks (first label
    # positive) and the complaint, decided second, was taken as a follow-up.
    thread = {"author": "user1", "author_id": "501", "conversation_id": "1001"}
    rows = [
        mention(3, "@acme it arrived, thanks a lot!", created_at="2026-11-20T10:20:00Z", **thread),
        mention(2, "@acme still waiting", created_at="2026-11-20T10:10:00Z", **thread),
        mention(1, "@acme my order is late", created_at="2026-11-20T10:00:00Z", **thread),
    ]
    rt = make_runtime(rows)
    assert poll_source(rt, "feed") is False
    while process_pending(rt):
        pass
    with rt.sessions() as session:
        stored = session.scalars(select(Message.external_id).order_by(Message.id)).all()
        case = session.scalars(select(Case)).one()
        opened = session.scalars(select(Event.detail).where(Event.kind == "opened")).one()
    assert stored == ["1001", "1002", "1003"]
    assert opened["message"] == "1001"
    assert case.first_label == "negative"


@pytest.mark.parametrize("batch_size", [1, 200])
def test_the_brand_answering_one_of_two_customers_joins_that_customers_case(
    make_runtime: RuntimeFactory, batch_size: int
) -> None:
    # Two customers in one thread; the brand answers the first after the second wrote.
    # The answer joined the case of whoever wrote last, in the batch or in the database:
    # the second customer's case showed a reply to someone else and the first's lacked it.
    thread = {"conversation_id": "1001", "in_reply_to": "1001"}
    brand = {"author": "AcmeHelp", "author_id": "9"}
    rows = [
        mention(1, "@acme the app is down, cannot log in"),
        mention(2, "@acme same here", **thread),
        mention(3, "@user1 sorry, we're on it", **brand, **thread),
    ]
    rt = make_runtime(rows, processing={"batch_size": batch_size})
    run_cycle(rt)
    with rt.sessions() as session:
        owners = dict(session.execute(select(Case.id, Customer.handle).join(Customer)).all())
        linked = session.scalars(select(Message.case_id).where(Message.external_id == "1003"))
        case_id = linked.one()
        assert case_id is not None
        assert owners[case_id] == "user1"


def test_an_older_message_stored_late_leaves_the_case_sentiment_of_the_newest(
    make_runtime: RuntimeFactory,
) -> None:
    # Reddit search lags, and X search and the mentions timeline overlap: a customer's
    # older message can be stored after their newer one. The case's sentiment (the
    # queue's column and filter) took the older one's and showed a thanked-for case
    # as angry.
    newer = mention(1, "@acme thanks, all sorted, love it", created_at="2026-11-20T08:50:00Z")
    older = mention(
        2,
        "@acme this is terrible, awful service",
        author="user1",
        author_id="501",
        conversation_id="1001",
        created_at="2026-11-20T08:40:00Z",
    )
    rt = make_runtime([newer])
    run_cycle(rt)
    feed = Path(rt.settings.source("feed").path)  # type: ignore[union-attr]
    with feed.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(older) + "\n")
    rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
    run_cycle(rt)
    with rt.sessions() as session:
        labels = dict(session.execute(select(Message.external_id, Message.label)).all())
        case = session.scalars(select(Case)).one()
    assert labels["1001"] == "positive"
    assert labels["1002"] == "negative"
    assert case.latest_label == "positive"


@pytest.mark.parametrize("batch_size", [1, 10])
def test_the_brand_continuing_its_own_post_joins_no_customers_case(
    make_runtime: RuntimeFactory, batch_size: int
) -> None:
    # The brand posts, a customer replies to the post, the brand adds to its own post.
    # The addition answers the brand's post, not the customer: it joined the case of
    # whoever last wrote in the thread, and showed in their case as an answer to them.
    thread = {"conversation_id": "1001", "in_reply_to": "1001"}
    brand = {"author": "acme", "author_id": "1"}
    rows = [
        mention(1, "Our sale starts today!", **brand),
        mention(2, "@acme is the kettle in the sale?", **thread),
        mention(3, "Also: free delivery all week.", **brand, **thread),
    ]
    rt = make_runtime(rows, processing={"batch_size": batch_size})
    run_cycle(rt)
    with rt.sessions() as session:
        links = dict(session.execute(select(Message.external_id, Message.case_id)).all())
    assert links["1002"] is not None
    assert links["1001"] is None
    assert links["1003"] is None


def test_the_brands_post_in_the_case_does_not_count_as_the_customers_newest(
    make_runtime: RuntimeFactory,
) -> None:
    angry = mention(1, "@acme this is terrible, awful service", created_at="2026-11-20T08:40:00Z")
    brand = mention(
        2,
        "@user1 sorry, we're on it",
        author="acme",
        author_id="1",
        conversation_id="1001",
        in_reply_to="1001",
        created_at="2026-11-20T08:55:00Z",
    )
    thanks = mention(
        3,
        "@acme thanks, all sorted, love it",
        author="user1",
        author_id="501",
        conversation_id="1001",
        created_at="2026-11-20T08:50:00Z",
    )
    rt = make_runtime([angry, brand])
    run_cycle(rt)
    feed = Path(rt.settings.source("feed").path)  # type: ignore[union-attr]
    with feed.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(thanks) + "\n")
    run_cycle(rt)
    with rt.sessions() as session:
        assert session.scalars(select(Case.latest_label)).one() == "positive"


def append(rt: Runtime, *rows: dict[str, object]) -> None:
    source = rt.settings.source("feed")
    assert isinstance(source, ReplaySourceConfig)
    feed = Path(source.path)
    with feed.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)


def linked_to(rt: Runtime, external_id: str) -> str | None:
    """The handle of the customer whose case the post ``external_id`` joined."""
    with rt.sessions() as session:
        query = (
            select(Customer.handle)
            .join(Case, Case.customer_id == Customer.id)
            .join(Message, Message.case_id == Case.id)
            .where(Message.external_id == external_id)
        )
        return session.scalars(query).one_or_none()


@pytest.mark.parametrize("batch_size", [1, 200])
def test_the_brand_answering_a_customer_stored_after_its_answer_joins_their_case(
    make_runtime: RuntimeFactory, batch_size: int
) -> None:
    # Two customers in one thread. The brand's agent answers the second natively on X;
    # the mentions timeline brings the answer before a lagging search brings the
    # second customer's post. Undecided when the answer was, that post had no case yet
    # and the answer joined the thread's latest case: the first customer's.
    thread = {"conversation_id": "1001", "in_reply_to": "1001"}
    rt = make_runtime(
        [mention(1, "@acme the app is down, cannot log in")],
        processing={"batch_size": batch_size},
    )
    run_cycle(rt)
    brand = {"author": "AcmeHelp", "author_id": "9", "conversation_id": "1001"}
    append(rt, mention(3, "@user2 sorry, a fix is on the way", in_reply_to="1002", **brand))
    while poll_source(rt, "feed"):
        pass
    append(rt, mention(2, "@acme my card was charged twice", **thread))
    run_cycle(rt)
    assert linked_to(rt, "1003") == "user2"
    assert count(rt, Message, Message.processed.is_(False)) == 0


@pytest.mark.parametrize("batch_size", [1, 200])
def test_the_brand_answering_a_post_never_stored_joins_no_customers_case(
    make_runtime: RuntimeFactory, batch_size: int
) -> None:
    # Two customers in one thread; the brand answers a third party's post, which no
    # source stored. The answer joined the case of whoever last wrote in the thread
    # (in the batch, or the case updated last): another customer's case showed it as
    # the brand's answer to them.
    thread = {"conversation_id": "1001", "in_reply_to": "1001"}
    brand = {"author": "AcmeHelp", "author_id": "9", "conversation_id": "1001"}
    rows = [
        mention(1, "@acme the app is down, cannot log in"),
        mention(2, "@acme same here", **thread),
        mention(3, "@someone_else thanks for the tip!", in_reply_to="1999", **brand),
    ]
    rt = make_runtime(rows, processing={"batch_size": batch_size})
    run_cycle(rt)
    assert linked_to(rt, "1003") is None
    assert count(rt, Message, Message.processed.is_(False)) == 0


@pytest.mark.parametrize("batch_size", [1, 200])
def test_the_brands_two_posts_answering_a_later_customer_post_join_its_case(
    make_runtime: RuntimeFactory, batch_size: int
) -> None:
    # The brand answers in two posts (the second continues the first) before the
    # customer's post arrives. The second waited on the first, claimed and undecided in
    # every batch of one: the customer's post was never claimed.
    rt = make_runtime(
        [mention(1, "@acme the app is down, cannot log in")],
        processing={"batch_size": batch_size},
    )
    run_cycle(rt)
    brand = {"author": "AcmeHelp", "author_id": "9", "conversation_id": "1001"}
    append(
        rt,
        mention(3, "@user2 sorry, a fix is on the way", in_reply_to="1002", **brand),
        mention(4, "@user2 it should be live within the hour", in_reply_to="1003", **brand),
    )
    while poll_source(rt, "feed"):
        pass
    thread = {"conversation_id": "1001", "in_reply_to": "1001"}
    append(rt, mention(2, "@acme my card was charged twice", **thread))
    run_cycle(rt)
    assert count(rt, Message, Message.processed.is_(False)) == 0
    assert (linked_to(rt, "1003"), linked_to(rt, "1004")) == ("user2", "user2")


def test_a_customers_new_display_name_replaces_the_stored_one(
    make_runtime: RuntimeFactory,
) -> None:
    # The name was stored with the customer's first post and never again: someone who
    # changed "carla_r" to "Carla Ruiz" was still greeted by the old name. A post that
    # brings no name (X left the user out) keeps the stored one.
    author = {"author": "carla", "author_id": "77"}
    rt = make_runtime([mention(1, author_name="carla_r", **author)])
    run_cycle(rt)
    append(rt, mention(2, author_name="Carla Ruiz", **author))
    run_cycle(rt)
    with rt.sessions() as session:
        assert session.scalars(select(Customer.display_name)).one() == "Carla Ruiz"
    append(rt, mention(3, **author))
    run_cycle(rt)
    with rt.sessions() as session:
        assert session.scalars(select(Customer.display_name)).one() == "Carla Ruiz"


def test_a_post_without_a_follower_count_keeps_the_stored_one(
    make_runtime: RuntimeFactory,
) -> None:
    # Rules read the stored count (followers >= ...): a later post that brings none (X
    # left the user out of includes.users) must not wipe it, and a new count replaces it.
    author = {"author": "carla", "author_id": "77"}
    rt = make_runtime([mention(1, author_followers=12000, **author)])
    run_cycle(rt)
    append(rt, mention(2, **author))
    run_cycle(rt)
    with rt.sessions() as session:
        assert session.scalars(select(Customer.followers)).one() == 12000
    append(rt, mention(3, author_followers=12500, **author))
    run_cycle(rt)
    with rt.sessions() as session:
        assert session.scalars(select(Customer.followers)).one() == 12500


def test_a_search_hit_read_again_from_the_mentions_takes_their_kind_and_reply(
    make_runtime: RuntimeFactory,
) -> None:
    # An X search hit whose text names no brand handle is stored as refusing a reply;
    # the mentions timeline, read before it is decided, says X lets the brand answer it.
    # Its kind became "mention" and the reply stayed refused, with the wrong reason.
    hit = mention(1, "my order is late", kind="keyword", reply_allowed=False)
    rt = make_runtime([hit])
    poll_source(rt, "feed")
    append(rt, {**hit, "kind": "mention", "reply_allowed": True})
    poll_source(rt, "feed")
    with rt.sessions() as session:
        stored = session.execute(select(Message.kind, Message.reply_allowed)).one()
    assert tuple(stored) == ("mention", True)


def test_a_search_hit_and_its_mention_in_one_page_take_the_mentions_kind(
    make_runtime: RuntimeFactory,
) -> None:
    # The same post twice in one page, first as a search hit, then from the mentions
    # timeline: the INSERT keeps the first copy, and the second is a copy arriving again
    # all the same, whose kind and reply the stored hit takes.
    hit = mention(1, "my order is late", kind="keyword", reply_allowed=False)
    rt = make_runtime([hit, {**hit, "kind": "mention", "reply_allowed": True}])
    poll_source(rt, "feed")
    with rt.sessions() as session:
        stored = session.execute(select(Message.kind, Message.reply_allowed)).one()
    assert tuple(stored) == ("mention", True)


def test_a_locked_reddit_hit_read_again_from_the_inbox_stays_unanswerable(
    make_runtime: RuntimeFactory,
) -> None:
    # Reddit's inbox items do not say their thread is locked: the watch that read the
    # thread's lock stands, only the kind is the inbox's.
    hit = mention(1, "my order is late", platform="reddit", id="t1_abc", kind="keyword")
    rt = make_runtime([{**hit, "reply_allowed": False}])
    poll_source(rt, "feed")
    append(rt, {**hit, "kind": "reply", "reply_allowed": True})
    poll_source(rt, "feed")
    with rt.sessions() as session:
        stored = session.execute(select(Message.kind, Message.reply_allowed)).one()
    assert tuple(stored) == ("reply", False)
