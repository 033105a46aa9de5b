"""Processing writes a batch with a few statements, and only the columns it changed."""

from __future__ import annotations

import collections
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from monitor import cases
from monitor.domain import CaseState
from monitor.pipeline import dispatch_outbox, drain, poll_source, process_pending
from monitor.store.bulk import detach, write_changes
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer, Event, Message
from monitor.store.pending import add_event, add_row
from monitor.store.queries import insert_returning_keys, insert_returning_objects
from monitor.threads import ThreadIndex
from tests.conftest import REPO, RuntimeFactory, mention
from tests.rulekit import write
from tests.test_pipeline import append
from tests.webkit import PASSWORD, create_user

TEXTS = [
    "@acme my order is late and nobody answers, this is a disgrace",
    "@acme thanks, the new kettle is lovely",
    "@acme do you ship to Ireland?",
    "@acme the app crashes every time I log in",
    "@acme refund still not here after three weeks, awful",
    "@acme how do I change the delivery address on an order I placed yesterday?",
]


@contextmanager
def statements(rt: Any, *, reading: str = "") -> Iterator[collections.Counter[str]]:
    """Count the SQL statements sent (those with ``reading`` in them), by their first
    three words."""
    seen: collections.Counter[str] = collections.Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if reading in statement:
            seen[" ".join(statement.split()[:3])] += 1

    event.listen(rt.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)


def test_a_batch_is_written_with_one_statement_per_table_or_column_set(
    make_runtime: RuntimeFactory,
) -> None:
    # 120 mentions in 40 threads of 3 authors each: new, reopened, replied-to and
    # escalated cases change different columns.
    rows = [
        mention(i, TEXTS[i % len(TEXTS)], conversation_id=str(9000 + i % 40), author_id=str(i % 7))
        for i in range(120)
    ]
    rt = make_runtime(rows)
    drain(poll_source, rt, "feed")
    with statements(rt) as seen:
        assert not process_pending(rt)
    with rt.sessions() as session:
        assert not session.scalars(select(Message).where(Message.processed.is_(False))).all()
        states = collections.Counter(session.scalars(select(Case.state)))
        replies = session.scalars(select(ActionRow).where(ActionRow.kind == "reply")).all()
        events = session.scalars(select(Event.kind)).all()
    assert states[CaseState.AWAITING_HUMAN.value] > 0
    assert replies
    assert {"opened", "decided", "state"} <= set(events)
    # One INSERT per table and one UPDATE per table and set of changed columns (a
    # message with a score reason changed one column more): not one statement per row.
    assert seen["INSERT INTO events"] == 1
    assert seen["INSERT INTO actions"] == 1  # the replies (no team has a channel here)
    assert seen["INSERT INTO cases"] == 1
    assert 1 <= seen["UPDATE messages SET"] <= 2
    assert 1 <= seen["UPDATE cases SET"] <= 8


def test_only_the_columns_processing_changed_are_written(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    process_pending(rt)
    with rt.sessions() as session:
        case_id = session.scalars(select(Case.id)).one()
    with rt.sessions() as reader:
        case = reader.get(Case, case_id)
        assert case is not None
        detach(reader, [case])
    # Meanwhile a person assigns the case from the dashboard (another transaction; not
    # inside ours, whose write lock it would wait for on SQLite).
    with transaction(rt.sessions) as other:
        other_case = other.get(Case, case_id)
        assert other_case is not None
        other_case.assignee = "maria"
    with transaction(rt.sessions) as session:
        cases.transition(session, case, CaseState.RESOLVED, "test", rt.clock.now())
        assert write_changes(session, [case]) == 1
        assert write_changes(session, [case]) == 1  # still changed: it stays detached
    with rt.sessions() as session:
        stored = session.get(Case, case_id)
        assert stored is not None
        assert (stored.state, stored.assignee) == (CaseState.RESOLVED.value, "maria")
        assert stored.resolved_at is not None
        kinds = session.scalars(select(Event.kind).where(Event.case_id == case_id)).all()
        assert "state" in kinds


def test_detach_takes_a_batch_out_of_the_session_at_once(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1), mention(2)])
    poll_source(rt, "feed")
    with rt.sessions() as session:
        messages = list(session.scalars(select(Message).order_by(Message.id)))
        other = rt.sessions()
        foreign = other.get(Message, messages[0].id)
        assert foreign is not None
        # One of them twice, and one another session holds: both left as they are.
        detach(session, [*messages, messages[0], foreign])
        assert not any(m in session for m in messages)
        assert foreign in other
        assert not session.identity_map
        other.close()
        # Detached, they keep their values and record their changes for write_changes.
        messages[0].label = "negative"
        with transaction(rt.sessions) as writer:
            assert write_changes(writer, messages) == 1
    with rt.sessions() as session:
        labels = session.scalars(select(Message.label).order_by(Message.id)).all()
    assert labels[0] == "negative"
    assert labels[1] != "negative"


def test_pending_rows_are_visible_to_a_query_in_the_same_transaction(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    process_pending(rt)
    with transaction(rt.sessions) as session:
        case_id = session.scalars(select(Case.id)).one()
        add_event(session, case_id=case_id, kind="note", actor="test", detail={}, at=rt.clock.now())
        assert "note" in session.scalars(select(Event.kind)).all()
        session.rollback()
    with rt.sessions() as session:
        assert "note" not in session.scalars(select(Event.kind)).all()


def test_pending_rows_with_different_keys_are_all_written(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    process_pending(rt)
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case_id = session.scalars(select(Case.id)).one()
        # The first row has no case_id key: one executemany would drop the second's.
        add_row(session, Event, {"kind": "a", "actor": "t", "detail": {}, "at": now})
        row = {"case_id": case_id, "kind": "b", "actor": "t", "detail": {}, "at": now}
        add_row(session, Event, row)
    with rt.sessions() as session:
        query = select(Event.kind, Event.case_id).where(Event.kind.in_(["a", "b"]))
        stored = {row.kind: row.case_id for row in session.execute(query)}
    assert stored == {"a": None, "b": case_id}


ROTATING = """
name: {name}
match: {{text: {word}}}
then:
  reply: ["{word} one", "{word} two"]
"""


def test_the_reply_turns_of_a_batch_are_counted_with_one_statement(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # Four rules with reply variants answer in each batch: their rotation was counted
    # with one query per rule, and each read the outbox from that rule's own last
    # reply, so a rule that rarely replies read every action queued since, each batch.
    words = ["kettle", "toaster", "fridge", "oven"]
    write(tmp_path / "rules", "---\n".join(ROTATING.format(name=w, word=w) for w in words))
    rows = [mention(i, f"@acme the {words[i % 4]}", author_id=str(i)) for i in range(16)]
    rt = make_runtime(rows[:8], rules={"path": str(tmp_path / "rules")})
    counts = []
    for later in (False, True):
        if later:
            append(rt, *rows[8:])
        drain(poll_source, rt, "feed")
        with statements(rt, reading="actions.rule") as seen:
            assert not process_pending(rt)
        counts.append(sum(seen.values()))
    assert counts == [1, 1]
    # The rotation holds: each rule's replies alternate across the two batches.
    with rt.sessions() as session:
        query = select(ActionRow.rule, ActionRow.text).order_by(ActionRow.id)
        texts = [text for rule, text in session.execute(query) if rule == "kettle"]
    assert texts == ["kettle one", "kettle two", "kettle one", "kettle two"]


ASSIGNING = """
name: kettles
match: {text: kettle}
then:
  escalate: {team: care}
  assign: maria
"""


def test_a_rules_assign_adds_no_statement_per_message(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The assignee was looked up with an ORM query per message, which wrote the batch's
    # audit rows added so far first: one events INSERT per message assigned.
    write(tmp_path / "rules", ASSIGNING)
    rows = [mention(i, "@acme my kettle is broken", author_id=str(i)) for i in range(6)]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")})
    create_user(rt, "maria", "agent", PASSWORD, ("care",))
    drain(poll_source, rt, "feed")
    with statements(rt) as seen, statements(rt, reading="FROM web_users") as users:
        assert not process_pending(rt)
    with rt.sessions() as session:
        assignees = session.scalars(select(Case.assignee)).all()
        assigned = session.scalars(select(Event).where(Event.kind == "assigned")).all()
    assert assignees == ["maria"] * 6
    assert len(assigned) == 6
    assert seen["INSERT INTO events"] == 1
    assert sum(users.values()) == 1


def test_a_page_of_new_mentions_is_stored_without_looking_for_earlier_copies(
    make_runtime: RuntimeFactory,
) -> None:
    # Each page looked for context rows to promote and keyword hits to take the page's
    # kind (an UPDATE) among its ids, though a row the INSERT added had no earlier copy.
    rt = make_runtime([mention(i, f"@acme hello {i}") for i in range(5)])
    with statements(rt, reading="messages") as seen:
        poll_source(rt, "feed")
    with rt.sessions() as session:
        assert len(session.scalars(select(Message)).all()) == 5
    assert seen["INSERT INTO messages"] == 1
    assert not seen["UPDATE messages SET"]
    assert sum(seen.values()) == 1


@contextmanager
def in_order(rt: Any) -> Iterator[list[str]]:
    """The SQL statements sent, in order, each as one line."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(rt.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(rt.engine, "before_cursor_execute", note)


def test_the_cases_a_batch_opens_are_not_read_back_after_their_insert(
    make_runtime: RuntimeFactory,
) -> None:
    # The new cases were inserted, then found again by their keys (an IN list on the
    # authors and one on the threads, which matched every other case of those authors
    # in those threads too) and loaded again whole: two SELECTs per batch, and most of a
    # batch's cases read back right after they were written. The INSERT returns them.
    first = [mention(i, author_id=str(i % 3)) for i in range(6)]
    rt = make_runtime(first)
    drain(poll_source, rt, "feed")
    assert not process_pending(rt)
    # The same authors in new threads (and one in an old one): the batch's authors
    # have earlier cases, so the history and escalation counts still come from them.
    later = [mention(10 + i, author_id=str(i % 3)) for i in range(6)]
    append(rt, *later, mention(20, author_id="0", conversation_id="1000"))
    drain(poll_source, rt, "feed")
    with in_order(rt) as sent:
        assert not process_pending(rt)
    insert = next(i for i, s in enumerate(sent) if s.startswith("INSERT INTO cases"))
    after = [s for s in sent[insert + 1 :] if s.startswith("SELECT") and "FROM cases" in s]
    assert after == []
    with rt.sessions() as session:
        opened = session.scalars(select(Event.case_id).where(Event.kind == "opened")).all()
        decided = session.scalars(select(Message.case_id).where(Message.processed)).all()
        cases_ = {c.id: c for c in session.scalars(select(Case))}
    assert len(opened) == len(cases_) == 12  # 6 threads, then 6 more; one joined again
    assert set(decided) == set(cases_)
    # The returned cases took the batch's changes like loaded ones (store.bulk).
    assert {(c.state, c.team) for c in cases_.values()} == {("awaiting_human", "care")}
    assert all("complaint" in c.tags for c in cases_.values())


def test_the_inserted_cases_come_back_detached_as_if_loaded(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    with rt.sessions() as session:
        customer_id = session.scalars(select(Message.customer_id)).one()
    now = rt.clock.now()
    row = {"platform": "x", "conversation_id": "77", "customer_id": customer_id}
    row |= {"state": "new", "tags": ["vip"], "opened_at": now, "updated_at": now}
    with transaction(rt.sessions) as session:
        (case,) = insert_returning_objects(session, Case, [row, row])  # one new row
        assert case not in session
        assert (case.priority, case.bot_replies, case.tags) == ("normal", 0, ["vip"])
        assert case.opened_at == now
        assert case.team is None
        assert write_changes(session, [case]) == 0  # unchanged since the insert
        case.team = "care"
        assert write_changes(session, [case]) == 1
    with rt.sessions() as session:
        stored = session.get(Case, case.id)
        assert stored is not None
        assert (stored.team, stored.tags, stored.state) == ("care", ["vip"], "new")


def test_inserted_rows_that_name_different_columns_keep_each_its_own(
    make_runtime: RuntimeFactory,
) -> None:
    # One executemany takes its columns from the first row: a team only the second
    # row named was stored as NULL.
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    with rt.sessions() as session:
        customer_id = session.scalars(select(Message.customer_id)).one()
    now = rt.clock.now()
    base = {"platform": "x", "customer_id": customer_id, "state": "new"}
    base |= {"opened_at": now, "updated_at": now}
    rows = [base | {"conversation_id": "77"}, base | {"conversation_id": "78", "team": "care"}]
    with transaction(rt.sessions) as session:
        opened = insert_returning_objects(session, Case, rows)
    assert sorted((c.conversation_id, c.team) for c in opened) == [("77", None), ("78", "care")]
    with rt.sessions() as session:
        assert sorted(session.execute(select(Case.conversation_id, Case.team)).all()) == [
            ("77", None),
            ("78", "care"),
        ]


def test_inserted_objects_are_built_in_a_process_that_used_no_orm_before(
    tmp_path: Path,
) -> None:
    # make_transient_to_detached needs the mappers configured, which the first ORM
    # query does: called first in a process, it raised AttributeError.
    script = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from datetime import UTC, datetime
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from monitor.store.models import Base, Case, Customer
from monitor.store.queries import insert_returning_objects
engine = create_engine("sqlite:///{tmp_path / "fresh.db"}")
Base.metadata.create_all(engine)
now = datetime.now(UTC)
with Session(engine) as session:
    row = {{"platform": "x", "platform_user_id": "1", "handle": "noa"}}
    row |= {{"first_seen_at": now, "last_seen_at": now}}
    (customer,) = insert_returning_objects(session, Customer, [row])
    print(customer.handle)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "noa\n", "")


def test_a_case_another_worker_opened_meanwhile_is_joined(make_runtime: RuntimeFactory) -> None:
    # The INSERT of a case another worker has just opened is a no-op and returns
    # nothing: the message joins that worker's case, which is loaded, not opened again.
    rt = make_runtime([mention(1), mention(2)])
    drain(poll_source, rt, "feed")
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        batch = list(session.scalars(select(Message).order_by(Message.id)))
        index = ThreadIndex(session, batch, rt.settings)
        score = rt.scorer.score(batch[0].text)
        keys = [index.attach(m, index.customers[m.customer_id], score, now) for m in batch]
        theirs = Case(
            platform="x", conversation_id="1001", customer_id=keys[0][2], state="new",
            opened_at=now, updated_at=now,
        )  # fmt: skip
        session.add(theirs)
        session.flush()
        index.open_new(lambda _: now)
        assert index.case(keys[0]).id == theirs.id
        assert not index.opens(batch[0])
        assert index.opens(batch[1])
        assert index.case(keys[1]).id not in (None, theirs.id)


def test_a_run_that_finds_nothing_sends_only_its_claim(make_runtime: RuntimeFactory) -> None:
    # Every worker polls the claims several times a second when idle, and with three
    # workers most claims find nothing: an empty processing claim then read customers
    # and cases for no message, and an empty outbox claim read its (no) actions again.
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    drain(process_pending, rt)
    drain(dispatch_outbox, rt)
    with statements(rt, reading="SELECT") as processing:
        assert not process_pending(rt)
    with statements(rt, reading="SELECT") as dispatching:
        assert not dispatch_outbox(rt)
    assert sum(processing.values()) == 1
    assert sum(dispatching.values()) == 1


def test_a_batchs_lookups_take_its_id_lists_as_one_parameter_on_postgresql(
    make_runtime: RuntimeFactory,
) -> None:
    # 120 mentions from 60 authors in 60 threads: the batch's lookups by author, thread
    # and case, and the outbox's by action, each have a list of 50 or more values.
    rows = [
        mention(i, TEXTS[i % 2], conversation_id=str(9000 + i % 60), author_id=str(i % 60))
        for i in range(120)
    ]
    rt = make_runtime(rows)
    drain(poll_source, rt, "feed")
    most: collections.Counter[str] = collections.Counter()

    def count(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        # Not an INSERT's page of rows (each row's columns), nor an executemany's rows.
        if not many and not statement.lstrip().startswith("INSERT"):
            words = " ".join(statement.split()[:4])
            most[words] = max(most[words], len(params or ()))

    event.listen(rt.engine, "before_cursor_execute", count)
    try:
        assert not process_pending(rt)
        drain(dispatch_outbox, rt)
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)
    with rt.sessions() as session:
        assert not session.scalars(select(Message).where(Message.processed.is_(False))).all()
        assert len(session.scalars(select(Case.id)).all()) == 60
        sent = session.scalars(select(ActionRow).where(ActionRow.status == "sent")).all()
    assert len(sent) >= 50  # the outbox claimed and wrote a list of 50 or more
    if rt.engine.dialect.name == "postgresql":
        # IN (:id_1, ..., :id_60) made every length its own statement, and psycopg
        # converts a statement of over 50 parameters anew each time it is sent.
        assert max(most.values()) <= 50, most.most_common(3)


def test_a_batchs_inserts_take_one_array_parameter_a_column_on_postgresql(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # 120 mentions from 60 authors in 60 threads, polled in one page: the INSERTs of its
    # messages, customers, cases, events and replies each have 60 rows or more.
    rows = [
        mention(i, TEXTS[i % 2], conversation_id=str(9000 + i % 60), author_id=str(i % 60))
        for i in range(120)
    ]
    # The factory writes the rows to feed0.jsonl.
    feed = {"name": "feed", "type": "replay", "path": str(tmp_path / "feed0.jsonl")}
    rt = make_runtime(rows, sources=[feed | {"page_size": 200}])
    most: collections.Counter[str] = collections.Counter()

    def count(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.lstrip().startswith("INSERT"):
            words = " ".join(statement.split()[:3])
            # An executemany's parameters are a list of rows: count one row's.
            one = params[0] if isinstance(params, list | tuple) and many else params
            most[words] = max(most[words], len(one or ()))

    event.listen(rt.engine, "before_cursor_execute", count)
    try:
        drain(poll_source, rt, "feed")
        assert not process_pending(rt)
        drain(dispatch_outbox, rt)
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)
    with rt.sessions() as session:
        assert not session.scalars(select(Message).where(Message.processed.is_(False))).all()
        assert len(session.scalars(select(Case.id)).all()) == 60
    assert {"INSERT INTO messages", "INSERT INTO customers", "INSERT INTO cases"} <= set(most)
    if rt.engine.dialect.name == "postgresql":
        # SQLAlchemy's "insertmanyvalues" sent VALUES (...), (...) with a parameter a
        # value: past 50 parameters psycopg converts the statement's placeholders anew
        # on every execution, about a second of CPU per 10,000 mentions.
        assert max(most.values()) <= 50, most.most_common(5)


def test_inserted_rows_come_back_and_are_stored_as_given(make_runtime: RuntimeFactory) -> None:
    # NULLs, JSON (a JSON null is not a missing value), datetimes in another zone and
    # rows that name different columns: on PostgreSQL each column is one array.
    rt = make_runtime()
    paris = timezone(timedelta(hours=1))
    at = datetime(2026, 11, 20, 11, 30, 15, 123456, tzinfo=paris)
    person = {"platform": "x", "handle": "noa", "first_seen_at": at, "last_seen_at": at}
    thread = {"platform": "x", "state": "new", "opened_at": at, "updated_at": at}
    post = {"platform": "x", "direction": "inbound", "kind": "mention", "author_handle": "noa"}
    post |= {"text": "é \U0001f621 'quoted'", "conversation_id": "7", "ingested_at": at}
    with transaction(rt.sessions) as session:
        a, b = sorted(
            insert_returning_objects(
                session,
                Customer,
                [
                    person | {"platform_user_id": "1", "account_created_at": None},
                    person | {"platform_user_id": "2", "followers": 3, "verified": True},
                ],
            ),
            key=lambda c: c.platform_user_id,
        )
        opened = insert_returning_objects(
            session,
            Case,
            [
                thread | {"conversation_id": "7", "customer_id": a.id},
                thread | {"conversation_id": "8", "customer_id": b.id, "tags": ["vip", "a b"]},
                thread | {"conversation_id": "9", "customer_id": b.id, "team": None},
            ],
        )
        posts = insert_returning_objects(
            session,
            Message,
            [
                post | {"external_id": "1", "created_at": at, "decision": None},
                post | {"external_id": "2", "created_at": at - timedelta(days=400)},
                post | {"external_id": "3", "created_at": at, "decision": {"a": [1, None]}},
                post | {"external_id": "3", "created_at": at},  # a duplicate: not new
                post | {"external_id": "4", "created_at": at, "lang": None, "url": "u"},
            ],
        )
        # One set of columns, as ingest's pages have.
        more = [post | {"external_id": n, "created_at": at, "decision": None} for n in "45"]
        new = insert_returning_keys(session, Message, more, ["external_id", "created_at"])
    assert new == {("5", at)}
    assert sorted((m.external_id, m.decision, m.created_at, m.url) for m in posts) == [
        ("1", None, at, None),
        ("2", None, at - timedelta(days=400), None),
        ("3", {"a": [1, None]}, at, None),
        ("4", None, at, "u"),
    ]
    assert (a.account_created_at, a.followers, a.verified, a.display_name) == (
        None,
        None,
        False,
        "",
    )
    assert (b.followers, b.verified, b.first_seen_at) == (3, True, at)
    assert str(b.first_seen_at.tzinfo) == "UTC"
    assert sorted((c.conversation_id, c.tags, c.priority, c.bot_replies) for c in opened) == [
        ("7", [], "normal", 0),
        ("8", ["vip", "a b"], "normal", 0),
        ("9", [], "normal", 0),
    ]
    with rt.sessions() as session:
        stored = session.execute(
            select(Message.external_id, Message.decision, Message.decision.is_(None))
            .add_columns(Message.created_at, Message.lang, Message.url, Message.processed)
            .add_columns(Message.text, Message.reply_allowed, Message.context_at)
            .order_by(Message.external_id)
        ).all()
        tags = dict(session.execute(select(Case.conversation_id, Case.tags)).all())
    text = post["text"]
    assert [tuple(row) for row in stored] == [
        # A JSON null where the row said None; SQL NULL where it named no decision.
        ("1", None, False, at, None, None, False, text, True, None),
        ("2", None, True, at - timedelta(days=400), None, None, False, text, True, None),
        ("3", {"a": [1, None]}, False, at, None, None, False, text, True, None),
        ("4", None, True, at, None, "u", False, text, True, None),
        ("5", None, False, at, None, None, False, text, True, None),
    ]
    assert tags == {"7": [], "8": ["vip", "a b"], "9": []}
