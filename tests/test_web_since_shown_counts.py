"""The counts a case page (and GET /api/cases/REF) hands out for the "since your page
was shown" checks: never more than what was shown, and available to API scripts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from monitor import casework_replies
from monitor.clock import FakeClock
from monitor.pipeline import run_cycle
from monitor.runtime import Runtime
from monitor.sources.replay import ReplaySource
from tests.conftest import RuntimeFactory, mention, write_jsonl
from tests.webkit import api_client, client_for, seeded

LENA = "Sorry Jane, the refund went out today."
REPLY_FORM = re.compile(
    r'action="/cases/C-1001/reply"[^>]*>(?:(?!</form>).)*?'
    r'name="replies" value="(\d+)"(?:(?!</form>).)*?name="messages" value="(\d+)"'
)


def _counts(page: str) -> tuple[str, str]:
    found = REPLY_FORM.search(page.replace("\n", " "))
    assert found is not None
    return found.group(1), found.group(2)


@contextmanager
def _while_reading(
    rt: Runtime, wanted: Callable[[str], bool], land: Callable[[], object]
) -> Iterator[list[str]]:
    """Run ``land`` (a commit by someone else) once, right after the first statement
    ``wanted`` picks: the moment between two of the page's reads."""
    seen: list[str] = []

    def meanwhile(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = " ".join(statement.split())
        if seen or not wanted(words):
            return
        seen.append(words)
        land()

    event.listen(rt.engine, "after_cursor_execute", meanwhile)
    try:
        yield seen
    finally:
        event.remove(rt.engine, "after_cursor_execute", meanwhile)


def test_a_colleagues_reply_landing_while_the_page_is_read_is_not_counted_unseen(
    make_runtime: RuntimeFactory,
) -> None:
    # The page read the outbox, then (in a session of its own) counted the replies: one
    # queued in between was counted but not shown, and the form sent that count back,
    # so a second answer written without seeing the first was posted beside it.
    rt = seeded(make_runtime)
    alice, csrf = client_for(rt, "alice")
    with _while_reading(
        rt,
        lambda sql: "FROM actions" in sql and "actions.case_id" in sql,
        lambda: casework_replies.reply(rt, "C-1001", LENA, user="lena"),
    ) as seen:
        page = alice.get("/cases/C-1001").text
    assert len(seen) == 1
    replies, messages = _counts(page)
    mine = "Hi Jane, I'm checking your order now."
    form = {"csrf_token": csrf, "text": mine, "replies": replies, "messages": messages}
    refused = alice.post("/cases/C-1001/reply", data=form)
    assert refused.status_code == 400
    assert "C-1001 was answered by lena after your page showed it" in refused.text


def test_a_customer_message_landing_while_the_page_is_read_is_not_counted_unseen(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The thread was read before the customer's messages were counted: a follow-up
    # written in between was counted but not shown, and a reply to the earlier message
    # went out as if the follow-up had been read.
    first = mention(1, "@acme my order is late, where is it?", author="jane")
    rt = seeded(make_runtime, [first])
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
    alice, csrf = client_for(rt, "alice")
    with _while_reading(
        rt,
        # The thread's read (the page's last read of the case's messages).
        lambda sql: "FROM messages" in sql and "LIMIT" in sql,
        lambda: run_cycle(rt),
    ) as seen:
        page = alice.get("/cases/C-1001").text
    assert len(seen) == 1
    replies, messages = _counts(page)
    form = {"csrf_token": csrf, "text": "It ships tomorrow.", "replies": replies}
    refused = alice.post("/cases/C-1001/reply", data={**form, "messages": messages})
    assert refused.status_code == 400
    assert "jane wrote to C-1001 again at 2026-11-20 10:05 UTC" in refused.text


def test_the_api_gives_a_case_the_counts_its_operations_take(
    make_runtime: RuntimeFactory,
) -> None:
    # reply, approve, resolve and spam take the page's `replies` and `messages`, but
    # GET /api/cases/REF did not return them: a script could not get the counts the
    # checks compare with, short of counting the outbox by statuses it does not know.
    rt = seeded(make_runtime)
    alice = api_client(rt, "alice")
    before = alice.get("/api/cases/C-1001").json()
    replies, messages = before["replies"], before["messages"]
    assert messages > 0
    with _while_reading(
        rt,
        lambda sql: "FROM actions" in sql and "actions.case_id" in sql,
        lambda: casework_replies.reply(rt, "C-1001", LENA, user="lena"),
    ):
        case = alice.get("/api/cases/C-1001").json()
    # Lena's reply landed while the case was read: shown or not, it is not counted.
    assert (case["replies"], case["messages"]) == (replies, messages)
    mine = {"text": "Hi Jane, I'm checking your order now."}
    refused = alice.post("/api/cases/C-1001/reply", json={**mine, "replies": case["replies"]})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("C-1001 was answered by lena after your page")
    case = alice.get("/api/cases/C-1001").json()
    assert (case["replies"], case["messages"]) == (replies + 1, messages)
    counts = {"replies": case["replies"], "messages": case["messages"]}
    assert alice.post("/api/cases/C-1001/reply", json={**mine, **counts}).json()["ok"]
    schema = alice.get("/api/openapi.json").json()
    ok = schema["paths"]["/api/cases/{ref}"]["get"]["responses"]["200"]["content"]
    name = ok["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties = schema["components"]["schemas"][name]["properties"]
    assert properties["replies"]["type"] == properties["messages"]["type"] == "integer"
