"""The dashboard queue's order and pages, through the real pipeline and the JSON API."""

from __future__ import annotations

from monitor.web.queue import QueueFilter
from tests.conftest import RuntimeFactory, mention
from tests.webkit import api_client, client_for, seeded


def test_queue_puts_the_answers_owed_first_not_deadlines_already_met(
    make_runtime: RuntimeFactory,
) -> None:
    # The shipped rules acknowledge most escalations at once: those cases owe no answer
    # (no countdown), yet their met first-response deadline put them at the top, above
    # cases still waiting for any answer.
    rt = seeded(make_runtime)
    rows = api_client(rt, "lena").get("/api/cases").json()["cases"]
    deadlines = [row["sla_due_at"] for row in rows]
    owed = [d for d in deadlines if d is not None]
    assert owed, "the sample data has cases owing an answer"
    assert deadlines[: len(owed)] == sorted(owed)  # each with its countdown, soonest first
    assert [r["ref"] for r in rows[:2]] == ["C-1010", "C-1016"]  # care, high, unanswered
    # The acknowledged ones follow by priority, as cases without a deadline do.
    page = client_for(rt, "lena")[0].get("/").text
    assert page.index("/cases/C-1006") < page.index("/cases/C-1002")


def test_queue_pages_split_between_owed_and_answered_cases(make_runtime: RuntimeFactory) -> None:
    # 55 abusive posts go to care unanswered (owed, with a deadline); 10 late orders get
    # the bot's acknowledgement (answered): page 1 is owed cases only, page 2 the last
    # five owed ones and then the answered ones, each case exactly once.
    rows = [mention(n, "@acme you are scammers") for n in range(55)]
    rows += [mention(n, "@acme my order is late") for n in range(55, 65)]
    lena = api_client(seeded(make_runtime, rows), "lena")
    first, second = (lena.get("/api/cases", params={"page": p}).json() for p in ("1", "2"))
    assert first["has_more"]
    assert not second["has_more"]
    listed = [r["ref"] for r in first["cases"] + second["cases"]]
    assert len(listed) == len(set(listed)) == 65
    owed = [r["sla_due_at"] is not None for r in first["cases"] + second["cases"]]
    assert owed == [True] * 55 + [False] * 10
    assert first["counts"]["awaiting_human"] == 65


def test_queue_first_line_is_the_first_line_with_words(make_runtime: RuntimeFactory) -> None:
    # A post starting with a line break (a Reddit post's body often does, after its
    # title) showed an empty "first line" in the queue: the row had no words at all.
    rows = [mention(1, "\n  \n@acme my order is late\nsecond line")]
    cases = api_client(seeded(make_runtime, rows), "lena").get("/api/cases").json()["cases"]
    assert [c["first_line"] for c in cases] == ["@acme my order is late"]


def test_the_assignee_filter_finds_a_user_typed_with_capitals() -> None:
    # User names are lower-case; a lead typing "Maria" in the filter got an empty queue.
    assert QueueFilter.from_params({"assignee": " Maria "}).assignee == "maria"
    assert QueueFilter.from_params({"tag": "VIP"}).tag == "vip"
