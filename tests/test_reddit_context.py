"""Thread context: parents and the submission are fetched (bounded), stored, and shown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor.clock import FakeClock
from monitor.ingest import poll_source
from monitor.processing import process_pending
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import Case, Message
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.reddit_fake import T0, comment, listing, reddit_section, serve_token, submission
from tests.test_reddit_inbox import messages
from tests.webkit import PASSWORD, client_for, create_user


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def runtime(make_runtime: RuntimeFactory, api: FakeAPI, depth: int = 2) -> Runtime:
    watch = {
        "name": "watch",
        "type": "reddit_subreddit",
        "subreddits": ["acme"],
        "keywords": ["acme"],
        "submissions": False,
        "context_depth": depth,
    }
    inbox = {
        "name": "inbox",
        "type": "reddit_inbox",
        "comment_replies": False,
        "submission_replies": False,
        "context_depth": 0,
    }
    return make_runtime(sources=[watch, inbox], reddit=reddit_section(api))


def serve_chain(api: FakeAPI) -> None:
    """t3_abc123 <- t1_p2 <- t1_p1 <- t1_k1 (the keyword hit)."""
    serve_token(api)
    api.add("GET", "/r/acme/new/?", listing())
    hit = comment("k1", "acme support never answered", created=T0 + 30, parent="t1_p1")
    api.add("GET", "/r/acme/comments/?", listing(hit))
    level1 = listing(
        comment("p1", "same here", created=T0 + 20, parent="t1_p2"),
        submission("abc123", "My order never came", "Ordered two weeks ago."),
    )
    level2 = listing(comment("p2", "anyone else?", author=None, created=T0 + 10))
    api.add("GET", "/api/info/?", level1, level2)


def test_parents_and_submission_are_stored_as_context_and_shown_on_the_case(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_chain(api)
    rt = runtime(make_runtime, api)
    poll_source(rt, "watch")
    process_pending(rt)

    rows = {m.external_id: m for m in messages(rt)}
    assert sorted(rows) == ["t1_k1", "t1_p1", "t1_p2", "t3_abc123"]
    context = [m for m in rows.values() if m.direction == "context"]
    assert {m.external_id for m in context} == {"t1_p1", "t1_p2", "t3_abc123"}
    assert all(m.processed and m.case_id is None for m in context)
    assert rows["t1_p2"].author_handle == "[deleted]"
    with transaction(rt.sessions) as session:
        (case,) = session.scalars(select(Case)).all()
        ref = case.ref
    requested = [r.query["id"][0] for r in api.seen("GET", "/api/info/?")]
    assert requested == ["t1_p1,t3_abc123", "t1_p2"]

    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    page = client.get(f"/cases/{ref}")
    assert page.status_code == 200
    # The parents are part of the thread the case page shows, marked as context.
    assert 'class="message context' in page.text
    assert "My order never came" in page.text
    assert "same here" in page.text


def test_depth_bounds_the_requests(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    serve_chain(api)
    rt = runtime(make_runtime, api, depth=1)
    poll_source(rt, "watch")
    assert len(api.seen("GET", "/api/info/?")) == 1
    assert "t1_p2" not in {m.external_id for m in messages(rt)}


def test_known_thread_is_not_fetched_again(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    serve_chain(api)
    rt = runtime(make_runtime, api)
    poll_source(rt, "watch")
    follow_up = comment("k2", "acme, still waiting", created=T0 + 40, parent="t1_k1")
    api.add("GET", "/r/acme/comments/?", listing(follow_up))
    api.add("GET", "/api/info/?", listing(submission("abc123", "My order never came")))
    poll_source(rt, "watch")
    # The first poll's two levels, then the submission alone, for its lock.
    requested = [r.query["id"][0] for r in api.seen("GET", "/api/info/?")]
    assert requested == ["t1_p1,t3_abc123", "t1_p2", "t3_abc123"]
    context = [m.external_id for m in messages(rt) if m.direction == "context"]
    assert sorted(context) == ["t1_p1", "t1_p2", "t3_abc123"]


def test_context_row_becomes_a_mention_when_it_arrives_as_one(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_chain(api)
    rt = runtime(make_runtime, api)
    poll_source(rt, "watch")
    named = comment("p1", "same here u/acme_official", created=T0 + 20, inbox="username_mention")
    api.add("GET", "/message/mentions", listing(named))
    api.add("POST", "/api/read_message/?", Reply.json({}))
    poll_source(rt, "inbox")
    process_pending(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(Message).where(Message.external_id == "t1_p1")).one()
        assert (row.direction, row.kind, row.source) == ("inbound", "mention", "inbox")
        assert row.case_id is not None


def test_context_failure_never_holds_back_the_mention(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_chain(api)
    api.add("GET", "/api/info/?", Reply.json({"error": 404}, status=404))
    rt = runtime(make_runtime, api)
    poll_source(rt, "watch")
    assert [m.external_id for m in messages(rt)] == ["t1_k1"]


def test_context_for_more_than_100_parents_is_fetched_in_full(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # 60 hits in 60 threads: 120 parents, more than one /api/info request holds.
    serve_token(api)
    api.add("GET", "/r/acme/new/?", listing())
    hits = [
        comment(f"k{n}", "acme?", created=T0 + n, link=f"s{n}", parent=f"t1_p{n}")
        for n in range(60)
    ]
    api.add("GET", "/r/acme/comments/?", listing(*reversed(hits)))
    things = {f"t1_p{n}": comment(f"p{n}", "same", link=f"s{n}") for n in range(60)}
    things |= {f"t3_s{n}": submission(f"s{n}", "My order") for n in range(60)}
    names = sorted(things)
    pages = [listing(*(things[name] for name in names[i : i + 100])) for i in (0, 100)]
    api.add("GET", "/api/info/?", *pages)
    rt = runtime(make_runtime, api, depth=1)
    poll_source(rt, "watch")
    context = {m.external_id for m in messages(rt) if m.direction == "context"}
    assert context == set(things)
    assert len(api.seen("GET", "/api/info/?")) == 2


def test_a_comment_in_a_locked_thread_is_stored_as_not_replyable(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A comment carries no flag for its thread's lock; the fetched submission does.
    serve_token(api)
    api.add("GET", "/r/acme/new/?", listing())
    hit = comment("k1", "acme support never answered", created=T0 + 30)
    other = comment("k2", "acme elsewhere", created=T0 + 20, link="open1")
    api.add("GET", "/r/acme/comments/?", listing(hit, other))
    locked = submission("abc123", "My order never came")
    locked["data"]["locked"] = True
    api.add("GET", "/api/info/?", listing(locked, submission("open1", "Fine")))
    rt = runtime(make_runtime, api, depth=1)
    poll_source(rt, "watch")
    rows = {m.external_id: m for m in messages(rt)}
    assert (rows["t1_k1"].reply_allowed, rows["t3_abc123"].reply_allowed) == (False, False)
    assert rows["t1_k2"].reply_allowed is True


def test_a_comment_in_a_locked_thread_goes_to_a_person_saying_the_thread_is_locked(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Moderators locked the thread: the case went to a person with the guard note X uses
    # for a post whose author limits replies, "the author does not allow replies to this
    # post", and the team looked for a setting the customer never made.
    serve_token(api)
    api.add("GET", "/r/acme/new/?", listing())
    api.add("GET", "/r/acme/comments/?", listing(comment("k1", "acme my order is late")))
    locked = submission("abc123", "My order never came")
    locked["data"]["locked"] = True
    api.add("GET", "/api/info/?", listing(locked))
    rt = runtime(make_runtime, api, depth=1)
    assert isinstance(rt.clock, FakeClock)
    rt.clock.set(datetime.fromtimestamp(T0, UTC) + timedelta(minutes=10))
    poll_source(rt, "watch")
    process_pending(rt)
    rows = {m.external_id: m for m in messages(rt)}
    decision = rows["t1_k1"].decision
    assert decision is not None
    assert decision["notes"] == [
        "guard: the thread is locked or archived: Reddit takes no reply in it"
    ]
    with transaction(rt.sessions) as session:
        assert session.scalars(select(Case)).one().state == "awaiting_human"


def test_context_fetched_before_a_failing_level_is_kept(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The first level (the parent and the submission) came back; the second failed. The
    # first level was remembered as fetched all the same, so it was never stored.
    serve_chain(api)
    level1 = listing(
        comment("p1", "same here", created=T0 + 20, parent="t1_p2"),
        submission("abc123", "My order never came"),
    )
    api.add("GET", "/api/info/?", level1, Reply.json({"error": 404}, status=404))
    rt = runtime(make_runtime, api)
    poll_source(rt, "watch")
    context = {m.external_id for m in messages(rt) if m.direction == "context"}
    assert context == {"t1_p1", "t3_abc123"}


def test_a_thread_locked_after_its_submission_was_fetched_is_seen(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The first poll fetched the submission, open; moderators lock the thread. The next
    # comment in it was stored as replyable: a known submission was never asked again.
    serve_chain(api)
    rt = runtime(make_runtime, api)
    poll_source(rt, "watch")
    late = comment("k2", "acme, anyone?", created=T0 + 40)
    api.add("GET", "/r/acme/comments/?", listing(late))
    locked = submission("abc123", "My order never came")
    locked["data"]["locked"] = True
    api.add("GET", "/api/info/?", listing(locked))
    poll_source(rt, "watch")
    rows = {m.external_id: m for m in messages(rt)}
    assert rows["t1_k2"].reply_allowed is False
    # Asked for its lock only: the submission is not stored a second time.
    assert api.seen("GET", "/api/info/?")[-1].query["id"] == ["t3_abc123"]
    assert sorted(rows) == ["t1_k1", "t1_k2", "t1_p1", "t1_p2", "t3_abc123"]
