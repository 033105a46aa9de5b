"""The fast paths for text conditions agree with the plain regex they stand in for."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain import Author, Label, Mention, Platform, Score
from monitor.rules.checks import Pattern
from monitor.rules.context import Context, Facts
from monitor.rules.templates import matched_text
from monitor.rules.textmatch import AnyOf, as_read, compile_text, words_of
from tests.rulekit import NOON

# Includes the characters where re.IGNORECASE and str.lower() disagree (K sign, long s,
# dotted and dotless i), which the fast paths must handle like the regex.
ALPHABET = st.sampled_from(list("abcdeiksAB '’-_.,!?#@12éÉßK\u212a\u017f\u0130\u0131😡 \n"))
WORDS = st.lists(
    st.text(ALPHABET, min_size=1, max_size=8).filter(str.strip), min_size=1, max_size=4
)
MODIFIERS = st.sampled_from([(), ("case-sensitive",), ("includes",), ("starts-with",)])


def facts(text: str) -> Facts:
    mention = Mention(Platform.X, "1", Author("1", "someone"), text, NOON, "1")
    return Facts(mention, Score(0, 0, 1, 0, Label.NEUTRAL), Context(now=NOON, case_ref="C-1"))


@settings(max_examples=400, deadline=None)
@given(values=WORDS, text=st.text(ALPHABET, max_size=40), modifiers=MODIFIERS)
def test_fast_paths_agree_with_the_full_regex(
    values: list[str], text: str, modifiers: tuple[str, ...]
) -> None:
    compiled = compile_text(values, modifiers)
    # The engine reads text as a reader sees it (NFKC, typographic apostrophes as "'").
    expected = compiled.full.search(as_read(text)) is not None
    check = Pattern("text", "text", compiled, negate=False)
    mention_facts = facts(text)
    assert (check.find(mention_facts) is not None) == expected
    if expected and compiled.index is not None:
        # The engine may skip the rule when none of its index words occur.
        assert compiled.index & words_of(as_read(text).lower())


@pytest.mark.parametrize("text", ["\u017fale", "\u0130tem", "\u0131tem", "\u212aettle"])
def test_unicode_case_folds_match_like_the_regex(text: str) -> None:
    compiled = compile_text(["sale", "item", "kettle"], ())
    check = Pattern("text", "text", compiled, negate=False)
    assert compiled.full.search(text) is not None
    assert check.find(facts(text)) is not None


def test_matched_text_keeps_the_customers_spelling() -> None:
    compiled = compile_text(["refund", "charged twice"], ())
    check = Pattern("text", "text", compiled, negate=False)
    mention_facts = facts("I want a REFUND now")
    assert check.find(mention_facts) == "refund"  # the fast path answers in lower case
    assert check.as_written(mention_facts) == "REFUND"


@pytest.mark.parametrize(
    ("pattern", "rejected"),
    [
        ("(a+)+b", True),
        ("(.*a){20}", True),
        ("(?:a|b+)*c", True),
        ("(?=(a+)+)", True),
        ("(a|aa)*c", True),
        ("(a|a)*c", True),
        ("(.|\\s)*c", True),
        ("(cat|\\w)+", True),
        # Small counts multiply the ways to split a failing match just as well.
        ("^(\\w+\\s?){1,9}$", True),
        ("(.*a){9}x", True),
        ("(a{1,50}){1,9}b", True),
        ("(?:\\d\\d?[-. ]?)+x", True),
        ("(a?){3}b", True),
        ("(a|){2}b", True),
        ("(\\d{1,3}\\.){3}\\d{1,3}", False),  # each pass ends at a "."
        ("(?:\\w+ ){2,5}", False),
        ("(ab|a)+", False),  # the next pass cannot start with "b"
        ("(\\d+\\.){3}", False),  # a small bounded repeat
        ("(foo|bar)+", False),  # alternatives start with different letters
        ("(x|y)*", False),
        ("(is|are) (down|not working)", False),
        ("\\b(refund|refunds)\\b", False),
        # Two unbounded repeats in a row that can take the same characters: each
        # search start tries every way of cutting a run between them (minutes on a
        # 10,000-character post), though neither is inside the other.
        ("\\S+@\\S+\\.com", True),
        (".*a.*b", True),
        ("\\d+\\d+x", True),
        ("(\\w+)\\s*(\\w+)!", True),
        (".*?refund.*?now", True),
        ("\\w+(is|are).*down", True),
        ("[^@\\s]+@\\S+\\.com", False),  # the first cannot take the "@"
        ("order \\S+ \\S+", False),  # the space ends the first
        ("refund.*order", False),
        (".{0,100}a.{0,100}b", False),  # bounded: at most 100 x 100 cuts per start
        ("\\w++\\s*\\w+!", False),  # possessive: gives nothing back
        # A backreference or a conditional between the two: the second repeat still
        # cuts the run anew (seconds on 2,000 characters of "a").
        ("(\\w+)\\1\\w+!", True),
        ("(?P<w>\\w+)(?P=w)\\w+!", True),
        ("(a)?(?(1)\\w+|b)\\w+!", True),
        ("(a)(?(1)\\w+)\\w+!", True),
        # The first, or the second, inside alternatives, an optional group or a
        # conditional's branch.
        ("(?:\\w+|b)\\w+!", True),
        ("(?:x|\\w+)\\w+!", True),
        ("(?:\\w+)?\\w+!", True),
        ("\\w+(?:x|\\w+)!", True),
        ("\\w+(?:\\w+)?!", True),
        # A backreference to a long repeat is a repeat of the same characters again.
        ("(a+)\\1b", True),
        ("\\b(\\w+)\\s+\\1\\b", False),  # the space ends the word and starts nothing
        ("(?:refund|\\d+) \\w+", False),
        ("(a)?(?(1)b|c)\\w+", False),
    ],
)
def test_backtracking_guard(pattern: str, rejected: bool) -> None:
    from monitor.rules.textmatch import regex_problem

    assert (regex_problem(pattern) is not None) is rejected


@pytest.mark.parametrize(
    ("found", "posted"),
    [
        ("order for @carla", "order for carla"),
        ("order for ＠carla", "order for carla"),  # X takes the full-width sign as "@"
        ("order for u/carla", "order for carla"),  # Reddit notifies u/ and /u/ names
        ("order for /u/carla_1", "order for carla_1"),
        ("order from menu/usb", "order from menu/usb"),  # not a username mention
    ],
)
def test_matched_text_mentions_nobody(found: str, posted: str) -> None:
    """A broad regex (``order \\S+``) can match a handle the customer wrote; posted in
    the brand's reply it would tag that person."""
    assert matched_text(found) == posted


@pytest.mark.parametrize("text", ["still not  working", "still not\nworking", "not\u00a0working"])
def test_phrases_match_across_any_run_of_spaces(text: str) -> None:
    compiled = compile_text(["not working", "refund"], ())
    check = Pattern("text", "text", compiled, negate=False)
    assert check.find(facts(text)) is not None
    assert check.find(facts("nothing working")) is None


def test_a_phrase_is_prefiltered_whole_and_still_found_across_spaces() -> None:
    # The prefilter looks for the whole phrase (not only its longest word, which let
    # many more mentions through to the regex), in the text with each run of spaces
    # as one, so a double space or a line break still reaches the regex.
    compiled = compile_text(["not working", "refund"], ())
    assert compiled.prefilter == ("not working",)
    check = Pattern("text", "text", compiled, negate=False)
    assert check.find(facts("still not \n working")) is not None
    assert check.find(facts("working, not really")) is None


def test_a_phrase_list_is_ruled_out_by_the_words_of_the_mention() -> None:
    # The longest word of each phrase: a mention holding none of them as a whole word
    # holds none of the phrases, found with one set operation instead of a loop over
    # every phrase of the list (33 in answer-common-questions).
    compiled = compile_text(["not working", "still waiting on", "can't log in", "refund"], ())
    assert compiled.keywords == frozenset({"working", "waiting", "can"})
    check = Pattern("text", "text", compiled, negate=False)
    assert check.find(facts("app is NOT\nworking")) == "NOT\nworking"
    assert check.find(facts("I CAN’T log in")) == "CAN'T log in"
    assert check.find(facts("works, not really")) is None
    # A phrase with no word gives no such set; nor do values that are not phrases.
    assert compile_text(["not working", "?!"], ()).keywords is None
    assert compile_text(["refund"], ()).keywords is None
    assert compile_text([r"not\s+working"], ("regex",)).keywords is None


# The characters where re.IGNORECASE and str.lower() disagree among the letters.
PHRASE_WORDS = st.sampled_from(["ab", "ka", "K", "\u212a", "s", "\u017f", "i", "\u0131", "x1"])
PHRASE_GAPS = st.sampled_from(list(" -'\u2019\n.\u0130_"))
PHRASES = st.lists(
    st.lists(PHRASE_WORDS, min_size=1, max_size=3).flatmap(
        lambda words: st.sampled_from([" ", "-", "'", "  "]).map(lambda gap: gap.join(words))
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=400, deadline=None)
@given(
    values=PHRASES,
    text=st.lists(st.one_of(PHRASE_WORDS, PHRASE_GAPS)).map("".join),
    case_sensitive=st.booleans(),
)
def test_phrase_key_words_agree_with_the_full_regex(
    values: list[str], text: str, case_sensitive: bool
) -> None:
    compiled = compile_text(values, ("case-sensitive",) if case_sensitive else ())
    expected = compiled.full.search(as_read(text)) is not None
    check = Pattern("text", "text", compiled, negate=False)
    assert (check.find(facts(text)) is not None) == expected


@pytest.mark.parametrize("text", ["late  order", "late\norder", "late\t \torder"])
def test_a_regex_literal_with_spaces_is_prefiltered_in_the_spaced_text(text: str) -> None:
    compiled = compile_text([r"late\s+order"], ("regex",))
    check = Pattern("text", "text", compiled, negate=False)
    assert check.find(facts(text)) is not None
    literal = compile_text(["late  order"], ("regex",))
    assert literal.prefilter == ("late order",)
    assert Pattern("text", "text", literal, negate=False).find(facts("a late  order")) is not None


def test_a_regex_with_alternatives_is_prefiltered_by_the_words_it_needs() -> None:
    # "\b(trips?|tripped)\s+fuse" cannot match without "trip" (or "fuse"), "\b(burn|scald)"
    # without "burn" or "scald": most mentions hold neither, and a list of such regexes
    # was searched in full on every one of them.
    compiled = compile_text(
        [r"\b(trips?|tripped)\s+(the\s+)?fuses?\b", r"\b(burn(s|t)?|scald)\s+my\b"], ("regex",)
    )
    assert compiled.prefilter == ("trip", "burn", "scald")
    check = Pattern("text", "regex_text", compiled, negate=False)
    assert check.find(facts("it tripped the FUSE")) == "tripped the FUSE"
    assert check.find(facts("scald my hand")) == "scald my"
    assert check.find(facts("I tripped over it")) is None


def test_each_regex_of_a_list_is_searched_only_when_its_words_occur() -> None:
    compiled = compile_text(
        [r"\bspark(s|ed)\b", r"(a|b)\s+c", r"\bblew\s+(a|the)\s+fuse"], ("regex",)
    )
    assert compiled.prefilter == ()  # "(a|b)\s+c" needs no literal of two letters
    assert isinstance(compiled.rest, AnyOf)
    assert compiled.rest.needs == (("spark",), (), ("blew",))
    check = Pattern("text", "regex_text", compiled, negate=False)
    assert check.find(facts("b c and it sparked")) == "b c"
    assert check.find(facts("it sparked, then a c")) == "sparked"


REGEX_PARTS = st.sampled_from(
    ["ab", "K", "\u212a", "s", "ſ", "i", "(ab|cd)", "(?:ki|sa)+", "x?", "\\s+", ".", "\\b",
     "(?!ab)", "[a-c]", "(?i:ab)", "(?-i:AB)", "(ab|)", "(?:ab){2}"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    patterns=st.lists(st.lists(REGEX_PARTS, min_size=1, max_size=4).map("".join), max_size=3),
    text=st.text(ALPHABET, max_size=40),
    case_sensitive=st.booleans(),
)
def test_regex_prefilters_agree_with_the_full_regex(
    patterns: list[str], text: str, case_sensitive: bool
) -> None:
    modifiers = ("regex", "case-sensitive") if case_sensitive else ("regex",)
    compiled = compile_text([*patterns, "zz"], modifiers)
    expected = compiled.full.search(as_read(text))
    check = Pattern("text", "regex_text", compiled, negate=False)
    assert check.find(facts(text)) == (None if expected is None else expected.group(0))


ALL_MODES = st.sampled_from(
    [
        *((), ("case-sensitive",), ("includes",), ("starts-with",), ("ends-with",)),
        *(("full-exact",), ("includes", "case-sensitive"), ("regex",)),
    ]
)


@settings(max_examples=400, deadline=None)
@given(values=WORDS, text=st.text(ALPHABET, max_size=40), modifiers=ALL_MODES)
def test_a_text_check_matches_only_what_the_rule_index_requires(
    values: list[str], text: str, modifiers: tuple[str, ...]
) -> None:
    # The index skips a rule when the mention lacks what its text check needs: a check
    # that matches must never lack it.
    if "regex" in modifiers:
        values = [re.escape(value) for value in values]
    compiled = compile_text(values, modifiers)
    needs = Pattern("text", "text", compiled, negate=False).needs()
    mention_facts = facts(text)
    if needs is None or compiled.full.search(mention_facts.text) is None:
        return
    lowered = mention_facts.lowered
    assert needs.words & mention_facts.words or any(x in lowered for x in needs.literals)


def test_emoji_and_starts_with_values_are_looked_up_as_literals() -> None:
    assert compile_text(["👎", "😡"], ("includes",)).prefilter == ("👎", "😡")
    assert compile_text(["RT  @"], ("starts-with",)).prefilter == ("rt @",)
    # A cased letter beyond ASCII: "É" matches "é", which str.lower() leaves as "é" but
    # is not how every fold agrees ("ß", "İ"): such values are searched, not looked up.
    assert compile_text(["CAFÉ"], ("includes",)).prefilter == ()
    assert (
        Pattern("text", "text", compile_text(["CAFÉ"], ("includes",)), False).find(
            facts("un café noir")
        )
        == "café"
    )
