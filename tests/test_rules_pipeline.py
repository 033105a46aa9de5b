"""The rules inside the real pipeline: context from the database, actions on the case."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import casework_actions, casework_replies, triage
from monitor.pipeline import dispatch_outbox, run_cycle
from monitor.rules.dryrun import dry_run
from monitor.rules.reload import RuleReloader
from monitor.sources.replay import parse_mention
from monitor.store.models import ActionRow, Case, Customer, Event, Message
from tests.conftest import RuntimeFactory, mention
from tests.fakeapi import FakeAPI, Reply
from tests.rulekit import write
from tests.test_pipeline import append
from tests.webkit import PASSWORD, create_user

RULES = """
name: returning-customer
match:
  author:
    earlier_cases: "> 0"
    escalated_before: true
then:
  tag: [returning]
  assign: maria
  set_priority: urgent
---
name: second-message-in-case
match:
  case:
    state: awaiting_human
    bot_replies: "== 1"
    minutes_since_bot_reply: "< 60"
then:
  tag: [follow-up]
---
name: complaint
match: {text: broken}
then:
  reply: "Sorry {first_name}, we're on it here (case {case})."
  escalate: {team: care, priority: high, sla_minutes: 15}
"""


def test_pipeline_fills_context_from_history_and_applies_actions(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    write(tmp_path / "rules", RULES)
    rows = [
        mention(1, "@acme my kettle is broken", author="ann", author_id="7", author_name="Ann"),
        mention(
            2,
            "@acme still broken",
            author="ann",
            author_id="7",
            author_name="Ann",
            conversation_id="1001",
        ),
        mention(3, "@acme the toaster too", author="ann", author_id="7", author_name="Ann"),
    ]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")})
    create_user(rt, "maria", "agent", PASSWORD, ("care",))
    run_cycle(rt)
    with rt.sessions() as session:
        decisions = {
            m.external_id: m.decision for m in session.scalars(select(Message).order_by(Message.id))
        }
        cases = list(session.scalars(select(Case).order_by(Case.id)))
        escalated = session.scalars(
            select(Event).where(Event.kind == "state", Event.actor == "complaint")
        ).first()
    assert decisions["1001"]["matched"] == ["complaint"]
    assert decisions["1001"]["reply"]["text"] == "Sorry Ann, we're on it here (case C-1001)."
    # Same thread, one bot reply queued a moment ago, case waiting for a person.
    assert decisions["1002"]["matched"] == ["second-message-in-case", "complaint"]
    assert decisions["1002"]["notes"] == [
        "guard: author cooldown: the bot replied to this author recently"
    ]
    # A new thread: one earlier case, which was escalated.
    assert decisions["1003"]["matched"] == ["returning-customer"]
    assert (cases[1].assignee, cases[1].priority, cases[1].tags) == (
        "maria",
        "urgent",
        ["returning"],
    )
    assert escalated is not None
    assert escalated.detail["sla_minutes"] == 15


def test_the_reply_cap_counts_the_whole_thread_not_each_customer(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # Five customers in one thread, in one batch and then in the next: the bot answers
    # the thread twice (the default cap), not each customer twice.
    write(tmp_path / "rules", RULES)
    thread = {"conversation_id": "1001"}
    rows = [mention(n, "@acme the app is broken", **thread) for n in range(1, 4)]
    rows += [mention(n, "@acme broken here too", **thread) for n in range(4, 6)]
    rules = {"path": str(tmp_path / "rules")}
    rt = make_runtime(rows, rules=rules, processing={"batch_size": 3})
    run_cycle(rt)
    with rt.sessions() as session:
        inbound = select(Message).where(Message.direction == "inbound").order_by(Message.id)
        decisions = [m.decision or {} for m in session.scalars(inbound)]
        cases = list(session.scalars(select(Case).order_by(Case.id)))
    assert ["reply" in d for d in decisions] == [True, True, False, False, False]
    assert decisions[2]["notes"] == ["guard: already 2 bot replies in this thread"]
    assert [c.bot_replies for c in cases] == [1, 1, 0, 0, 0]
    # A rule sees the thread's replies too (the second customer's case had none).
    assert "second-message-in-case" not in decisions[1].get("matched", [])
    assert decisions[3]["notes"] == ["guard: already 2 bot replies in this thread"]


NEW_ACCOUNT = """
name: new-account
match:
  author: {account_age: "< 3 days"}
then:
  tag: [new-account]
"""


def test_account_age_matches_in_the_daemon_as_in_rules_test(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The creation time was read from the feed but never stored with the customer, so
    # an account_age rule matched in `rules test` and never in the daemon.
    write(tmp_path / "rules", NEW_ACCOUNT)
    rows = [
        mention(1, author_created_at="2026-11-19T08:00:00Z"),  # a day old
        mention(2, author_created_at="2019-05-01T08:00:00Z"),
        mention(3),  # the platform did not say: never matches
    ]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")})
    tested = dry_run(rt.loaded_rules(), rt.scorer, [parse_mention(row) for row in rows])
    run_cycle(rt)
    with rt.sessions() as session:
        inbound = select(Message).where(Message.direction == "inbound").order_by(Message.id)
        decided = [(m.decision or {}).get("matched", []) for m in session.scalars(inbound)]
        stored = session.scalars(select(Customer.account_created_at).order_by(Customer.id)).all()
    assert decided == [["new-account"], [], []]
    assert [list(decision.matched) for _, _, decision in tested] == decided
    assert stored == [
        datetime(2026, 11, 19, 8, tzinfo=UTC),
        datetime(2019, 5, 1, 8, tzinfo=UTC),
        None,
    ]


def test_brand_accounts_written_as_reddit_and_x_show_them_are_the_brands_own(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # "u/acme_official" is how Reddit shows a name, and how people copy it into the
    # config; kept as written it never equalled the author "acme_official", so the bot
    # answered the brand's own comments (and " AcmeHelp" with a stray space on X).
    write(tmp_path / "rules", "name: reply-all\nthen: {reply: 'Thanks {first_name}!'}\n")
    brand = {"name": "Acme", "accounts": {"x": [" @AcmeHelp "], "reddit": ["/u/Acme_Official"]}}
    rows = [
        mention(1, "Acme here: the fix is live", platform="reddit", author="acme_official"),
        mention(2, "@acme fixed now, thanks", author="acmehelp"),
        mention(3, "@acme still broken"),
    ]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")}, brand=brand)
    run_cycle(rt)
    with rt.sessions() as session:
        inbound = select(Message).where(Message.direction == "inbound").order_by(Message.id)
        kinds = [(m.author_handle, m.kind, "reply" in (m.decision or {}))
                 for m in session.scalars(inbound)]  # fmt: skip
    assert kinds == [
        ("acme_official", "own", False),
        ("acmehelp", "own", False),
        ("user3", "mention", True),
    ]


@pytest.mark.parametrize("batch_size", [1, 10])
def test_a_follow_up_counts_the_authors_case_opened_since_in_another_thread(
    make_runtime: RuntimeFactory, tmp_path: Path, batch_size: int
) -> None:
    # A customer writing in two threads at once: their second thread was escalated, then
    # they wrote again in the first. Only cases opened before the first one counted as
    # history, so the follow-up saw no other case and no escalation.
    write(tmp_path / "rules", RULES)
    ann = {"author": "ann", "author_id": "7", "author_name": "Ann"}
    rows = [
        mention(1, "@acme hello there", **ann),
        mention(2, "@acme my kettle is broken", **ann),
        mention(3, "@acme any news on the first thing?", conversation_id="1001", **ann),
    ]
    rules = {"path": str(tmp_path / "rules")}
    rt = make_runtime(rows, rules=rules, processing={"batch_size": batch_size})
    run_cycle(rt)
    with rt.sessions() as session:
        decisions = dict(session.execute(select(Message.external_id, Message.decision)).all())
    assert decisions["1001"].get("matched") is None
    assert decisions["1002"]["matched"] == ["complaint"]
    assert decisions["1003"]["matched"] == ["returning-customer"]


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        (None, "no active dashboard user 'maria' (`inchannel users list` shows them)"),
        (
            ("maria", "agent", ("billing",)),
            "maria is an agent of billing and cannot open the cases of team care",
        ),
    ],
    ids=["no-such-user", "other-team"],
)
def test_a_rule_never_assigns_a_case_to_someone_who_cannot_open_it(
    make_runtime: RuntimeFactory,
    tmp_path: Path,
    user: tuple[str, str, tuple[str, ...]] | None,
    reason: str,
) -> None:
    # A typo in `assign:` (or a colleague of another team) gave the case to a name
    # nobody signs in as: the team saw it taken and left it, and its SLA ran out.
    write(
        tmp_path / "rules",
        "name: vip\nmatch: {text: broken}\nthen:\n  escalate: {team: care}\n  assign: maria\n",
    )
    rt = make_runtime(
        [mention(1, "@acme my kettle is broken")], rules={"path": str(tmp_path / "rules")}
    )
    if user is not None:
        name, role, teams = user
        create_user(rt, name, role, PASSWORD, teams)
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        skipped = session.scalars(select(Event).where(Event.kind == "assign_skipped")).one()
    assert (case.assignee, case.team) == (None, "care")
    assert skipped.actor == "vip"
    assert skipped.detail == {"assignee": "maria", "reason": reason}


def test_rule_tags_stop_at_the_case_limit_and_the_dropped_ones_are_recorded(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The rules' tags were merged without a bound: a case took 40 tags, past the 20 a
    # person may set on the dashboard or with `cases tag`, and every later tag was refused.
    first = ", ".join(f"a{n:02d}" for n in range(15))
    second = ", ".join(f"b{n:02d}" for n in range(15))
    write(
        tmp_path / "rules",
        f"name: many\nmatch: {{text: broken}}\nthen:\n  tag: [{first}]\n---\n"
        f"name: more\nmatch: {{text: broken}}\nthen:\n  tag: [{second}]\n",
    )
    rt = make_runtime(
        [mention(1, "@acme my kettle is broken")], rules={"path": str(tmp_path / "rules")}
    )
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        dropped = session.scalars(select(Event).where(Event.kind == "tags_dropped")).one()
    # The first 20 in the rules' order are kept (the spam tag goes ahead of them all:
    # test_a_rules_spam_tag_is_added_to_a_case_full_of_tags).
    kept = [*(f"a{n:02d}" for n in range(15)), *(f"b{n:02d}" for n in range(5))]
    assert case.tags == sorted(kept)
    assert dropped.actor == "many,more"
    assert dropped.detail == {"dropped": [f"b{n:02d}" for n in range(5, 15)], "limit": 20}


def test_a_rules_spam_tag_is_added_to_a_case_full_of_tags(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The spam tag decides how the case is handled (no answer owed, no retries): a
    # message judged spam must not leave its case looking like any other.
    full = ", ".join(f"a{n:02d}" for n in range(20))
    write(
        tmp_path / "rules",
        f"name: many\nmatch: {{text: broken}}\nthen:\n  tag: [{full}]\n---\n"
        "name: junk\nmatch: {text: giveaway}\nthen:\n  ignore: true\n  tag: [spam, junk]\n",
    )
    first = mention(1, "@acme my kettle is broken")
    again = mention(2, "@acme giveaway", author="user1", author_id="501", conversation_id="1001")
    rt = make_runtime([first, again], rules={"path": str(tmp_path / "rules")})
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        dropped = session.scalars(select(Event).where(Event.kind == "tags_dropped")).one()
    assert "spam" in case.tags
    assert len(case.tags) == 21
    assert dropped.detail == {"dropped": ["junk"], "limit": 20}


def test_a_rule_on_the_case_state_sees_the_state_the_customer_wrote_back_into(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # docs/rules.md's own example matches `case: {state: waiting_customer}`. The case
    # was reopened ("customer wrote again") before the rules decided on the message, so
    # they always saw `new`: a rule on `waiting_customer` or `resolved` never matched.
    write(
        tmp_path / "rules",
        "name: answered-us\nmatch: {case: {state: waiting_customer}}\n"
        "then: {tag: [answered-us]}\n---\n"
        "name: came-back\nmatch: {case: {state: resolved}}\nthen: {tag: [came-back]}\n---\n"
        "name: fresh\nmatch: {case: {state: new}}\nthen: {tag: [fresh]}\n",
    )
    rows = [mention(1, "@acme my kettle is broken"), mention(2, "@acme my toaster too")]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")})
    run_cycle(rt)
    casework_replies.reply(rt, "C-1001", "Sorry, a new one is on its way.", user="lena")
    dispatch_outbox(rt)
    casework_actions.resolve(rt, "C-1002", user="lena")
    with rt.sessions() as session:
        states = dict(session.execute(select(Case.conversation_id, Case.state)).all())
    assert states == {"1001": "waiting_customer", "1002": "resolved"}
    later = {"created_at": "2026-11-20T11:00:00Z"}
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    append(
        rt,
        mention(3, "@acme thanks, got it", author="user1", author_id="501",
                conversation_id="1001", **later),
        mention(4, "@acme the toaster broke again", author="user2", author_id="502",
                conversation_id="1002", **later),
        mention(5, "@acme and the lid is cracked", author="user2", author_id="502",
                conversation_id="1002", **later),
    )  # fmt: skip
    run_cycle(rt)
    with rt.sessions() as session:
        decided = dict(session.execute(select(Message.external_id, Message.decision)).all())
        states = dict(session.execute(select(Case.conversation_id, Case.state)).all())
    assert decided["1003"]["matched"] == ["answered-us"]
    assert decided["1004"]["matched"] == ["came-back"]
    # The case is open again once the customer has written: their next message sees it.
    assert decided["1005"]["matched"] == ["fresh"]
    assert states == {"1001": "new", "1002": "new"}


ROTATING = """
name: thanks
match: {text: thanks}
then:
  reply: ["Glad to help!", "Happy to help!", "Any time!"]
"""


def replies(rt: object) -> list[str]:
    sessions = rt.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        query = select(ActionRow.text).where(ActionRow.kind == "reply").order_by(ActionRow.id)
        return list(session.scalars(query))


def test_variants_rotate_across_workers_and_reloads(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The turn was the engine's, in memory: each worker, and each reload of the rules,
    # started at the first variant, so two replies in a row posted the same text, which
    # X refuses as a duplicate (notes/platforms.md 8).
    write(tmp_path / "rules", ROTATING)
    rules = {"path": str(tmp_path / "rules")}
    ann, bob, cy = (
        mention(1, "@acme thanks", author="ann", author_id="7"),
        mention(2, "@acme thanks!", author="bob", author_id="8"),
        mention(3, "@acme thanks a lot", author="cy", author_id="9"),
    )
    first = make_runtime([ann], rules=rules)
    run_cycle(first)
    # Another worker on the same database (the feed's cursor is shared: it reads on).
    run_cycle(make_runtime([ann, bob], rules=rules))
    reloader = RuleReloader(first)
    reloader.check()
    running = first.rules
    write(tmp_path / "rules", ROTATING.replace("name: thanks", "# edited\nname: thanks"))
    reloader.check()
    assert first.rules is not running
    append(first, bob, cy)
    run_cycle(first)
    assert replies(first) == ["Glad to help!", "Happy to help!", "Any time!"]


PRIORITIES = """
name: kettle
match: {text: kettle}
then:
  escalate: {team: care, priority: high}
  set_priority: low
---
name: outage
match: {text: down}
then:
  escalate: {team: care, priority: high}
"""


def test_a_priority_a_rule_sets_is_in_the_cases_audit_trail(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A person's priority change is a `priority` event; a rule's was none, so the case
    # page's history (and "changed by" on its priority form) hid who made a case high:
    # here the follow-up, which changes neither the team nor the state.
    write(tmp_path / "rules", PRIORITIES)
    thread = {"author": "ann", "author_id": "7", "conversation_id": "1001"}
    rows = [
        mention(1, "@acme my kettle is broken", **thread),
        mention(2, "@acme and now the site is down", created_at="2026-11-20T10:05:00Z", **thread),
    ]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")})
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        query = select(Event).where(Event.kind == "priority").order_by(Event.id)
        events = [(e.actor, e.detail) for e in session.scalars(query)]
    assert (case.team, case.priority) == ("care", "high")
    # set_priority wins over the escalation's priority: one change, not two.
    assert events == [
        ("kettle", {"old": "normal", "new": "low"}),
        ("outage", {"old": "low", "new": "high"}),
    ]


def test_a_rules_assignment_is_in_the_cases_audit_trail(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A person's assignment is an `assigned` event; a rule's was none, so the case page
    # showed maria working a case nobody had given her, and the dashboard's assign form
    # named the last person who assigned the case as having given it to her.
    write(
        tmp_path / "rules",
        "name: kettles\nmatch: {text: kettle}\nthen:\n  escalate: {team: care}\n  assign: maria\n",
    )
    thread = {"author": "ann", "author_id": "7", "conversation_id": "1001"}
    rows = [
        mention(1, "@acme my kettle is broken", **thread),
        mention(2, "@acme the kettle again", created_at="2026-11-20T10:05:00Z", **thread),
    ]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")})
    create_user(rt, "maria", "agent", PASSWORD, ("care",))
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        query = select(Event).where(Event.kind == "assigned").order_by(Event.id)
        events = [(e.actor, e.detail) for e in session.scalars(query)]
    assert case.assignee == "maria"
    # The second message assigns her again: no event claiming a change.
    assert events == [("kettles", {"old": {"assignee": None}, "new": {"assignee": "maria"}})]


ESCALATIONS = """
name: angry
match: {text: idiots}
then:
  escalate: {team: care, priority: high}
---
name: complaint
match: {text: refund}
then:
  escalate: {team: care, priority: normal, reason: wants a refund}
---
name: praise
match: {text: thanks}
then:
  set_priority: low
"""


def priority_events(rt: object) -> list[tuple[str, dict[str, object]]]:
    sessions = rt.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        query = select(Event).where(Event.kind == "priority").order_by(Event.id)
        return [(e.actor, e.detail) for e in session.scalars(query)]


def test_a_later_escalation_never_lowers_the_cases_priority(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The angry message made the case high; the customer's next one matched a rule
    # escalating at normal, and the case dropped to normal in the team's queue, its
    # alert saying [normal] about a customer who had just insulted the brand.
    write(tmp_path / "rules", ESCALATIONS)
    thread = {"author": "ann", "author_id": "7", "conversation_id": "1001"}
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(200, body=b"ok"), Reply(200, body=b"ok"))
        url = f"json://{hook.base_url.removeprefix('http://')}/hook"
        channels = {"care-chat": {"url": url}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        angry = mention(1, "@acme you are idiots", **thread)
        rt = make_runtime(
            [angry], rules={"path": str(tmp_path / "rules")}, channels=channels, teams=teams
        )
        run_cycle(rt)
        follow_up = mention(2, "@acme I want a refund", created_at="2026-11-20T10:05:00Z", **thread)
        append(rt, follow_up)
        run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        query = select(ActionRow).where(ActionRow.kind == "notify").order_by(ActionRow.id)
        alerts = [row.text.splitlines()[0] for row in session.scalars(query)]
    assert case.priority == "high"
    assert priority_events(rt) == [("angry", {"old": "normal", "new": "high"})]
    # The team's alert names the priority the case ends with.
    assert alerts == [
        "[high] C-1001 escalated: angry",
        "[high] C-1001 escalated: wants a refund",
    ]


def test_the_rules_never_undo_a_persons_priority(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A lead made the case urgent; the customer's next messages matched a rule
    # escalating at normal and one setting low, and the bot silently undid her choice.
    write(tmp_path / "rules", ESCALATIONS)
    thread = {"author": "ann", "author_id": "7", "conversation_id": "1001"}
    rt = make_runtime(
        [mention(1, "@acme I want a refund", **thread)], rules={"path": str(tmp_path / "rules")}
    )
    run_cycle(rt)
    triage.set_priority(rt, "C-1001", "urgent", user="lena")
    append(
        rt,
        mention(2, "@acme still no refund", created_at="2026-11-20T10:05:00Z", **thread),
        mention(3, "@acme thanks anyway", created_at="2026-11-20T10:06:00Z", **thread),
    )
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
    assert case.priority == "urgent"
    assert priority_events(rt) == [("lena", {"old": "normal", "new": "urgent"})]


def test_set_priority_lowers_only_the_priority_of_the_case_its_message_opens(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A thank-you on a case an outage made high dropped it to low while the team still
    # owed the customer an answer. Opening a case, set_priority still sets it (below).
    write(tmp_path / "rules", ESCALATIONS)
    thread = {"author": "ann", "author_id": "7", "conversation_id": "1001"}
    rows = [
        mention(1, "@acme you are idiots", **thread),
        mention(2, "@acme thanks for nothing", created_at="2026-11-20T10:05:00Z", **thread),
        mention(3, "@acme thanks, all good now", author="bob", author_id="8"),
    ]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")})
    run_cycle(rt)
    with rt.sessions() as session:
        priorities = [c.priority for c in session.scalars(select(Case).order_by(Case.id))]
    assert priorities == ["high", "low"]
    assert priority_events(rt) == [
        ("angry", {"old": "normal", "new": "high"}),
        ("praise", {"old": "normal", "new": "low"}),
    ]


def test_an_escalation_at_low_sets_the_case_it_opens_low(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # Escalations only raise a case's priority, but nobody has chosen a new case's
    # normal: a rule escalating at low makes the case it opens low.
    write(
        tmp_path / "rules",
        "name: spares\nmatch: {text: spare}\nthen:\n  escalate: {team: care, priority: low}\n",
    )
    rt = make_runtime(
        [mention(1, "@acme do you sell spare lids?")], rules={"path": str(tmp_path / "rules")}
    )
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
    assert (case.team, case.priority) == ("care", "low")
    assert priority_events(rt) == [("spares", {"old": "normal", "new": "low"})]


def test_a_case_opened_by_an_ignored_message_is_closed_not_queued(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The shipped safety rules ignore retweets, giveaway spam and blocklisted authors:
    # "store the mention and do nothing else". Each still opened a `new` case that sat
    # in the team's queue owing nothing. It is closed as ignored instead, findable with
    # the state filter, and the customer's next real message reopens it as usual.
    from monitor.domain import CaseState
    from monitor.web.queue import QueueFilter, load_queue
    from monitor.web.users import User

    spam = mention(1, "@acme giveaway! follow to win", author="max", author_id="67")
    real = mention(2, "@acme my kettle is broken", author="ann", author_id="7")
    rt = make_runtime([spam, real])
    run_cycle(rt)
    lead = User(0, "lena", "lead", ("care",))
    queued = {row.ref for row in load_queue(rt, lead, QueueFilter()).rows}
    closed = {row.ref for row in load_queue(rt, lead, QueueFilter(state="resolved")).rows}
    with rt.sessions() as session:
        max_case = session.scalars(select(Case).where(Case.conversation_id == "1001")).one()
        ann_case = session.scalars(select(Case).where(Case.conversation_id == "1002")).one()
        event = session.scalars(
            select(Event).where(Event.case_id == max_case.id, Event.kind == "state")
        ).one()
    assert (max_case.state, max_case.sla_due_at) == (CaseState.RESOLVED.value, None)
    assert event.actor == "ignore-giveaway-spam"
    assert max_case.tags == ["giveaway"]  # the shipped rule's tag finds it
    assert event.detail["reason"] == "ignored by rule ignore-giveaway-spam"
    assert (max_case.ref in queued, max_case.ref in closed) == (False, True)
    assert ann_case.ref in queued
    assert ann_case.state != CaseState.RESOLVED.value
    # Another ignored message leaves it closed; a real one reopens it, owing an answer.
    append(rt, mention(3, "@acme RT to win", author="max", author_id="67", conversation_id="1001"))
    run_cycle(rt)
    with rt.sessions() as session:
        assert session.get(Case, max_case.id).state == CaseState.RESOLVED.value  # type: ignore[union-attr]
    append(
        rt,
        mention(
            4, "@acme where is my order?", author="max", author_id="67", conversation_id="1001"
        ),
    )
    run_cycle(rt)
    with rt.sessions() as session:
        again = session.get(Case, max_case.id)
        assert again is not None
        assert again.state != CaseState.RESOLVED.value
        assert again.resolved_at is None


def test_an_ignored_message_leaves_an_open_case_as_it_is(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    from monitor.domain import CaseState

    first = mention(1, "@acme where is my order?", author="max", author_id="67")
    rt = make_runtime([first])
    run_cycle(rt)
    with rt.sessions() as session:
        before = session.scalars(select(Case)).one().state
    assert before != CaseState.RESOLVED.value
    append(
        rt,
        mention(
            2, "@acme giveaway! follow to win", author="max", author_id="67", conversation_id="1001"
        ),
    )
    run_cycle(rt)
    with rt.sessions() as session:
        assert session.scalars(select(Case)).one().state == before


def test_a_case_closed_as_ignored_is_not_timed_as_a_resolution(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # Closed by a rule the moment it opened: nobody's work. Timed, each retweet and
    # giveaway post added a 0-minute resolution and pulled the median down.
    from monitor.web.reports import build_report

    rt = make_runtime([mention(1, "RT @someone: acme kettles!", author="max", author_id="67")])
    run_cycle(rt)
    report = build_report(rt, days=30)
    assert report.resolution == []


IGNORE_TAGGED = """
name: ignore-retweets
match: {text (starts-with): "RT @"}
then:
  ignore: true
  tag: [retweet]
---
name: ignore-giveaway-spam
match: {text: giveaway}
then:
  ignore: true
  tag: [spam]
---
name: answer-everything
match: {}
then:
  reply: "Thanks {first_name}, we're looking into it."
"""


def test_an_ignore_rule_tags_the_case_the_message_joined(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # docs/rules.md: an ignore rule's tags are allowed. They were dropped, so a retweet's
    # case could not be found by its tag, and `tag: [spam]` did not close the case as spam.
    from monitor.domain import CaseState

    write(tmp_path / "rules", IGNORE_TAGGED)
    rows = [
        mention(1, "RT @someone: acme kettles!", author="max", author_id="67"),
        mention(2, "@acme giveaway! follow to win", author="bot", author_id="68"),
        mention(3, "@acme where is my order?", author="ann", author_id="7"),
    ]
    rt = make_runtime(rows, rules={"path": str(tmp_path / "rules")})
    run_cycle(rt)
    # In ann's open case an ignored message tags it and leaves it as it is.
    append(
        rt, mention(4, "RT @acme: kettles!", author="ann", author_id="7", conversation_id="1003")
    )
    # The giveaway bot writing again in its thread: closed as spam, no answer, no reopening.
    append(rt, mention(5, "@acme hello?", author="bot", author_id="68", conversation_id="1002"))
    run_cycle(rt)
    with rt.sessions() as session:
        by_thread = {c.conversation_id: c for c in session.scalars(select(Case))}
        replies = session.scalars(select(ActionRow.case_id).where(ActionRow.kind == "reply")).all()
    retweet, spam, ann = by_thread["1001"], by_thread["1002"], by_thread["1003"]
    assert (retweet.state, retweet.tags) == (CaseState.RESOLVED.value, ["retweet"])
    assert (spam.state, spam.tags) == (CaseState.RESOLVED.value, ["spam"])
    assert ann.state != CaseState.RESOLVED.value
    assert ann.tags == ["retweet"]
    assert list(replies) == [ann.id]
