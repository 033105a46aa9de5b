"""`rules test` follows the case states the daemon's transitions give: a `case: {state}`
rule matches the same messages in the dry run as in the pipeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor.domain import CaseState
from monitor.pipeline import run_cycle
from monitor.rules.dryrun import dry_run
from monitor.runtime import Runtime
from monitor.sources.replay import parse_mention
from monitor.store.models import Message
from tests.conftest import RuntimeFactory, mention
from tests.rulekit import write
from tests.test_pipeline import append

# One rule per state, first, so every decision names the state its message found.
SEEN = "\n---\n".join(
    f"name: in-{s.value}\nmatch: {{case: {{state: {s.value}}}}}\nthen: {{tag: [in-{s.value}]}}"
    for s in CaseState
)
ACTIONS = """
name: lawyer
match: {text: lawyer}
then: {escalate: {team: care}}
---
name: refund
match: {text: refund}
then: {draft: "Hi {first_name}, about your refund: "}
---
name: thanks
match: {text: thanks}
then: {reply: "Glad to help!"}
---
name: giveaway
match: {text: giveaway}
then: {ignore: true}
---
name: promo
match: {text: promo}
then: {ignore: true, tag: [spam]}
"""

# (customer, text, what the brand's own post answers): each customer in a thread of theirs.
SCRIPT: list[tuple[str, str, str | None]] = [
    # Escalated: the bot's reply and a draft leave it with the team.
    ("ann", "@acme I will call my lawyer", None),
    ("ann", "@acme thanks for looking", None),
    ("ann", "@acme I want a refund", None),
    ("ann", "@acme hello?", None),
    # Drafted: the bot's later reply leaves the draft waiting on a person.
    ("bob", "@acme refund my order", None),
    ("bob", "@acme thanks anyway", None),
    ("bob", "@acme hello?", None),
    # Ignored when it opened the case: resolved; the next message reopens it.
    ("cat", "@acme giveaway time", None),
    ("cat", "@acme is anyone there", None),
    ("cat", "@acme hello?", None),
    # The brand answers a follow-up itself on the platform: waiting on the customer.
    ("dan", "@acme thanks for the kettle", None),
    ("dan", "@acme does it descale?", None),
    ("acmehelp", "@dan yes, with vinegar", "dan"),
    ("dan", "@acme great", None),
    ("dan", "@acme one more", None),
    # ... and an escalated case it answers so.
    ("eve", "@acme my lawyer says no", None),
    ("acmehelp", "@eve sorry, sending a new one", "eve"),
    ("eve", "@acme ok", None),
    # Closed as spam when it opened: later messages skip the rules and reopen nothing.
    ("fay", "@acme promo codes here", None),
    ("fay", "@acme thanks", None),
    ("fay", "@acme hello?", None),
    # The brand's account by x.user_id, its handle not listed in brand.accounts.
    ("gus", "@acme where is my parcel", None),
    ("acme_care", "@gus on its way", "gus"),
    ("gus", "@acme ok", None),
    # The brand answers the customer's newest post, though a post written before it
    # comes later in the file (its source sent it late): it waits on the customer.
    ("hal", "@acme does the lid fit?", None),
    ("hal", "@acme and the handle?", None),
    ("acmehelp", "@hal both fit", "hal"),
    ("hal", "@acme cheers", None),
    # ... and the other way: the post it answers is last in the file, but the one
    # above it was written after it, and is still owed its answer.
    ("ivy", "@acme is it dishwasher safe?", None),
    ("ivy", "@acme the lid too?", None),
    ("acmehelp", "@ivy the jug is", "ivy"),
    ("ivy", "@acme hm", None),
    # Giveaway spam written after the post the brand answers is ignored: it owes
    # nothing, and the case waits on the customer as after any other answer.
    ("jon", "@acme can it descale?", None),
    ("jon", "@acme giveaway time again", None),
    ("acmehelp", "@jon yes it can", "jon"),
    ("jon", "@acme thx", None),
]

# Minutes a post was written before its place in the script (its source sent it late).
WRITTEN_EARLIER = {"@acme and the handle?": 20, "@acme the lid too?": 10}
# What the brand's post answers, when not the customer's last post in the file.
ANSWERS_POST = {
    "@hal both fit": "@acme does the lid fit?",
    "@jon yes it can": "@acme can it descale?",
}
BRAND_ID = "900"  # x.user_id in the test's settings


THREADS = {
    "ann": "2001", "bob": "2002", "cat": "2003", "dan": "2004", "eve": "2005",
    "fay": "2006", "gus": "2007", "hal": "2008", "ivy": "2009", "jon": "2010",
}  # fmt: skip


def _rows(rt: Runtime) -> list[dict[str, Any]]:
    """The script as replay rows, five minutes apart from the runtime's clock on."""
    start = rt.clock.now()
    rows: list[dict[str, Any]] = []
    last: dict[str, str] = {}  # each customer's latest post, for the brand to answer
    ids: dict[str, str] = {}  # post text -> id
    for n, (who, text, answers) in enumerate(SCRIPT, start=1):
        at = start + timedelta(minutes=5 * (n - 1) - WRITTEN_EARLIER.get(text, 0))
        answered = ids[ANSWERS_POST[text]] if text in ANSWERS_POST else last.get(answers or "")
        row = mention(
            n,
            text,
            author=who,
            author_id=BRAND_ID if answers else str(600 + list(THREADS).index(who)),
            conversation_id=THREADS[answers or who],
            in_reply_to=answered if answers else None,
            created_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        last[who] = ids[text] = row["id"]
        rows.append(row)
    return rows


def test_rules_test_sees_the_case_states_the_daemon_gives(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The dry run moved a case to awaiting_approval for any draft and to auto_replied
    # for any reply without an escalation, closed no case its opening message was
    # ignored in, and knew nothing of the brand's own answer: a `case: {state}` rule
    # matched differently in `rules test` than in the daemon.
    write(tmp_path / "rules", SEEN + "\n---\n" + ACTIONS)
    rules = {"path": str(tmp_path / "rules")}
    rt = make_runtime([], rules=rules, x={"user_id": BRAND_ID})
    rows = _rows(rt)
    for row in rows:  # one message a cycle, as a live poll brings them
        append(rt, row)
        run_cycle(rt)
        rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
    with rt.sessions() as session:
        inbound = (Message.direction == "inbound") & (Message.kind != "own")
        query = select(Message.external_id, Message.decision).where(inbound)
        daemon = {i: d.get("matched", []) for i, d in session.execute(query.order_by(Message.id))}
    mentions = [parse_mention(row) for row in rows]
    tested = {
        m.external_id: list(d.matched)
        for m, _, d in dry_run(rt.loaded_rules(), rt.scorer, mentions)
        if m.author.id != BRAND_ID
    }
    seen = {i: [r for r in matched if r.startswith("in-")] for i, matched in daemon.items()}
    assert list(seen.values()) == [
        ["in-new"], ["in-awaiting_human"], ["in-awaiting_human"], ["in-awaiting_human"],
        ["in-new"], ["in-awaiting_approval"], ["in-awaiting_approval"],
        [], ["in-resolved"], ["in-new"],  # an ignore rule matches alone
        ["in-new"], ["in-auto_replied"], ["in-waiting_customer"], ["in-new"],
        ["in-new"], ["in-waiting_customer"],
        [], [], [],  # closed as spam at once: the rules are not asked again
        ["in-new"], ["in-waiting_customer"],
        ["in-new"], ["in-new"], ["in-waiting_customer"],
        ["in-new"], ["in-new"], ["in-new"],
        ["in-new"], [], ["in-waiting_customer"],  # the spam after the post owes nothing
    ]  # fmt: skip
    assert tested == daemon


# (customer, text, minutes after the first poll it was written, whom the brand answers),
# a list per poll: the daemon stores each poll's posts in the order they were written.
POLLS: list[list[tuple[str, str, int, str | None]]] = [
    # A lagging source: the customer's later post comes first in the file.
    [("mo", "@acme thanks for the reply", 10, None), ("mo", "@acme my lawyer hears it", 0, None)],
    # The brand answers an escalated post before the daemon decided it.
    [("kim", "@acme my lawyer is on it", 15, None), ("acmehelp", "@kim sorry, on it", 20, "kim")],
    [("mo", "@acme hello?", 70, None), ("kim", "@acme ok", 75, None)],
]  # fmt: skip


def _polls(rt: Runtime) -> list[list[dict[str, Any]]]:
    start, n = rt.clock.now(), 0
    last: dict[str, str] = {}  # each customer's latest post, for the brand to answer
    polls: list[list[dict[str, Any]]] = []
    for poll in POLLS:
        polls.append([])
        for who, text, minutes, answers in poll:
            n += 1
            row = mention(
                n,
                text,
                author=who,
                author_id=BRAND_ID if answers else f"70{who}",
                conversation_id=f"30{answers or who}",
                in_reply_to=last.get(answers or ""),
                created_at=(start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            last[who] = row["id"]
            polls[-1].append(row)
    return polls


def test_rules_test_decides_in_the_order_the_posts_were_written(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The daemon stores a poll's posts in the order written (ingest.written_order) and
    # decides them in that order; the dry run went by the file's lines, so the customer's
    # "thanks" was decided before the escalation it followed, in a case still `new`.
    write(tmp_path / "rules", SEEN + "\n---\n" + ACTIONS)
    rt = make_runtime([], rules={"path": str(tmp_path / "rules")}, x={"user_id": BRAND_ID})
    polls = _polls(rt)
    for poll in polls:
        append(rt, *poll)
        run_cycle(rt)
        rt.clock.advance(minutes=60)  # type: ignore[attr-defined]
    with rt.sessions() as session:
        inbound = (Message.direction == "inbound") & (Message.kind != "own")
        query = select(Message.external_id, Message.decision).where(inbound)
        daemon = {i: d.get("matched", []) for i, d in session.execute(query.order_by(Message.id))}
    mentions = [parse_mention(row) for poll in polls for row in poll]
    decided = dry_run(rt.loaded_rules(), rt.scorer, mentions)
    tested = {m.external_id: list(d.matched) for m, _, d in decided if m.author.id != BRAND_ID}
    assert daemon == {
        "1002": ["in-new", "lawyer"],
        "1001": ["in-awaiting_human", "thanks"],
        "1003": ["in-new", "lawyer"],
        "1005": ["in-awaiting_human"],
        "1006": ["in-waiting_customer"],
    }
    assert tested == daemon
