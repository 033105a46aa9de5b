"""`inchannel backfill` bringing history older than what a case already holds: the
rerun with the --until an X or Reddit fetch printed when it stopped part way, or a
backfill of a thread a person has since taken up and closed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from monitor import casework_actions, casework_replies
from monitor.backfill import TAG, backfill
from monitor.runtime import Runtime
from monitor.sources.base import Window
from monitor.sources.replay import ReplaySource
from monitor.store.models import Case, Event, Message
from tests.conftest import RuntimeFactory, mention, write_jsonl
from tests.webkit import TEAMS

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
THREAD = {"conversation_id": "900", "author_id": "91", "author": "noa"}
NEWER = mention(2, "@acme my order is late", created_at="2026-11-19T12:00:00Z", **THREAD)
OLDER = mention(1, "@acme where is my order?", created_at="2026-11-19T08:00:00Z", **THREAD)


def refeed(rt: Runtime, rows: list[dict[str, Any]]) -> None:
    """The platform now has ``rows``: a new replay file behind the same source name."""
    path = write_jsonl(rt.settings.base_dir / "refeed.jsonl", rows)
    rt.sources["feed"] = ReplaySource("feed", path, page_size=5)


def the_case(rt: Runtime) -> Case:
    with rt.sessions() as session:
        return session.scalars(select(Case)).one()


def steps(rt: Runtime) -> list[tuple[str, str, str]]:
    """The case's state trail: (actor, old, new)."""
    with rt.sessions() as session:
        query = select(Event).where(Event.kind == "state").order_by(Event.id)
        return [(e.actor, e.detail["old"], e.detail["new"]) for e in session.scalars(query)]


def joined(rt: Runtime, external_id: str) -> Message:
    with rt.sessions() as session:
        return session.scalars(select(Message).where(Message.external_id == external_id)).one()


def test_a_rerun_bringing_older_history_joins_the_case_without_reopening_it(
    make_runtime: RuntimeFactory,
) -> None:
    # The first run read the window back to 12:00 before X's budget stopped it, and
    # resolved the thread's case; the rerun with the --until it printed brings 08:00.
    # Decided, the older message reopened the case ("customer wrote again"), moved its
    # opening to 08:00, was answered with the thread's replies counted from none, and
    # the case was resolved a second time.
    rt = make_runtime([NEWER], teams=TEAMS)
    backfill(rt, "feed", Window(SINCE))
    before, trail = the_case(rt), steps(rt)
    refeed(rt, [OLDER, NEWER])
    report = backfill(rt, "feed", Window(SINCE, datetime(2026, 11, 19, 12, 0, 1, tzinfo=UTC)))
    case = the_case(rt)
    assert steps(rt) == trail  # one resolution, by the first run
    assert (report.ingested, report.joined_resolved, sum(report.decisions.values())) == (1, 1, 0)
    assert (report.cases_opened, report.suppressed) == (0, 0)
    assert (case.state, case.opened_at, case.resolved_at) == (
        before.state,
        before.opened_at,
        before.resolved_at,
    )
    assert (case.bot_replies, case.sla_due_at, case.follow_up_at) == (0, None, None)
    assert joined(rt, "1001").case_id == case.id
    assert joined(rt, "1001").decision == {
        "backfill": f"joined {case.ref}, resolved after it was written; not decided"
    }


def test_a_backfill_leaves_a_case_a_person_answered_and_resolved_alone(
    make_runtime: RuntimeFactory,
) -> None:
    # A backfilled case a person took up (answered) and closed again: resolved, and
    # still tagged, it looked like the backfill's own. A rerun decided the thread's
    # history into it, reopened it and resolved it as the backfill, over the person's
    # resolution.
    rt = make_runtime([OLDER], teams=TEAMS)
    backfill(rt, "feed", Window(SINCE))
    ref = the_case(rt).ref
    casework_replies.reply(rt, ref, "Sorry Noa, it leaves the warehouse today.", user="lena")
    casework_actions.resolve(rt, ref, user="lena")
    before, trail = the_case(rt), steps(rt)
    assert TAG in before.tags
    assert trail[-1] == ("lena", "replied", "resolved")
    refeed(rt, [OLDER, NEWER])  # written after the first, before lena resolved the case
    report = backfill(rt, "feed", Window(SINCE))
    case = the_case(rt)
    assert steps(rt) == trail
    assert (report.ingested, report.joined_resolved, sum(report.decisions.values())) == (1, 1, 0)
    assert (case.state, case.resolved_at, case.updated_at) == (
        before.state,
        before.resolved_at,
        before.updated_at,
    )
    assert joined(rt, "1002").case_id == case.id


def test_a_rerun_bringing_older_and_newer_history_goes_on_with_the_newer(
    make_runtime: RuntimeFactory,
) -> None:
    # The rerun of the whole window Reddit asks for when listings were left unread
    # brings the thread's 08:00 (older than what the first run imported) and 14:00 in
    # one chunk. The older one joins undecided; the newer goes on with the case as the
    # first run left it, decided, with one resolution in the trail.
    rt = make_runtime([NEWER], teams=TEAMS)
    backfill(rt, "feed", Window(SINCE))
    trail = steps(rt)
    latest = mention(3, "@acme still nothing", created_at="2026-11-19T14:00:00Z", **THREAD)
    refeed(rt, [latest, OLDER, NEWER])
    report = backfill(rt, "feed", Window(SINCE))
    assert steps(rt) == trail
    assert (report.ingested, report.joined_resolved) == (2, 1)
    case = the_case(rt)
    assert joined(rt, "1001").decision == {
        "backfill": f"joined {case.ref}, written before the messages it holds; not decided"
    }
    assert joined(rt, "1003").case_id == case.id
    assert "matched" in (joined(rt, "1003").decision or {})


def test_a_brand_post_in_the_case_does_not_stop_a_rerun_going_on_with_it(
    make_runtime: RuntimeFactory,
) -> None:
    # The first run missed noa's 10:00 (Reddit's search index, X's ids out of order);
    # the rerun of the window brings it. The thread's newest is the brand's own 11:00
    # post, answering natively from another account: counted as the case's newest
    # message, the rerun took the 10:00 for older history than the case held, joined
    # it undecided and never went on with the case, as it does without the brand post.
    brand = {"conversation_id": "900", "author_id": "12", "author": "acmehelp"}
    own = mention(4, "@noa sorry, checking", created_at="2026-11-19T11:00:00Z", **brand)
    between = mention(
        3, "@acme my order is still late", created_at="2026-11-19T10:00:00Z", **THREAD
    )
    rt = make_runtime([OLDER, own], teams=TEAMS)
    backfill(rt, "feed", Window(SINCE))
    trail = steps(rt)
    assert joined(rt, "1004").kind == "own"
    assert joined(rt, "1004").case_id == the_case(rt).id
    refeed(rt, [OLDER, between, own])
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.ingested, report.joined_resolved) == (1, 0)
    assert report.decisions  # decided
    assert steps(rt) == trail  # gone on with, not reopened: one resolution
    assert joined(rt, "1003").case_id == the_case(rt).id
    assert "matched" in (joined(rt, "1003").decision or {})
