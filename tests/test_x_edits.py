"""Edited X posts: X gives an edit a new id and lists the earlier ones in
edit_history_tweet_ids. An edit of a post already stored is kept in its thread as
context, never decided again; the bot answers the complaint once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.pipeline import poll_source, process_pending
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Message, SourceState
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI
from tests.rulekit import write
from tests.xapi import MENTIONS, body, ok, tid, tweet, x_section

RULE = "name: sorry\nthen: {reply: 'Sorry about that, {first_name}!'}\n"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def ruled(make_runtime: RuntimeFactory, api: FakeAPI, rules: Path) -> Runtime:
    write(rules, RULE)
    return make_runtime(
        sources=[{"name": "mentions", "type": "x_mentions", "thread_depth": 0}],
        responders={"x": {"type": "recording", "path": None},
                    "reddit": {"type": "recording", "path": None}},
        x=x_section(api),
        rules={"path": str(rules)},
    )  # fmt: skip


def stored(rt: Runtime) -> dict[str, Message]:
    with rt.sessions() as session:
        return {m.external_id: m for m in session.scalars(select(Message))}


def replies(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        query = select(ActionRow.target_external_id).where(ActionRow.kind == "reply")
        return list(session.scalars(query))


def edit_of(n: int, *earlier: int, text: str) -> dict[str, object]:
    # An edit's own id comes last in its history, the original's first (oldest first).
    return tweet(n, text, edit_history_tweet_ids=[*(tid(i) for i in earlier), tid(n)])


def test_an_edit_of_a_decided_post_is_kept_in_its_thread_and_not_decided_again(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    rt = ruled(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    process_pending(rt)
    assert replies(rt) == [tid(1)]
    rt.clock.advance(minutes=2)  # type: ignore[attr-defined]
    edited = edit_of(2, 1, text="@acme my order is late, three weeks now")
    api.add("GET", MENTIONS, ok(body([edited])))
    poll_source(rt, "mentions")
    while process_pending(rt):
        pass
    fields = api.seen("GET", MENTIONS)[-1].query["tweet.fields"][0].split(",")
    assert "edit_history_tweet_ids" in fields
    rows = stored(rt)
    assert rows[tid(1)].text == "@acme my order is late"  # the text as it was read
    edit = rows[tid(2)]
    assert edit.text == "@acme my order is late, three weeks now"
    assert (edit.direction, edit.decision, edit.processed) == ("context", None, True)
    # In the original's thread, so the case page shows it.
    assert edit.conversation_id == rows[tid(1)].conversation_id
    assert replies(rt) == [tid(1)]  # one answer to one complaint
    # Read again (the overlap, a search source): still the edit, never promoted.
    api.add("GET", MENTIONS, ok(body([edited])))
    poll_source(rt, "mentions")
    process_pending(rt)
    assert stored(rt)[tid(2)].direction == "context"
    assert replies(rt) == [tid(1)]


def test_a_post_and_its_edit_in_one_sweep_are_decided_once(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    # X pages newest first: the edit on the first page, the post it edits on the second.
    edited = edit_of(2, 1, text="@acme my order is late!!")
    api.add("GET", MENTIONS, ok(body([edited], next_token="p2")))
    api.add(
        "GET",
        MENTIONS,
        ok(body([tweet(1, "@acme my order is lat")])),
        query={"pagination_token": "p2"},
    )
    rt = ruled(make_runtime, api, tmp_path / "rules")
    with rt.sessions.begin() as session:
        session.merge(SourceState(name="mentions", cursor=tid(0), consecutive_failures=0,
                                  items_total=0))  # fmt: skip
    poll_source(rt, "mentions")
    while process_pending(rt):
        pass
    rows = stored(rt)
    assert (rows[tid(1)].direction, rows[tid(2)].direction) == ("inbound", "context")
    assert rows[tid(2)].decision is None
    assert replies(rt) == [tid(1)]


def test_an_edit_of_a_post_never_stored_is_decided_as_a_new_post(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    api.add("GET", MENTIONS, ok(body([edit_of(2, 1, text="@acme my order is late")])))
    rt = ruled(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    process_pending(rt)
    assert stored(rt)[tid(2)].direction == "inbound"
    assert replies(rt) == [tid(2)]


@pytest.mark.parametrize(
    "history",
    ["x", None, [1, 2], [{"id": "1"}], ["../1", tid(3)], [tid(i) for i in range(100)]],
)
def test_a_malformed_edit_history_leaves_the_post_a_post(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path, history: object
) -> None:
    # Hostile or garbled history never costs the post, nor makes it an edit.
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme hello")])))
    rt = ruled(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    process_pending(rt)
    api.add("GET", MENTIONS, ok(body([tweet(3, "@acme hi", edit_history_tweet_ids=history)])))
    poll_source(rt, "mentions")
    process_pending(rt)
    assert stored(rt)[tid(3)].direction == "inbound"
