"""The dashboard queue's order and pages, through the real pipeline and the JSON API."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from sqlalchemy import update

from monitor.pipeline import run_cycle
from monitor.runtime import Runtime
from monitor.store.models import Case
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
    # The next page after page 1's last owed case is page 2, across both parts.
    assert lena.get("/api/cases", params={"after": first["next"]}).json() == second


def test_queue_first_line_is_the_first_line_with_words(make_runtime: RuntimeFactory) -> None:
    # A post starting with a line break (a Reddit post's body often does, after its
    # title) showed an empty "first line" in the queue: the row had no words at all.
    rows = [mention(1, "\n  \n@acme my order is late\nsecond line")]
    cases = api_client(seeded(make_runtime, rows), "lena").get("/api/cases").json()["cases"]
    assert [c["first_line"] for c in cases] == ["@acme my order is late"]


def test_queue_first_line_after_a_long_run_of_blank_lines(make_runtime: RuntimeFactory) -> None:
    # The first line was looked for in the first 400 characters only: a post starting
    # with more blank lines and spaces than that showed an empty first line.
    rows = [mention(1, "\n \t" * 150 + "@acme my order is late\nsecond line")]
    cases = api_client(seeded(make_runtime, rows), "lena").get("/api/cases").json()["cases"]
    assert [c["first_line"] for c in cases] == ["@acme my order is late"]


def test_the_assignee_filter_finds_a_user_typed_with_capitals() -> None:
    # User names are lower-case; a lead typing "Maria" in the filter got an empty queue.
    assert QueueFilter.from_params({"assignee": " Maria "}).assignee == "maria"
    assert QueueFilter.from_params({"tag": "VIP"}).tag == "vip"


def _queue_of_two_pages(make_runtime: RuntimeFactory, tmp_path: Path) -> tuple[Runtime, Path]:
    # 10 abusive posts owe care an answer; 45 late orders got the bot's acknowledgement:
    # page 1 is the 10 owed cases and 40 answered ones, page 2 the last 5.
    rows = [mention(n, "@acme you are scammers") for n in range(10)]
    rows += [mention(n, "@acme my order is late") for n in range(10, 55)]
    return seeded(make_runtime, rows), tmp_path / "feed0.jsonl"


def _refs(answer: dict[str, Any]) -> list[str]:
    return [row["ref"] for row in answer["cases"]]


def test_queue_next_page_neither_repeats_nor_skips_after_a_new_case_arrives(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # Pages were counted by OFFSET: a case owing an answer arriving between page 1 and
    # page 2 sorts above page 1's end, so page 2 began with page 1's last row again.
    rt, feed = _queue_of_two_pages(make_runtime, tmp_path)
    lena = api_client(rt, "lena")
    first = lena.get("/api/cases").json()
    with feed.open("a", encoding="utf-8") as out:
        out.write(json.dumps(mention(99, "@acme you are scammers")) + "\n")
    run_cycle(rt)
    second = lena.get("/api/cases", params={"after": first["next"]}).json()
    assert not set(_refs(first)) & set(_refs(second))
    assert len(_refs(first) + _refs(second)) == 55  # the new case is above, on page 1
    assert not second["has_more"]
    assert second["next"] is None


def test_queue_next_page_skips_no_case_when_a_case_above_is_resolved(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A case of page 1 resolved before page 2 is read moved every row up one place:
    # page 1's first case past its end was on neither page.
    rt, _ = _queue_of_two_pages(make_runtime, tmp_path)
    lena = api_client(rt, "lena")
    first = lena.get("/api/cases").json()
    resolved = lena.post(f"/api/cases/{_refs(first)[0]}/resolve", json={})
    assert resolved.status_code == 200, resolved.text
    second = lena.get("/api/cases", params={"after": first["next"]}).json()
    assert len(set(_refs(first) + _refs(second))) == 55


def test_queue_pager_says_where_its_links_go(make_runtime: RuntimeFactory, tmp_path: Path) -> None:
    # The link back to the more urgent cases read "← newer"; the next page's link goes on
    # after the last row shown, wherever new cases have arrived since.
    rt, _ = _queue_of_two_pages(make_runtime, tmp_path)
    client = client_for(rt, "lena")[0]
    first = client.get("/").text
    assert "newer" not in first
    token = api_client(rt, "lena").get("/api/cases").json()["next"]
    assert f'href="/?after={token}">more →' in first
    second = client.get("/", params={"after": token}).text
    assert 'href="/?">← most urgent</a>' in second
    assert "more →" not in second


def test_queue_refuses_an_after_token_it_did_not_give(make_runtime: RuntimeFactory) -> None:
    lena = api_client(seeded(make_runtime, [mention(1)]), "lena")
    for token in ("C-1001", "bzox", "x" * 300, "cjox"):
        answer = lena.get("/api/cases", params={"after": token})
        assert answer.status_code == 400, token
        assert "after" in answer.json()["error"]
    token = lena.get("/api/cases").json()["next"]
    assert token is None
    assert lena.get("/api/cases", params={"after": "cnwwfDE", "page": "2"}).status_code == 400


def test_queue_refuses_a_forged_after_token_out_of_the_database_range(
    make_runtime: RuntimeFactory,
) -> None:
    # Well-formed positions no page gives: a case id past BIGINT, and deadlines at the
    # ends of the calendar that have no UTC form. Sent to the database they were a 500.
    rt = seeded(make_runtime, [mention(1)])
    lena = api_client(rt, "lena")
    alice = client_for(rt, "alice")[0]
    for position in (
        "r|2|9999999999999999999",
        "o|2026-11-20T09:00:00+00:00|2|9999999999999999999",
        "o|9999-12-31T23:59:59-01:00|2|5",
        "o|0001-01-01T00:00:00+01:00|2|5",
    ):
        token = base64.urlsafe_b64encode(position.encode("ascii")).decode("ascii").rstrip("=")
        answer = lena.get("/api/cases", params={"after": token})
        assert answer.status_code == 400, position
        assert answer.json() == {"error": 'after must be the "next" of a queue page, as given'}
        assert alice.get("/", params={"after": token}).status_code == 400, position


def test_queue_of_an_unknown_team_is_an_error_not_an_empty_queue(
    make_runtime: RuntimeFactory,
) -> None:
    # As `cases list --team`: a misspelt team (or one renamed in the config) showed an
    # empty queue, with the team drop-down at "any", as if there were no work.
    rt = seeded(make_runtime)
    lena = api_client(rt, "lena")
    answer = lena.get("/api/cases", params={"team": "biling"})
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "unknown team 'biling' (teams: care, billing, tech, international)"},
    )
    assert client_for(rt, "lena")[0].get("/", params={"team": "Care"}).status_code == 400
    assert lena.get("/api/cases", params={"team": "care"}).json()["cases"]
    # A team taken out of the config still filters the cases that carry it.
    ref = lena.get("/api/cases", params={"team": "care"}).json()["cases"][0]["ref"]
    with rt.sessions.begin() as session:
        session.execute(update(Case).where(Case.id == int(ref[2:]) - 1000).values(team="retired"))
    retired = lena.get("/api/cases", params={"team": "retired"}).json()["cases"]
    assert [row["ref"] for row in retired] == [ref]
