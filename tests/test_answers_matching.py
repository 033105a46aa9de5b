"""Question detection, normalisation and retrieval: which entry a question gets, how
sure the match is, and what never gets an answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.answers import normalise, questions
from monitor.answers.answerer import Answerer
from monitor.answers.model import Entry, KnowledgeBase
from monitor.answers.normalise import MAX_QUESTION_CHARS, tokens, without_noise
from monitor.answers.questions import is_question
from tests.answerkit import HOLIDAY_HOURS, HOURS, SHIPPING, answerer

NOV = datetime(2026, 11, 20, 12, tzinfo=UTC)
DEC = datetime(2026, 12, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "@acme do you ship to Spain?",
        "@acme how do I return my kettle",
        "@acme can I pay with paypal",
        "u/acme_official is the app down",
        "@acme hi. where is your nearest store",
        "@acme wondering if you deliver on sundays",
    ],
)
def test_questions_are_detected(text: str) -> None:
    assert is_question(text)


@pytest.mark.parametrize(
    "text",
    [
        "@acme my shipping was late again",
        "@acme love the new kettle",
        "@acme 👎👎👎",
        "@acme ??",
        "@acme https://example.com/what?x=1",
        "",
    ],
)
def test_statements_emoji_and_links_are_not_questions(text: str) -> None:
    assert not is_question(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@acme ab?", False),  # fewer than three letters: nothing asked
        ("@acme abc?", True),
        ("@acme 1_2_3 x?", False),  # digits and underscores are no letters
        ("@acme a1b2?", False),
        ("@acme a-b-c?", True),  # the letters need not be together
        ("@acme жжж?", True),  # letters of any script
    ],
)
def test_a_question_needs_three_letters(text: str, expected: bool) -> None:
    assert is_question(text) is expected


# Words of the asking, rhetorical and sneering phrases, other words, and the characters
# where re.IGNORECASE and str.lower() disagree (K sign, long s, dotted and dotless i).
QUESTION_PIECES = st.sampled_from(
    ["how do", "can i", "do you", "is it possible", "i wonder", "let me know", "or nah",
     "why", "how come", "do you even", "what's the point", "or do you just", "or did it even",
     "how", "do", "can", "i", "you", "u", "wonder", "ing", "is", "it", "possible", "there",
     "come", "or", "even", "what", "the", "point", "just", "open", "nah", "kettle", "wat",
     "r", "\u212a", "\u017f", "\u0131", "\u0130", " ", " ", " ", "  ", "'", "\u2019", ",",
     ".", "?", "\n", "_", "-"]
)  # fmt: skip


def _alternating(piece: str) -> str:
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(piece))


CASED_PIECES = QUESTION_PIECES.flatmap(
    lambda p: st.sampled_from([p, p.upper(), p.title(), _alternating(p)])
)
ANY_CASE = [questions._ASKING, questions._RHETORICAL_OPENER, questions._SNEERS]


@settings(max_examples=600, deadline=None)
@given(st.lists(CASED_PIECES, max_size=25).map("".join))
def test_lower_cased_searches_find_what_the_case_insensitive_regexes_find(text: str) -> None:
    lowered = questions._ascii_lower(text)
    for pattern in ANY_CASE:
        assert pattern.found(text, lowered) == (pattern.any_case.search(text) is not None)


def test_lower_cased_searches_are_written_in_lower_case() -> None:
    # The case-sensitive copy reads ASCII text lower-cased, so it must hold no capital
    # (\b and \w are the only escapes, and lower case too).
    for pattern in ANY_CASE:
        assert pattern.any_case.pattern == pattern.any_case.pattern.lower()
        assert pattern.any_case.flags & re.IGNORECASE


def test_a_rhetorical_clause_is_only_cut_where_its_opener_is() -> None:
    assert not is_question("@acme WHY does shipping take 5 days")
    assert is_question("@acme Why so slow. CAN I get a refund")
    assert not is_question("@acme Do you do click and collect OR DO YOU JUST lose orders")


def test_normalisation_reads_hidden_characters_and_typographic_apostrophes() -> None:
    # Skipped for ASCII text, which has neither: the cleaning must still see them.
    assert without_noise("@acme can\u2019t log\u200bin ｗｈｙ") == "  can't login why"
    assert without_noise("@acme can't log in") == "  can't log in"


URL_PIECES = st.sampled_from(
    ["www", "WWW", "wWw", "ww", ".", "http", "HTTPS", "s", ":", "/", "://", "acme", "com",
     " ", "\n", "\u00a0", "@", "x"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(URL_PIECES, max_size=20).map("".join))
def test_urls_are_only_looked_for_where_one_can_be(text: str) -> None:
    assert normalise.without_urls(text) == normalise._URL.sub(" ", text)


HANDLE_PIECES = st.sampled_from(
    ["@", "@@", "u/", "r/", "U/", "R/", "/", "//", "acme", "u", "r", "_", "1", "\u00e9", " ",
     "\n", ".", "'", "-", "\u212a"]
)  # fmt: skip
# The handle pattern as one regex, which tried its lookbehind at every position.
ONE_PASS_HANDLES = re.compile(r"(?:(?<![\w/])@\w+|\b[ur]/\w+)", re.IGNORECASE)


@settings(max_examples=800, deadline=None)
@given(st.lists(HANDLE_PIECES, max_size=20).map("".join))
def test_handles_are_dropped_as_one_pass_of_the_handle_pattern_drops_them(text: str) -> None:
    assert normalise.without_handles(text) == ONE_PASS_HANDLES.sub(" ", text)


def test_handles_and_reddit_names_are_dropped_where_they_stand() -> None:
    found = normalise.without_handles("@acme hi u/Jo_1 see r/acme, mail a@b.c or x/@y @u/z")
    assert found == "  hi   see  , mail a@b.c or x/@y  /z"


def test_a_mention_without_a_url_is_kept_as_it_is() -> None:
    assert normalise.without_urls("see WWW.acme.com or https://x.co/a now") == "see   or   now"
    plain = "@acme is the app down"
    assert normalise.without_urls(plain) is plain


def test_normalisation_drops_handles_urls_and_stopwords_and_folds_synonyms() -> None:
    assert tokens("@acme_help Do you DELIVER to Ireland? https://x.co/abc u/someone") == [
        "ship",
        "ireland",
    ]
    assert tokens("whats the warrenty on my toaster") == tokens("warranty toaster")


def test_a_question_gets_its_entry_with_a_confidence(tmp_path: Path) -> None:
    found = answerer(tmp_path).assess("@acme hey, do you deliver to Ireland?", now=NOV)
    assert found.hit is not None
    assert found.hit.entry.id == "shipping-countries"
    assert 0.55 <= found.confidence <= 1


def test_propose_answers_drafts_or_stays_silent_by_threshold(tmp_path: Path) -> None:
    kb = answerer(tmp_path)
    question = "@acme can you deliver my order to Ireland?"
    sure = kb.assess(question, now=NOV).confidence
    assert 0.55 <= sure < 0.99
    answer = kb.propose(question, now=NOV, answer_at=sure)
    assert answer is not None
    assert not answer.draft
    draft = kb.propose(question, now=NOV, answer_at=sure + 0.01)
    assert draft is not None
    assert draft.draft
    assert draft.entry.id == "shipping-countries"
    assert kb.propose(question, now=NOV, answer_at=0.99, draft_at=sure + 0.01) is None
    assert kb.propose("@acme is the toaster wide enough for bagels?", now=NOV) is None


def test_a_complaint_that_mentions_the_topic_gets_nothing(tmp_path: Path) -> None:
    found = answerer(tmp_path).assess("@acme international shipping to Ireland was awful", now=NOV)
    assert (found.hit, found.reason) == (None, "not a question")


def test_required_keywords_keep_an_entry_out(tmp_path: Path) -> None:
    entry = """
    id: ireland-only
    questions: ["Do you ship to Ireland?", "Can I order from Ireland?"]
    keywords: [ireland, irish]
    answer: "Hi {first_name}! Yes, Ireland is 3-5 days."
    """
    strict = answerer(tmp_path / "a", entry)
    loose = answerer(tmp_path / "b", entry.replace("keywords: [ireland, irish]", ""))
    question = "@acme do you ship to Spain?"
    assert strict.assess(question, now=NOV).hit is None
    assert loose.assess(question, now=NOV).hit is not None


@pytest.mark.parametrize("lang", ["es", "de", "ja", "nl"])
def test_non_english_is_never_answered(tmp_path: Path, lang: str) -> None:
    found = answerer(tmp_path).assess("@acme do you ship to Ireland?", now=NOV, lang=lang)
    assert (found.hit, found.reason) == (None, f"not English ({lang})")


@pytest.mark.parametrize("lang", ["", "en", "en-GB", "und", "qst", "art", " EN_us "])
def test_english_or_unknown_language_is_answered(tmp_path: Path, lang: str) -> None:
    assert answerer(tmp_path).propose("@acme do you ship to Ireland?", now=NOV, lang=lang)


def test_spanish_text_without_a_language_code_gets_no_english_answer(tmp_path: Path) -> None:
    # The scorer sets the language in production; even without it, no entry fits.
    assert answerer(tmp_path).propose("@acme ¿Hacen envíos a Canarias?", now=NOV) is None


def test_emoji_only_question_is_not_answered(tmp_path: Path) -> None:
    found = answerer(tmp_path).assess("@acme 🚚❓🇮🇪", now=NOV)
    assert (found.hit, found.reason) == (None, "not a question")


def test_a_10000_character_question_is_bounded_and_not_auto_answered(tmp_path: Path) -> None:
    text = "@acme do you ship to Ireland? " + "blah unrelated words here " * 400
    assert len(text) > 10_000
    assert tokens(text) == tokens(text[:MAX_QUESTION_CHARS])
    proposal = answerer(tmp_path).propose(text, now=NOV)
    assert proposal is None or proposal.draft


def test_a_text_cut_once_normalised_is_only_drafted(tmp_path: Path) -> None:
    """772 characters as written, but each "\u2026" reads as "..." (NFKC): the matcher
    read 1,000 characters and left the end unread, and only the written length was
    checked, so the cut text was answered in public with full confidence."""
    asked = "@acme do you ship to Ireland?"
    text = asked + " \u2026" * 340 + " Never mind, my last order never came. I want my money back."
    assert len(text) < MAX_QUESTION_CHARS
    proposal = answerer(tmp_path).propose(text, now=NOV)
    assert proposal is not None
    assert proposal.draft
    whole = answerer(tmp_path / "b").propose(asked + " \u2026" * 10, now=NOV)
    assert whole is not None
    assert not whole.draft  # a few such characters, read whole, still get the answer


def test_empty_knowledge_base_proposes_nothing() -> None:
    empty = Answerer(KnowledgeBase(), answer_at=0.55, draft_at=0.35)
    found = empty.assess("@acme do you ship to Ireland?", now=NOV)
    assert (found.hit, found.reason) == (None, "the knowledge base is empty")


def test_a_seasonal_entry_replaces_the_one_it_supersedes_while_valid(tmp_path: Path) -> None:
    kb = answerer(tmp_path)
    question = "@acme what time do your shops open on Sunday?"
    november, december = kb.assess(question, now=NOV), kb.assess(question, now=DEC)
    assert november.hit is not None
    assert november.hit.entry.id == "store-hours"
    assert december.hit is not None
    assert december.hit.entry.id == "holiday-hours"
    assert december.runner_up is None  # store-hours is out while holiday-hours is valid


def test_a_seasonal_entry_answers_the_questions_of_the_entry_it_supersedes(
    tmp_path: Path,
) -> None:
    # Only store-hours has an example about closing today; in December the Christmas
    # hours answer it, as well as store-hours did in November.
    kb = answerer(tmp_path)
    question = "@acme when does the store close today?"
    november, december = kb.assess(question, now=NOV), kb.assess(question, now=DEC)
    assert november.hit is not None
    assert december.hit is not None
    assert (november.hit.entry.id, december.hit.entry.id) == ("store-hours", "holiday-hours")
    assert december.confidence == pytest.approx(november.confidence, abs=0.05)
    assert december.confidence >= 0.55


CHRISTMAS_EVE = """
id: christmas-eve-hours
valid: {from: 2026-12-24, until: 2026-12-24}
supersedes: [holiday-hours]
questions:
  - Are you open on Christmas Eve?
  - What time do you close on Christmas Eve?
answer: "Hi {first_name}! Christmas Eve: 9am-2pm. Otherwise closed 25-26 Dec."
"""


def test_a_seasonal_entry_superseding_a_seasonal_one_answers_for_both(tmp_path: Path) -> None:
    """store-hours <- holiday-hours <- christmas-eve-hours: on 24 Dec a question for the
    usual hours got holiday-hours, an entry not in use that day (the answer picker
    refused it), with full confidence."""
    kb = answerer(tmp_path, HOURS, HOLIDAY_HOURS, CHRISTMAS_EVE)
    eve = datetime(2026, 12, 24, 10, tzinfo=UTC)
    assert [e.id for e in kb.kb.in_force(eve)] == ["christmas-eve-hours"]
    for question in (
        "@acme when does the store close today?",  # only store-hours has it
        "@acme are your stores open on Boxing Day?",  # holiday-hours' own example
    ):
        found = kb.assess(question, now=eve)
        assert found.hit is not None, question
        assert found.hit.entry.id == "christmas-eve-hours", question
    before = kb.assess("@acme when does the store close today?", now=DEC)
    assert before.hit is not None
    assert before.hit.entry.id == "holiday-hours"


def test_an_ambiguous_question_is_less_sure_than_a_clear_one(tmp_path: Path) -> None:
    clear = answerer(tmp_path, SHIPPING, HOURS).assess("@acme do you ship to Ireland?", now=NOV)
    twin = SHIPPING.replace("shipping-countries", "shipping-twin")
    both = answerer(tmp_path / "b", SHIPPING, twin).assess("@acme do you ship to Ireland?", now=NOV)
    assert both.runner_up is not None
    assert both.confidence < clear.confidence


@pytest.mark.parametrize(
    "text",
    [
        "@acme seriously, why does it take 5 days to refund??",
        "@acme why is my order STILL not here?",
        "@acme why would anyone buy this kettle",
    ],
)
def test_why_asks_someone_to_account_for_a_failure_not_for_an_faq(text: str) -> None:
    assert not is_question(text)


def test_a_question_next_to_a_why_still_counts() -> None:
    assert is_question("@acme why is it so slow?! how do I track my order")


def test_an_entry_that_requires_its_product_skips_other_products() -> None:
    entry = Entry(
        id="af200-dishwasher",
        questions=("Is the basket dishwasher safe?",),
        texts={},
        keywords=frozenset(tokens("dishwasher")),
        requires=frozenset(tokens("air fryer")),
    )
    assert entry.admits(set(tokens("can the air fryer basket go in the dishwasher")))
    assert not entry.admits(set(tokens("can the toaster crumb tray go in the dishwasher")))
    assert not entry.admits(set(tokens("is the air fryer any good")))  # no keyword


def test_a_question_the_comment_only_quotes_is_not_its_question(tmp_path: Path) -> None:
    """A Reddit comment quotes what it replies to as a markdown blockquote ("> ..." up to
    a blank line, as Reddit shows it). Read as the commenter's own words, a community
    member quoting a question to answer it was told the shipping policy in public."""
    quoting = answerer(tmp_path)
    helper = "> does Acme ship to Ireland?\n\nYes they do, I'm in Cork and ordered last week."
    found = quoting.assess(helper, now=NOV)
    assert (found.hit, found.reason) == (None, "not a question")
    lazy = "  > Do you ship\nto Ireland?\n\nThey do, got mine in 3 days."  # one quote
    assert quoting.propose(lazy, now=NOV) is None
    # The commenter's own question after a quote is still theirs.
    asked = "> We ship to the UK and the EU.\n\nDo you ship to Ireland too?"
    proposal = quoting.propose(asked, now=NOV)
    assert proposal is not None
    assert proposal.entry.id == "shipping-countries"
    # Not a quote: ">" inside a line.
    assert quoting.propose("@acme >.< do you ship to Ireland?", now=NOV)
