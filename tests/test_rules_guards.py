"""Guards no rule can switch off, rule order, actions, and template filling."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.domain import Label, Platform, Priority
from monitor.rules.context import Context
from monitor.rules.engine import RuleEngine
from tests.rulekit import NOON, decide, engine, score

REPLY_ALL = """
name: reply-all
match: {}
then:
  reply: ["First {first_name}.", "Second {first_name}.", "Third {first_name}."]
"""


def test_own_accounts_are_never_acted_on_even_by_a_catch_all_rule(tmp_path: Path) -> None:
    rules = engine(tmp_path, REPLY_ALL)
    for handle, platform in (("acme", "x"), ("ACME", "x"), ("acme_official", "reddit")):
        decision = decide(rules, author=handle, platform=platform)
        assert decision.ignored
        assert decision.reply is None
        assert decision.matched == ()
    assert decide(rules, kind="own").ignored
    assert decide(rules, context=Context(now=NOON, case_ref="C-1", own_post=True)).ignored


def test_thread_cap_and_author_cooldown(tmp_path: Path) -> None:
    rules = engine(tmp_path, REPLY_ALL)
    capped = decide(rules, context=Context(now=NOON, case_ref="C-1", bot_replies_in_thread=2))
    assert capped.reply is None
    assert capped.notes == ("guard: already 2 bot replies in this thread",)
    assert capped.escalation is None
    recent = Context(
        now=NOON, case_ref="C-1", last_bot_reply_to_author_at=NOON - timedelta(minutes=29)
    )
    assert decide(rules, context=recent).notes == (
        "guard: author cooldown: the bot replied to this author recently",
    )
    later = Context(
        now=NOON, case_ref="C-1", last_bot_reply_to_author_at=NOON - timedelta(minutes=31)
    )
    assert decide(rules, context=later).reply is not None


def test_reply_forbidden_by_the_platform_goes_to_a_person(tmp_path: Path) -> None:
    decision = decide(engine(tmp_path, REPLY_ALL), reply_allowed=False)
    assert decision.reply is None
    assert decision.escalation is not None
    assert (decision.escalation.team, decision.escalation.rule) == ("care", "guard")
    # An X mention that takes no reply names a brand account other than the one the
    # replies come from: X's API refuses that reply, X's own app does not.
    assert decision.notes == (
        "guard: X refuses replies to posts that do not mention the account the replies "
        "come from, whichever other brand account they name; answer from X's app",
    )


def test_reply_over_the_platform_limit_escalates_instead_of_truncating(tmp_path: Path) -> None:
    rules = engine(
        tmp_path,
        """
        name: long-on-reddit
        match: {platform: reddit}
        then:
          reply: "{first_name}"
        """,
    )
    # check-config bounds every template with the longest values, so only a limit
    # lower than the checked one (X's weighted counting, a changed brand name) can
    # trip this at run time; inject one.
    strict = RuleEngine(
        rules.ruleset, teams=rules.teams, limits={Platform.X: 280, Platform.REDDIT: 9}
    )
    decision = decide(strict, "a long post", platform="reddit", author_name="Maximilian")
    assert decision.reply is None
    assert decision.escalation is not None
    assert decision.escalation.rule == "guard"
    # "Maximilian": 10 as Reddit counts it.
    assert decision.notes == ("guard: the filled reply has 10 characters, over the 9 limit",)


def test_the_guards_block_only_past_their_bounds(tmp_path: Path) -> None:
    # A reply as long as the platform allows, a mention exactly max_age old, an author
    # answered exactly a cooldown ago and a thread one reply under the cap are all
    # answered; one character, one second or one reply more is not.
    rules = engine(
        tmp_path,
        """
        name: name-only
        match: {}
        then:
          reply: "{first_name}"
        """,
    )
    written = NOON - timedelta(hours=2)  # the mention's created_at (tests.conftest.mention)
    limits = {Platform.X: 280, Platform.REDDIT: 10}  # "Maximilian": 10 as Reddit counts it
    at_limit = RuleEngine(rules.ruleset, teams=rules.teams, limits=limits)
    assert decide(at_limit, platform="reddit", author_name="Maximilian").reply is not None
    over = RuleEngine(rules.ruleset, teams=rules.teams, limits={**limits, Platform.REDDIT: 9})
    assert decide(over, platform="reddit", author_name="Maximilian").reply is None

    def reply_with(now: datetime = NOON, **context: Any) -> tuple[str | None, tuple[str, ...]]:
        found = decide(rules, context=Context(now, "C-1", **context), author_name="Ann")
        return (found.reply.text if found.reply else None, found.notes)

    day = timedelta(hours=24)
    assert reply_with(now=written + day) == ("Ann", ())
    assert reply_with(now=written + day + timedelta(seconds=1)) == (
        None,
        ("guard: the mention is 24 h old; the bot answers fresh mentions only",),
    )
    cooldown = timedelta(minutes=30)
    assert reply_with(last_bot_reply_to_author_at=NOON - cooldown) == ("Ann", ())
    assert reply_with(last_bot_reply_to_author_at=NOON - cooldown + timedelta(seconds=1)) == (
        None,
        ("guard: author cooldown: the bot replied to this author recently",),
    )
    assert reply_with(bot_replies_in_thread=1) == ("Ann", ())
    assert reply_with(bot_replies_in_thread=2)[0] is None


def test_a_draft_is_offered_past_the_bots_caps(tmp_path: Path) -> None:
    # A person approves a draft: the thread cap, the author cooldown and the age limit
    # are for the bot's own replies, and a draft kept from the team left them nothing.
    rules = engine(tmp_path, 'name: drafted\nmatch: {}\nthen:\n  draft: "Hi {first_name}"\n')
    capped = Context(
        NOON + timedelta(days=3),
        "C-1",
        bot_replies_in_thread=5,
        last_bot_reply_to_author_at=NOON + timedelta(days=3),
    )
    decision = decide(rules, context=capped, author_name="Ann")
    assert decision.reply is not None
    assert (decision.reply.text, decision.reply.draft, decision.notes) == ("Hi Ann", True, ())


def test_variants_rotate_so_consecutive_replies_differ(tmp_path: Path) -> None:
    rules = engine(tmp_path, REPLY_ALL)
    texts = [decide(rules, author_name="Ann").reply.text for _ in range(4)]  # type: ignore[union-attr]
    assert texts == ["First Ann.", "Second Ann.", "Third Ann.", "First Ann."]


def test_safety_rules_run_first_then_priority_then_file_order(tmp_path: Path) -> None:
    rules = engine(
        tmp_path,
        """
        name: low
        priority: -5
        match: {text: refund}
        then: {reply: "low", tag: [low]}
        ---
        name: high
        priority: 10
        match: {text: refund}
        then: {reply: "high {team}", escalate: {team: billing, priority: urgent}, tag: [high]}
        ---
        name: plain
        match: {text: refund}
        then: {tag: [plain], assign: dana, set_priority: low}
        ---
        name: stopper
        priority: -100
        match: {text: "stop now"}
        then: {tag: [stopped], stop: true}
        """,
    )
    decision = decide(rules, "@acme refund please")
    assert decision.matched == ("high", "plain", "low")
    assert decision.reply is not None
    assert decision.reply.text == "high billing"
    assert decision.escalation is not None
    assert (decision.escalation.priority, decision.escalation.sla_minutes) == (Priority.URGENT, 60)
    assert decision.tags == ("high", "plain", "low")
    assert (decision.assignee, decision.priority) == ("dana", Priority.LOW)
    # The stop rule has the lowest priority but, as a safety rule, runs first.
    stopped = decide(rules, "@acme refund, stop now")
    assert stopped.matched == ("stopper",)
    assert stopped.reply is None


def test_ignore_stores_and_does_nothing_else(tmp_path: Path) -> None:
    rules = engine(
        tmp_path,
        """
        name: spam
        match: {text: giveaway}
        then: {ignore: true, tag: [spam]}
        ---
        name: negative
        match: {label: negative}
        then: {escalate: {team: care}}
        """,
    )
    decision = decide(rules, "@acme giveaway", sentiment=score(Label.NEGATIVE, -0.4))
    assert decision.ignored
    assert decision.escalation is None
    assert (decision.matched, decision.tags) == (("spam",), ("spam",))


def test_rule_tags_are_lower_cased_as_a_persons_are(tmp_path: Path) -> None:
    # The dashboard lower-cases the tags people add and remove: "VIP" from a rule could
    # not be removed there, nor found by the queue's tag filter on PostgreSQL.
    rules = engine(tmp_path, "name: vip\nmatch: {text: hi}\nthen: {tag: [VIP, ' Press ']}\n")
    assert decide(rules, "@acme hi").tags == ("vip", "press")


def test_disabled_rules_do_not_run(tmp_path: Path) -> None:
    rules = engine(tmp_path, "name: paused\nenabled: false\nmatch: {}\nthen: {tag: [x]}\n")
    assert rules.rules == []
    assert decide(rules).matched == ()


def test_placeholders_are_filled_once_from_bounded_values(tmp_path: Path) -> None:
    rules = engine(
        tmp_path,
        """
        name: all-placeholders
        match: {text (regex): "order \\\\S+"}
        then:
          reply: "{author} {first_name} {case} {team} {brand} [{match}]"
        """,
    )
    decision = decide(
        rules,
        "@acme order {case}@everyone" + "x" * 100,
        author="user1",
        author_name="  Zoë-Ann O'Neil ",
        context=Context(now=NOON, case_ref="C-1234"),
    )
    assert decision.reply is not None
    expected_match = ("order {case}everyone" + "x" * 100)[:40]
    assert decision.reply.text == f"@user1 Zoë-Ann C-1234 care Acme [{expected_match}]"


def test_rules_test_follows_the_threads_state_as_the_daemon_does(tmp_path: Path) -> None:
    """`rules test` decides a follow-up seeing the bot's earlier reply in the thread,
    the case state that reply left, and the source given with --source."""
    from monitor.domain import Author, Mention
    from monitor.rules.dryrun import dry_run
    from monitor.scoring import Scorer

    rules = engine(
        tmp_path / "rules",
        """
        name: first-ack
        match: {case: {bot_replies: "< 1"}}
        then: {reply: "Sorry {first_name}, we're on it (case {case})."}
        ---
        name: quick-follow-up
        match: {case: {minutes_since_bot_reply: "< 60"}}
        then: {tag: [follow-up]}
        ---
        name: thread-state
        match: {case: {state: auto_replied}}
        then: {tag: [was-answered]}
        ---
        name: from-search
        match: {source: brand-search}
        then: {tag: [searched]}
        """,
    )

    def late(i: int, minutes: int) -> Mention:
        at = NOON + timedelta(minutes=minutes)
        return Mention(Platform.X, str(i), Author("7", "jane"), "@acme order late", at, "t-1")

    first, second = (
        decision
        for _, _, decision in dry_run(
            rules, Scorer(), [late(1, 0), late(2, 40)], source="brand-search"
        )
    )
    assert first.reply is not None
    assert "searched" in first.tags
    assert {"follow-up", "was-answered"} <= set(second.tags)


def test_rules_test_keeps_each_customers_case_state_apart(tmp_path: Path) -> None:
    """A case is one customer in one thread: another customer writing in a thread where
    the first was handed to a person has a new case of their own, in `rules test` as in
    the daemon. The bot's replies are still counted over the whole thread."""
    from monitor.domain import Author, Mention
    from monitor.rules.dryrun import dry_run
    from monitor.scoring import Scorer

    rules = engine(
        tmp_path / "rules",
        """
        name: lawyer-to-human
        match: {text: lawyer}
        then: {escalate: {team: care}, stop: true}
        ---
        name: welcome
        match: {case: {state: new}}
        then: {tag: [first-contact]}
        ---
        name: waiting
        match: {case: {state: awaiting_human}}
        then: {tag: [with-a-person]}
        """,
    )
    jane = Mention(Platform.X, "1", Author("7", "jane"), "@acme my lawyer", NOON, "t-1")
    at = NOON + timedelta(minutes=5)
    tom = Mention(Platform.X, "2", Author("8", "tom"), "@acme same here", at, "t-1")
    again = Mention(Platform.X, "3", Author("7", "jane"), "@acme hello?", at, "t-1")
    decisions = [d for _, _, d in dry_run(rules, Scorer(), [jane, tom, again])]
    assert decisions[1].tags == ("first-contact",)
    assert decisions[2].tags == ("with-a-person",)


def test_first_name_keeps_the_vowel_signs_of_its_script(tmp_path: Path) -> None:
    # Devanagari, Tamil and Thai write vowels as marks after a letter; the name was cut
    # at the first one, and the bot greeted Priya as "प" in public.
    rules = engine(tmp_path, "name: thanks\nthen: {reply: 'Thanks {first_name}!'}\n")
    for display_name, greeted in (("प्रिया शर्मा", "प्रिया"), ("ศิริพร ใจดี", "ศิริพร")):
        decision = decide(rules, author_name=display_name)
        assert decision.reply is not None
        assert decision.reply.text == f"Thanks {greeted}!"


@pytest.mark.parametrize(
    ("template", "posted"),
    [
        ("{first_name}! Thanks for the kind words.", "Thanks for the kind words."),
        ("{first_name}. We're on it (case {case}).", "We're on it (case C-1001)."),
        ("{author} - sorry about that.", "Sorry about that."),
        ("Thanks {first_name}!", "Thanks!"),
        ("{first_name}, thanks!", "Thanks!"),
    ],
)
def test_an_unknown_name_leaves_no_stray_punctuation_at_the_start(
    tmp_path: Path, template: str, posted: str
) -> None:
    """X sent no profile (the handle is the user id): the reply opened with "! Thanks"."""
    rules = engine(tmp_path, f'name: thanks\nthen: {{reply: "{template}"}}\n')
    decision = decide(rules, author="501", author_id="501")
    assert decision.reply is not None
    assert decision.reply.text == posted


def test_a_reply_that_fills_to_nothing_goes_to_a_person(tmp_path: Path) -> None:
    """A template of placeholders only ("{first_name}!"), for an author X sent no
    profile for, filled to nothing: the empty reply was planned and queued, and the
    customer got no answer from the bot nor a person."""
    rules = engine(tmp_path, 'name: greet\nthen: {reply: "{first_name}!"}\n')
    decision = decide(rules, author="501", author_id="501")
    assert decision.reply is None
    assert decision.escalation is not None
    assert decision.escalation.rule == "guard"
    assert decision.notes == ("guard: the filled reply has no words (its placeholders were empty)",)


@pytest.mark.parametrize("template", ["❤️", "🙌🙏", "{first_name} 👍"])
def test_an_emoji_reply_is_posted(tmp_path: Path, template: str) -> None:
    """An emoji is a reply ("❤️" to praise), not a reply that fills to nothing: only a
    reply with neither words nor symbols is withheld."""
    rules = engine(tmp_path, f'name: thanks\nthen: {{reply: "{template}"}}\n')
    decision = decide(rules, author="501", author_id="501")
    assert decision.reply is not None
    assert decision.escalation is None
