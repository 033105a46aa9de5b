"""The confidence is lowered by the words of a question that only the runner-up entry
knows: a question half about another entry's topic is not answered in public."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.answers.answerer import confidence
from monitor.answers.model import Entry
from monitor.answers.retriever import Hit
from monitor.domain import Platform
from tests.answerkit import answerer

NOV = datetime(2026, 11, 20, 12, tzinfo=UTC)

TIMES = """
id: shipping-times
questions:
  - How long does delivery take?
  - Do you have next day delivery?
  - How fast do you deliver?
answer: "Hi {first_name}! 2-4 working days; next day if you order by 2pm."
"""
COST = """
id: shipping-cost
questions:
  - How much is shipping?
  - What does postage cost?
  - What are the delivery charges?
answer: "Hi {first_name}! Free over £40, £3.95 below."
"""
RECYCLING = """
id: product-recycling
questions:
  - Do you recycle old appliances?
  - Can you take my old toaster away?
answer: "Hi {first_name}! Bring it to any store."
"""


def hit(name: str, similarity: float) -> Hit:
    text = dict.fromkeys(Platform, "Hi!")
    return Hit(Entry(name, ("a?", "b?"), text), similarity, "a?")


def test_rival_evidence_lowers_the_confidence_in_proportion() -> None:
    best, other = hit("best", 0.8), hit("other", 0.3)
    assert confidence(best, other) == 0.8
    assert confidence(best, other, rival=0.1) == 0.64
    assert confidence(best, other, rival=0.5) == 0.0
    assert confidence(best, other, rival=0.9) == 0.0


def test_a_question_using_another_entrys_word_is_not_answered_in_public(tmp_path: Path) -> None:
    kb = answerer(tmp_path, TIMES, COST, RECYCLING)
    plain = kb.assess("@acme is next day delivery available?", now=NOV)
    assert plain.hit is not None
    assert plain.hit.entry.id == "shipping-times"
    mixed = kb.assess("@acme is next day delivery available and what does it cost?", now=NOV)
    assert mixed.hit is not None
    assert mixed.runner_up is not None
    assert mixed.runner_up.entry.id == "shipping-cost"
    assert mixed.confidence < 0.5 * plain.confidence
    proposal = kb.propose("@acme is next day delivery available and what does it cost?", now=NOV)
    assert proposal is None or proposal.draft


def test_words_no_other_entry_knows_are_not_rival_evidence(tmp_path: Path) -> None:
    kb = answerer(tmp_path, TIMES, COST, RECYCLING)
    found = kb.assess("@acme how long does delivery take to Leeds?", now=NOV)
    assert found.hit is not None
    assert found.hit.entry.id == "shipping-times"
    assert kb.retriever.rival_share(["ship", "leed"], found.hit.entry, hit("x", 0).entry) == 0.0
    cost = next(e for e in kb.kb.entries if e.id == "shipping-cost")
    assert kb.retriever.rival_share(["ship", "cost"], found.hit.entry, cost) > 0.3


GIFT_WRAP = """
id: gift-wrap
questions:
  - Do you do gift wrapping?
  - Can you wrap my order as a gift?
answer: "Hi {first_name}! Gift wrap is £3 at checkout."
"""
GIFT_CARDS = """
id: gift-cards
questions:
  - Do you do gift wrapping?
  - Do you sell gift cards?
answer: "Hi {first_name}! Gift cards from £10, online and in store."
"""


def test_two_entries_that_fit_equally_are_never_answered_in_public(tmp_path: Path) -> None:
    """The same example in two entries: the question fits both perfectly, and which
    one was posted (at confidence 0.7) depended on the order of the files."""
    kb = answerer(tmp_path, GIFT_WRAP, GIFT_CARDS)
    proposal = kb.propose("Do you do gift wrapping?", now=NOV)
    assert proposal is not None
    assert proposal.draft  # a person picks between them
    own = kb.propose("Can you wrap my order as a gift?", now=NOV)
    assert own is not None
    assert (own.entry.id, own.draft) == ("gift-wrap", False)
