"""Every match key, negation, not:/any:, text modifiers and comparisons."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.domain import CaseState, Label
from monitor.rules.context import Context, Facts
from monitor.sources.replay import parse_mention
from tests.conftest import mention
from tests.rulekit import NOON, decide, engine, score, write

CONTEXT = Context(now=NOON, case_ref="C-1001")


def matched(folder: Path, match: str, text: str = "@acme hello", **kwargs: object) -> bool:
    body = "\n".join("  " + line for line in match.strip().splitlines())
    rule_engine = engine(folder, f"name: probe\nmatch:\n{body}\nthen:\n  tag: [hit]\n")
    return decide(rule_engine, text, **kwargs).matched == ("probe",)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("match", "text", "expected"),
    [
        ('text: "late"', "@acme my order is late", True),
        ('text: "late"', "@acme my order is LATE", True),
        ('text: "late"', "@acme see you later", False),  # whole words by default
        (
            'text: ["refund", "charged twice"]',
            "@acme I was charged  twice",
            True,
        ),  # any run of spaces
        ('text: ["refund", "charged twice"]', "@acme I was Charged twice", True),
        ('text (includes): "late"', "@acme see you later", True),
        ('text (case-sensitive): "ACME"', "@acme hi", False),
        ('text (case-sensitive): "ACME"', "ACME is great", True),
        ('text (starts-with): "RT @"', "RT @lily: nice", True),
        ('text (starts-with): "RT @"', "@acme RT @lily", False),
        ('text (ends-with): "?"', "@acme open today?", True),
        ('text (full-exact): "@acme"', "@acme", True),
        ('text (full-exact): "@acme"', "@acme hi", False),
        ('text (regex): "(is|are) (down|not working)"', "@acme is the site down", False),
        ('text (regex): "(is|are) (down|not working)"', "@acme apps are not working", True),
        ('text (regex, case-sensitive): "^@acme [A-Z]"', "@acme Hello", True),
        ('text (regex, case-sensitive): "^@acme [A-Z]"', "@acme hello", False),
        ('~text: "thanks"', "@acme thanks", False),
        ('~text: "thanks"', "@acme broken", True),
    ],
)
def test_text_checks(tmp_path: Path, match: str, text: str, expected: bool) -> None:
    assert matched(tmp_path, match, text) is expected


@pytest.mark.parametrize(
    ("match", "text", "expected"),
    [
        # X users style text with generators, and zero-width characters hide a word from
        # a filter: a safety rule must read what every reader (and the scorer) reads.
        ('text: "idiots"', "@acme you 𝐢𝐝𝐢𝐨𝐭𝐬", True),
        ('text: "lawyer"', "@acme ｌａｗｙｅｒ next", True),
        ('text: "lawyer"', "@acme calling my law\u200byer", True),
        ('text (starts-with): "RT @"', "RT ＠lily: nice", True),
        ('text (includes): "❤️"', "@acme I ❤ it", True),
        ('text (includes): "❤"', "@acme I ❤️ it", True),
        ('text: "ｒｅｆｕｎｄ"', "@acme refund please", True),
        ('text: "lawyer"', "@acme lawyers", False),
    ],
)
def test_text_is_matched_as_a_reader_sees_it(
    tmp_path: Path, match: str, text: str, expected: bool
) -> None:
    assert matched(tmp_path, match, text) is expected


def test_match_placeholder_shows_styled_words_plainly(tmp_path: Path) -> None:
    rule_engine = engine(
        tmp_path,
        """
        name: refund
        match: {text: refund}
        then: {reply: "Sorry about the {match}, {first_name}."}
        """,
    )
    decision = decide(rule_engine, "@acme my ＲＥＦＵＮＤ", author_name="Jane")
    assert decision.reply is not None
    assert decision.reply.text == "Sorry about the REFUND, Jane."


@pytest.mark.parametrize(
    ("match", "text", "expected"),
    [
        # Inline global flags are allowed only at a pattern's start, where the match
        # mode's wrapper stood: loading raised a raw re.error.
        ("text (regex, case-sensitive): '(?i)acme\\s+down'", "ACME down", True),
        ("text (regex, ends-with): '(?x) error \\s \\d{3}  # a code'", "@acme error 404", True),
        ("text (regex): ['(?s)a.b', 'zzz']", "a\nb", True),
        ("text (regex): ['zzz', 'a.b']", "a\nb", False),  # (?s) stays with its value
        # One group name in two values was "redefinition of group name".
        ("text (regex): ['(?P<n>\\d+) refund', 'order (?P<n>\\d+)']", "order 12", True),
        # \1 in the second value pointed at the first value's group.
        ("text (regex): ['(zz)\\1', '\\b(\\w+) \\1\\b']", "my order is late late", True),
    ],
)
def test_each_regex_value_behaves_as_if_alone(
    tmp_path: Path, match: str, text: str, expected: bool
) -> None:
    assert matched(tmp_path, match, text) is expected


LONG_POST = "My kettle story. " * 700  # 11,900 characters; mentions keep up to 40,000


@pytest.mark.parametrize(
    ("match", "text", "expected"),
    [
        # The 10,000-character cut for regexes applied to every text check.
        ("text: [lawyer, sue you]", LONG_POST + "I am calling my lawyer.", True),
        ("text (includes): '😡'", LONG_POST + "😡", True),
        ("text (ends-with): '?'", LONG_POST + "does it ship to Canada?", True),
        ("text (ends-with): '?'", "b" * 9_999 + "?" + " c" * 1000, False),
        ("text (regex): 'lawyer'", LONG_POST + "I am calling my lawyer.", False),
        ("text (regex): 'kettle'", LONG_POST + "I am calling my lawyer.", True),
    ],
)
def test_only_regexes_stop_at_ten_thousand_characters(
    tmp_path: Path, match: str, text: str, expected: bool
) -> None:
    assert matched(tmp_path, match, text) is expected


def test_match_placeholder_shows_the_leftmost_of_several_regexes(tmp_path: Path) -> None:
    rule_engine = engine(
        tmp_path,
        """
        name: outage
        match:
          text (regex): ['not \\w+', 'checkout \\w+']
        then:
          reply: "Sorry, {match} is never OK. We're looking at it here."
        """,
    )
    decision = decide(rule_engine, "@acme checkout NOT WORKING since noon")
    assert decision.reply is not None
    assert decision.reply.text == "Sorry, checkout NOT is never OK. We're looking at it here."


def test_matched_text_fills_the_match_placeholder(tmp_path: Path) -> None:
    rule_engine = engine(
        tmp_path,
        """
        name: outage
        match:
          text: ["down", "not working"]
        then:
          reply: "Sorry, {match} is never OK. We're looking at it here."
        """,
    )
    decision = decide(rule_engine, "@acme checkout NOT WORKING since noon")
    assert decision.reply is not None
    assert decision.reply.text == "Sorry, NOT WORKING is never OK. We're looking at it here."


def test_the_match_placeholder_takes_a_text_condition_inside_any(tmp_path: Path) -> None:
    # It came out empty ("Sorry about the  trouble"): only top-level conditions counted.
    rule_engine = engine(
        tmp_path,
        """
        name: billing
        match:
          any:
            - label: negative
            - text: ["refund", "invoice"]
        then:
          reply: "Sorry about the {match} trouble, {first_name}."
        """,
    )
    decision = decide(rule_engine, "@acme where is my Refund", author_name="Jane")
    assert decision.reply is not None
    assert decision.reply.text == "Sorry about the Refund trouble, Jane."
    negative = decide(rule_engine, "@acme meh", sentiment=score(Label.NEGATIVE, -0.4))
    assert negative.reply is not None
    assert negative.reply.text == "Sorry about the  trouble, user1."


def test_the_match_placeholder_never_carries_a_link(tmp_path: Path) -> None:
    """A broad regex can match a link the customer wrote; the brand must not post it."""
    rule_engine = engine(
        tmp_path,
        """
        name: order
        match:
          text (regex): 'order \\S+ \\S+'
        then:
          reply: "Looking at {match} now."
        """,
    )
    for text in ("@acme order https://evil.example/pay now", "@acme order evil.co.uk/pay now"):
        decision = decide(rule_engine, text)
        assert decision.reply is not None
        assert decision.reply.text == "Looking at order now now."


ORDER_RULE = """
name: order
match:
  text (regex): 'order \\S+(?: \\S+){0,3}'
then:
  reply: "Looking at {match} now."
"""


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("@acme order jane@example.com please", "order please"),
        ("@acme order jane.doe@example.com please", "order please"),
        ("@acme order jane\uff20example.com please", "order please"),
        ("@acme order 0612345678 please", "order please"),
        ("@acme order +44 20 7946 0958", "order"),
        ("@acme order (555) 123-4567 please", "order please"),
        ("@acme order 555.123.4567 please", "order please"),
        ("@acme order \uff10\uff16\uff11\uff12\uff13\uff14\uff15\uff16 ok", "order ok"),
    ],
)
def test_the_match_placeholder_never_carries_an_email_or_phone_number(
    tmp_path: Path, text: str, shown: str
) -> None:
    """What the customer wrote is public once the brand repeats it: no contact details."""
    decision = decide(engine(tmp_path, ORDER_RULE), text)
    assert decision.reply is not None
    assert decision.reply.text == f"Looking at {shown} now."


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("@acme order 12345 is late", "order 12345 is late"),
        ("@acme order #A-1234 is late", "order #A-1234 is late"),
        ("@acme order 123-456 is late", "order 123-456 is late"),
        ("@acme order 12 and 34 late", "order 12 and 34 late"),
    ],
)
def test_the_match_placeholder_keeps_short_order_numbers(
    tmp_path: Path, text: str, shown: str
) -> None:
    decision = decide(engine(tmp_path, ORDER_RULE), text)
    assert decision.reply is not None
    assert decision.reply.text == f"Looking at {shown} now."


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("@acme order #BoycottAcme now", "order BoycottAcme now"),
        ("@acme order #acme_fail again", "order acme_fail again"),
        ("@acme order ##BoycottAcme $$ACME now", "order BoycottAcme ACME now"),
        ("@acme order $ACME crashed", "order ACME crashed"),
        ("@acme order $BRK.B crashed", "order BRK.B crashed"),
        ("@acme order cost $5 more", "order cost $5 more"),
    ],
)
def test_the_match_placeholder_posts_no_hashtag_or_cashtag(
    tmp_path: Path, text: str, shown: str
) -> None:
    """On X the brand's reply would join a hashtag campaign against it, or show in a
    stock ticker's feed, with words the customer chose."""
    decision = decide(engine(tmp_path, ORDER_RULE), text)
    assert decision.reply is not None
    assert decision.reply.text == f"Looking at {shown} now."


@pytest.mark.parametrize(
    ("match", "sentiment", "expected"),
    [
        ("label: negative", score(Label.NEGATIVE, -0.5), True),
        ("label: [positive, neutral]", score(Label.NEGATIVE, -0.5), False),
        ("~label: positive", score(Label.NEGATIVE, -0.5), True),
        ('compound: "< -0.4"', score(Label.NEGATIVE, -0.5), True),
        ('compound: "< -0.6"', score(Label.NEGATIVE, -0.5), False),
        ('compound: "-1 .. -0.5"', score(Label.NEGATIVE, -0.5), True),
        ('compound: ["> 0.9", "< -0.9"]', score(Label.NEGATIVE, -0.95), True),
        # An unscored mention has no compound (its 0.0 is no reading): no comparison
        # holds for it, or "> -0.5" read every German complaint as calm; "~" matches it.
        ('compound: "> -0.5"', score(Label.UNSCORED, reason="language:de"), False),
        ('compound: "-0.05 .. 0.05"', score(Label.UNSCORED, reason="no-signal"), False),
        ('compound: "!= 0.5"', score(Label.UNSCORED, reason="no-signal"), False),
        ("compound: 0", score(Label.UNSCORED, reason="empty"), False),
        ('~compound: "-1 .. -0.6"', score(Label.UNSCORED, reason="language:de"), True),
        ("label: unscored", score(Label.UNSCORED, reason="language:de"), True),
        ('unscored_reason: "language:*"', score(Label.UNSCORED, reason="language:de"), True),
        ('unscored_reason: "empty"', score(Label.UNSCORED, reason="language:de"), False),
        # Shell-style wildcards match the whole reason, not its end.
        ('unscored_reason: "signal"', score(Label.UNSCORED, reason="no-signal"), False),
        ('unscored_reason: "de"', score(Label.UNSCORED, reason="language:de"), False),
        ('~unscored_reason: "de"', score(Label.UNSCORED, reason="language:de"), True),
        ('unscored_reason: ["empty", "no-*"]', score(Label.UNSCORED, reason="no-signal"), True),
        ("lang: [de, fr]", score(Label.UNSCORED, lang="de-AT", reason="language:de"), True),
        # A rule's value is cut to its primary subtag too, or it could never match.
        ("lang: pt-BR", score(Label.UNSCORED, lang="pt", reason="language:pt"), True),
        ("lang: [en_GB]", score(Label.UNSCORED, lang="en-US"), True),
        ("~lang: de", score(Label.UNSCORED, lang="de", reason="language:de"), False),
    ],
)
def test_sentiment_checks(tmp_path: Path, match: str, sentiment: object, expected: bool) -> None:
    assert matched(tmp_path, match, sentiment=sentiment) is expected


@pytest.mark.parametrize(
    ("match", "fields", "expected"),
    [
        ("platform: reddit", {"platform": "reddit"}, True),
        ("platform: reddit", {}, False),
        ("~platform: reddit", {}, True),
        ("kind: [reply, keyword]", {"kind": "keyword"}, True),
        ("kind: reply", {}, False),
        ("author:\n  handle: ['@User1', 'u/other']", {}, True),
        ("author:\n  handle: someone", {}, False),
        ('author:\n  followers: ">= 1000"', {"author_followers": 1000}, True),
        ('author:\n  followers: ">= 1000"', {"author_followers": 999}, False),
        ('author:\n  followers: "< 1000"', {}, False),  # unknown count passes no comparison
        ("author:\n  verified: true", {"author_verified": True}, True),
        ("author:\n  verified: true", {}, False),
    ],
)
def test_platform_kind_and_author_checks(
    tmp_path: Path, match: str, fields: dict[str, object], expected: bool
) -> None:
    assert matched(tmp_path, match, **fields) is expected


def test_source_and_case_and_history_checks(tmp_path: Path) -> None:
    rule_engine = engine(
        tmp_path,
        """
        name: returning-unhappy
        match:
          source: [x-mentions]
          author:
            earlier_cases: "> 0"
            escalated_before: true
          case:
            state: [waiting_customer, new]
            bot_replies: "< 2"
            minutes_since_bot_reply: "> 1 hours"
        then:
          escalate: {team: care, priority: urgent}
        """,
    )
    good = Context(
        now=NOON,
        case_ref="C-1",
        source="x-mentions",
        case_state=CaseState.WAITING_CUSTOMER,
        earlier_cases=2,
        escalated_before=True,
        bot_replies_in_thread=1,
        last_bot_reply_in_thread_at=NOON - timedelta(minutes=61),
    )
    assert decide(rule_engine, context=good).matched == ("returning-unhappy",)
    for change in (
        {"source": "reddit"},
        {"case_state": CaseState.AWAITING_HUMAN},
        {"earlier_cases": 0},
        {"escalated_before": False},
        {"bot_replies_in_thread": 2},
        {"last_bot_reply_in_thread_at": NOON - timedelta(minutes=59)},
    ):
        bad = Context(**{**_fields(good), **change})  # type: ignore[arg-type]
        assert decide(rule_engine, context=bad).matched == (), change
    # No bot reply yet in the thread counts as infinitely long ago.
    never = Context(**{**_fields(good), "last_bot_reply_in_thread_at": None})
    assert decide(rule_engine, context=never).matched == ("returning-unhappy",)


def _fields(context: Context) -> dict[str, object]:
    return {name: getattr(context, name) for name in Context.__dataclass_fields__}


def test_account_age_uses_the_platform_creation_time(tmp_path: Path) -> None:
    rule_engine = engine(
        tmp_path,
        """
        name: new-account
        match:
          author:
            account_age: "< 7 days"
        then:
          tag: [new-account]
        """,
    )
    from monitor.domain import Author, Mention, Platform

    def with_age(age: timedelta | None) -> tuple[str, ...]:
        created = None if age is None else NOON - age
        author = Author("1", "someone", account_created_at=created)
        item = Mention(Platform.X, "9", author, "@acme hi", NOON, "9")
        return rule_engine.decide(item, score(), Context(now=NOON, case_ref="C-1")).matched

    assert with_age(timedelta(days=2)) == ("new-account",)
    assert with_age(timedelta(days=8)) == ()
    assert with_age(None) == ()  # unknown age never matches


@pytest.mark.parametrize("key", ['~account_age: "> 7 days"', '~followers: ">= 10000"'])
def test_a_negated_comparison_never_matches_an_unknown_value(tmp_path: Path, key: str) -> None:
    # The negation turned "unknown passes no comparison" into "unknown matches".
    rule_engine = engine(tmp_path, f"name: n\nmatch:\n  author: {{{key}}}\nthen: {{tag: [n]}}\n")
    assert decide(rule_engine, "@acme my order is late").matched == ()


def test_author_lists_are_read_from_files_next_to_the_rules(tmp_path: Path) -> None:
    write(tmp_path / "lists", "# key accounts\n@Lily_Bakes\nu/sam  # reddit\n\n", "vip.txt")
    rule_engine = engine(
        tmp_path,
        """
        name: vip
        match:
          author:
            handles_from: lists/vip.txt
        then:
          set_priority: high
        """,
    )
    assert decide(rule_engine, author="lily_bakes").priority == "high"
    assert decide(rule_engine, author="sam", platform="reddit").priority == "high"
    assert decide(rule_engine, author="lily").priority is None


def test_a_list_file_saved_with_a_byte_order_mark_matches_its_first_handle(
    tmp_path: Path,
) -> None:
    # Windows tools save UTF-8 with a BOM; it stuck to the first handle, which never matched.
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "vip.txt").write_bytes("\ufefflily_bakes\r\nsam\r\n".encode())
    rule = "name: vip\nmatch: {author: {handles_from: lists/vip.txt}}\nthen: {tag: [vip]}\n"
    rule_engine = engine(tmp_path, rule)
    assert decide(rule_engine, author="lily_bakes").tags == ("vip",)
    assert decide(rule_engine, author="sam").tags == ("vip",)


def test_a_reddit_handle_written_as_its_link_matches(tmp_path: Path) -> None:
    """Reddit writes a user's link `/u/name`, and people copy it so into a block list or
    a rule (as `brand.accounts` takes it): kept with its slash, the entry never matched,
    and the listed troll was answered like anyone else."""
    write(tmp_path / "lists", "/u/Troll_1\n/U/troll_2\n", "blocked.txt")
    rule_engine = engine(
        tmp_path,
        """
        name: blocked
        match:
          any:
            - author: {handles_from: lists/blocked.txt}
            - author: {handle: /u/troll_3}
        then:
          ignore: true
        """,
    )
    for troll in ("troll_1", "troll_2", "troll_3"):
        assert decide(rule_engine, author=troll, platform="reddit").ignored, troll
    assert not decide(rule_engine, author="someone", platform="reddit").ignored


def test_not_and_any_blocks(tmp_path: Path) -> None:
    rule_engine = engine(
        tmp_path,
        """
        name: complaint
        match:
          any:
            - label: negative
            - text: ["broken", "on hold"]
          not:
            text: "just kidding"
            platform: x
        then:
          tag: [complaint]
        """,
    )
    negative = score(Label.NEGATIVE, -0.3)
    assert decide(rule_engine, "@acme meh", sentiment=negative).matched == ("complaint",)
    assert decide(rule_engine, "@acme it is broken").matched == ("complaint",)
    assert decide(rule_engine, "@acme fine").matched == ()
    assert decide(rule_engine, "@acme broken, just kidding").matched == ()
    kidding_on_reddit = decide(rule_engine, "broken, just kidding", platform="reddit")
    assert kidding_on_reddit.matched == ("complaint",)


def test_business_hours_in_the_team_time_zone(tmp_path: Path) -> None:
    from datetime import date

    from tests.rulekit import week

    berlin = week({"mon-fri": "09:00-17:00"}, "Europe/Berlin", date(2026, 12, 24))
    rule_engine = engine(
        tmp_path,
        """
        name: after-hours
        match:
          ~business_hours: care
        then:
          tag: [after-hours]
        """,
        care=berlin,
    )

    def at(moment: str) -> tuple[str, ...]:
        from datetime import datetime

        now = datetime.fromisoformat(moment)
        return decide(rule_engine, context=Context(now=now, case_ref="C-1")).matched

    assert at("2026-11-20T07:59:00+00:00") == ("after-hours",)  # 08:59 in Berlin
    assert at("2026-11-20T08:00:00+00:00") == ()  # 09:00 in Berlin, a Friday
    assert at("2026-11-20T16:00:00+00:00") == ("after-hours",)  # 17:00, closed
    assert at("2026-11-21T10:00:00+00:00") == ("after-hours",)  # Saturday
    assert at("2026-12-24T10:00:00+00:00") == ("after-hours",)  # a holiday
    assert at("2026-07-20T07:30:00+00:00") == ()  # 09:30 summer time (UTC+2)


def test_a_regex_is_searched_only_once_the_cheaper_conditions_beside_it_hold(
    tmp_path: Path,
) -> None:
    """A regex written before a word list beside it ran on every mention, though the word
    set answers most of them at once; ``{match}`` still shows the condition written first."""
    rule_engine = engine(
        tmp_path,
        r"""
        name: refund-gone-wrong
        match:
          text (regex): '\bstill\s+no\s+refunds?\b'
          text: ["refund", "refunds"]
        then:
          reply: "Sorry about the {match}, {first_name}."
        """,
    )
    matcher = rule_engine.rules[0].matcher
    facts = Facts(parse_mention(mention(1, "@acme my parcel is late")), score(), CONTEXT)
    assert matcher.find(facts) is None
    assert not [key for key in facts.memo if key.startswith("regex_text")]
    decision = decide(rule_engine, "@acme Still no REFUND", author_name="Jane")
    assert decision.reply is not None
    assert decision.reply.text == "Sorry about the Still no REFUND, Jane."
