"""Reply length as X (weighted, twitter-text config v3) and Reddit (escaped body) count it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain import Platform
from monitor.rules.templates import (
    PLATFORM_LIMITS,
    customer_names,
    fill,
    first_name,
    matched_text,
    worst_case_length,
)
from monitor.textlength import _counted_length as full_x_length
from monitor.textlength import (
    brand_text_length,
    reddit_body,
    reply_length,
    reply_length_problem,
    x_length,
)
from tests.rulekit import problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 280, 280),
        ("café, naïve", 11),  # Latin with accents: all below 4352
        ("日本語" * 90, 540),  # CJK weighs 2
        ("“quoted” – ‘dash’", 17),  # 8208-8223 weigh 1
        ("…", 2),  # 8230 is outside the light ranges
        ("Check https://example.com/" + "a" * 280, 6 + 23),  # any link counts 23
        ("see https://example.com/help, then", 4 + 23 + 6),  # the comma is not the link's
        ("Did you see example.com?", 12 + 23 + 1),
        ("mail someone@averyveryverylongdomainname.com", 44),  # an e-mail is no link
        ("http://localhost:8080/" + "a" * 30, 52),  # no known ending: as written
        ("Mr.Smith", 23),  # might be a link to X: counted high, never low
        ("👍", 2),
        ("👍🏽", 2),  # skin tone modifier
        ("👨\u200d👩\u200d👧\u200d👦", 2),  # ZWJ family
        ("🇩🇪", 2),  # flag
        ("❤️", 2),  # with variation selector
        ("1️⃣", 2),  # keycap
        ("e\u0301", 1),  # NFC makes é
    ],
)
def test_x_weighted_length(text: str, expected: int) -> None:
    assert x_length(text) == expected


# Pieces of links (schemes, dots between letters, endings), text around them, and
# characters that are not ASCII: emoji, a keycap, CJK, a combining accent, the K sign.
X_PIECES = st.sampled_from(
    ["a", "Z", "9", " ", ".", "-", "/", "@", "#", "$", ":", "?", "=", ",", "!", "\n", "www",
     "http://", "https://", "com", "co", "de", "example", "bit.ly", "e.g.", "1.5", "U.S.",
     "\u00e9", "e\u0301", "\u212a", "\u2026", "\u65e5", "\U0001f44d", "1\ufe0f\u20e3"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(X_PIECES, max_size=30).map("".join))
def test_the_plain_text_shortcut_counts_as_the_full_rule_does(text: str) -> None:
    assert x_length(text) == full_x_length(text)


def test_a_reply_of_ascii_words_without_a_dotted_name_is_counted_by_its_length() -> None:
    # Nearly every reply: counted without the link and emoji search (~17 us a reply).
    plain = "Thanks Jo! Sorry about that. We've sent you a DM: case C-1, 10% off."
    assert x_length(plain) == full_x_length(plain) == len(plain)
    assert x_length("see acme.com/help.") == full_x_length("see acme.com/help.") == 4 + 23 + 1


def test_problems_use_the_platform_count_and_ignore_surrounding_space() -> None:
    assert reply_length_problem("x", " " * 50 + "a" * 280) is None
    assert reply_length_problem("x", "a" * 281) == "281 characters: x allows 280"
    assert reply_length_problem(Platform.X, "日本語" * 90) == "540 characters: x allows 280"
    assert reply_length_problem("x", "Check https://example.com/" + "a" * 280) is None
    assert reply_length_problem("reddit", "a" * 10_000) is None
    assert reply_length_problem("reddit", "a" * 10_001) == "10001 characters: reddit allows 10000"
    # Reddit counts the escaped body: 9,607 typed characters become 12,006.
    text = "Steps: " + "(see 1) " * 1200
    assert reply_length("reddit", text) == len(reddit_body(text)) == 12_006
    assert reply_length_problem("reddit", text) == "12006 characters: reddit allows 10000"


def test_template_worst_case_is_measured_as_the_platform_counts() -> None:
    assert PLATFORM_LIMITS == {Platform.X: 280, Platform.REDDIT: 10_000}
    cjk = "ご不便をおかけしました、{first_name}さん。" + "確認します。" * 20
    assert len(cjk) < 280 < worst_case_length(cjk, brand="Acme", longest_team=4)
    link = "Hi {author}, the fix: https://status.example.com/" + "x" * 300
    assert worst_case_length(link, brand="Acme", longest_team=4) == 4 + 22 + 10 + 23
    # On Reddit the template is posted as written; the values in it are escaped (_ → \_).
    markdown = "(see {case}) " * 10
    measured = worst_case_length(markdown, brand="Acme", longest_team=4, platform=Platform.REDDIT)
    assert measured == len(markdown.strip()) + 10 * (24 - len("{case}"))


def test_the_customers_words_are_measured_at_their_heaviest() -> None:
    """A display name or matched words in CJK weigh 2 each on X: a template that fits
    with ASCII names must be refused when a CJK name would take it over 280."""
    template = "Hi {first_name}, " + "x" * 245
    assert worst_case_length(template, brand="Acme", longest_team=4) == 3 + 60 + 2 + 245
    assert worst_case_length("{match}", brand="Acme", longest_team=4) == 80
    assert worst_case_length("{author}", brand="Acme", longest_team=4) == 22  # ASCII handles


@pytest.mark.parametrize(
    ("display_name", "expected"),
    [
        ("08005550199", "jane_doe"),  # no phone number in the brand's reply
        ("Jo_99 Smith", "Jo"),
        ("Zoë-Ann O'Neil", "Zoë-Ann"),
        ("山田 太郎", "山田"),
        ("", "jane_doe"),
        # Vowel signs and viramas are marks, not letters: "Hi प" for Priya, "Hi ศ".
        ("प्रिया शर्मा", "प्रिया"),
        ("தமிழ்செல்வி", "தமிழ்செல்வி"),
        ("ศิริพร", "ศิริพร"),
        ("Jose\u0301 Garci\u0301a", "José"),  # decomposed, as some phones send it
        ("\u0301\u0301 \u0308", "jane_doe"),  # marks on nothing are no name
    ],
)
def test_first_name_is_letters_apostrophes_and_hyphens(display_name: str, expected: str) -> None:
    assert first_name(display_name, "jane_doe") == expected


def test_a_persons_reply_is_checked_as_the_platform_counts_it() -> None:
    from monitor.casework import check_reply

    assert check_reply("x", "漢" * 150) == ["300 characters: x allows 280"]
    link = "https://example.com/" + "a" * 300
    assert check_reply("x", f"here you go: {link}", allow_redirect=True) == []  # counts 23
    assert check_reply("reddit", "*" * 6000) == ["12000 characters: reddit allows 10000"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {first_name}, sorry about that.", "Hi, sorry about that."),
        ("Got it, {first_name}. Our team will reply.", "Got it. Our team will reply."),
        ("Thanks {first_name}! We'll update you.", "Thanks! We'll update you."),
        ("{first_name}, thanks for your patience.", "Thanks for your patience."),
        ("Hi {author} {first_name}, case C-1.", "Hi, case C-1."),
    ],
)
def test_an_x_id_standing_in_for_the_handle_is_never_a_name(template: str, expected: str) -> None:
    # X left the author out of includes.users: the id stood in for the handle and the
    # reply read "Hi 783214" or tagged "@783214", whoever holds that handle.
    names = customer_names(Platform.X, "783214", "783214", "")
    assert fill(template, {**names, "case": "C-1"}, platform=Platform.X) == expected
    named = customer_names(Platform.X, "783214", "783214", "Ann Lee")
    assert named == {"author": "", "first_name": "Ann"}
    # A Reddit id is the name itself, lower-cased: it stays.
    reddit = customer_names(Platform.REDDIT, "jane_doe", "jane_doe", "")
    assert reddit == {"author": "u/jane_doe", "first_name": "jane_doe"}


def test_the_reddit_estimate_is_never_below_what_the_customers_words_fill_to() -> None:
    """On Reddit an "&" a customer wrote is posted as "&amp;", five characters: the
    estimate took escaping to double a character at worst, and passed templates that
    the run-time check then refused."""
    words = matched_text("refund " + "&" * 60)
    values = {"match": words, "first_name": "Jane", "author": "u/jane_doe"}
    filled = fill("{match} {first_name}", values, platform=Platform.REDDIT)
    worst = worst_case_length(
        "{match} {first_name}", brand="Acme", longest_team=4, platform=Platform.REDDIT
    )
    assert brand_text_length(Platform.REDDIT, filled) <= worst


def test_check_config_refuses_a_reddit_reply_the_customers_words_can_take_over(
    tmp_path: Path,
) -> None:
    rule = (
        "name: long\nmatch: {platform: reddit, text (regex): 'refund.*'}\n"
        f'then:\n  reply: "{"x" * 9_850} {{match}}"\n'
    )
    found = problems(tmp_path, rule)
    assert len(found) == 1
    assert "reddit allows 10000" in found[0]
