"""How the matcher reads a question's words: filler words, product models, the brand's
products, question forms without a question mark, and the stemmer's collisions."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.answers.answerer import Answerer
from monitor.answers.loader import load_knowledge_base
from monitor.answers.normalise import names, tokens, use_brand
from monitor.answers.questions import is_question
from monitor.yamlpos import ConfigError
from tests.answerkit import knowledge_base_dir
from tests.conftest import REPO

NOV = datetime(2026, 11, 20, 12, tzinfo=UTC)

WARRANTY = """
id: warranty-length
questions:
  - How long is the warranty?
  - Is my appliance still under warranty?
keywords: [warranty, guarantee, cover, covered, year]
answer: "Hi {first_name}! Every appliance has a 2-year warranty from the day you bought it."
"""
DESCALING = """
id: kettle-descaling
products: [kettle]
questions:
  - How do I descale my kettle?
  - How do I get limescale out of the kettle?
keywords: [descale, descaling, limescale, scale]
answer: "Hi {first_name}! Boil half a kettle of water with citric acid, then rinse."
"""
DISHWASHER = """
id: af200-dishwasher
products: [AF-200, air fryer]
questions:
  - Is the AF-200 basket dishwasher safe?
  - Can I put the air fryer basket in the dishwasher?
keywords: [dishwasher]
answer: "Hi {first_name}! Yes: the AF-200's basket and tray go in the dishwasher, top rack."
"""
PAYMENT = """
id: payment-methods
questions:
  - What payment methods do you accept?
  - Can I pay in instalments?
keywords: [pay, payment, instalment, klarna]
answer: "Hi {first_name}! We take cards, PayPal, Apple Pay and Klarna (3 instalments)."
"""
CATALOGUE = ("kettle", "toaster", "espresso machine", "air fryer", "stand mixer")


def kb_answerer(tmp_path: Path, *entries: str, products: tuple[str, ...] = CATALOGUE) -> Answerer:
    folder = knowledge_base_dir(tmp_path / "answers", *entries)
    kb = load_knowledge_base(folder, brand="Acme", products=products)
    return Answerer(kb, answer_at=0.35, draft_at=0.1)


def uncovered(answerer: Answerer, text: str) -> tuple[str | None, tuple[str, ...]]:
    found = answerer.assess(text, now=NOV)
    return (found.hit.entry.id if found.hit else None), found.uncovered


def test_words_that_say_how_something_is_asked_are_not_counted() -> None:
    assert tokens("is there actually a way to return it, usually, or rather not?") == [
        "return",
        "not",
    ]


def test_a_hyphenated_model_is_one_word_and_an_order_number_is_not_a_model() -> None:
    assert tokens("is the AF-300 like the af300 or AF200? order AC-551203") == [
        "af300",
        "af300",
        "af200",
        "order",
        "ac",
        "551203",
    ]


def test_a_model_is_a_name_however_it_is_written() -> None:
    assert names("is the af300 like the AF-200 from Argos?") == ["af300", "AF-200", "Argos"]


def test_another_model_than_the_entrys_lowers_the_confidence(tmp_path: Path) -> None:
    answerer = kb_answerer(tmp_path, DISHWASHER, WARRANTY)
    own = answerer.assess("is the af200 basket dishwasher safe?", now=NOV)
    other = answerer.assess("is the af300 basket dishwasher safe?", now=NOV)
    assert own.hit is not None
    assert other.hit is not None
    assert other.unknown_names == ("af300",)
    assert "af300" in other.uncovered
    assert other.confidence < own.confidence / 2


def test_a_product_of_the_brand_is_a_word_of_every_general_entry(tmp_path: Path) -> None:
    answerer = kb_answerer(tmp_path, WARRANTY, DESCALING)
    assert uncovered(answerer, "how long is the warranty on the toaster?") == (
        "warranty-length",
        (),
    )


def test_without_the_catalogue_the_product_is_a_word_the_entry_lacks(tmp_path: Path) -> None:
    answerer = kb_answerer(tmp_path, WARRANTY, DESCALING, products=())
    assert uncovered(answerer, "how long is the warranty on the toaster?") == (
        "warranty-length",
        ("toaster",),
    )


def test_an_entry_about_one_product_does_not_know_the_others(tmp_path: Path) -> None:
    answerer = kb_answerer(tmp_path, WARRANTY, DESCALING)
    entry, missing = uncovered(answerer, "how do I descale the espresso machine?")
    assert entry == "kettle-descaling"
    assert set(missing) == {"espresso", "machin"}
    own = answerer.assess("how do I descale the kettle?", now=NOV)
    other = answerer.assess("how do I descale the espresso machine?", now=NOV)
    assert other.confidence < own.confidence / 2


def test_installation_is_not_an_instalment(tmp_path: Path) -> None:
    answerer = kb_answerer(tmp_path, PAYMENT, WARRANTY)
    assert "instal" in tokens("do you do installation?")
    assert "instal" not in tokens("can I pay in instalments?")
    assert answerer.propose("do you do installation for the espresso machine?", now=NOV) is None
    proposal = answerer.propose("can I pay in instalments?", now=NOV)
    assert proposal is not None
    assert proposal.entry.id == "payment-methods"


def test_an_entrys_products_need_a_searchable_word(tmp_path: Path) -> None:
    bad = DESCALING.replace("products: [kettle]", "products: [kettle, '!!']")
    with pytest.raises(ConfigError) as caught:
        load_knowledge_base(knowledge_base_dir(tmp_path / "answers", bad), brand="Acme")
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'answers' / 'answers.yaml'}:2:20: answer 'kettle-descaling': "
        "products[1]: '!!' has no searchable word"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "moving to canada, will my acme kettle work there",
        "paid by paypal, how quick is the refund once you get the return",
        "my toaster stopped heating on one side after 6 months, what do i do",
        "stand mixer making a clunking noise, it's under guarantee. next steps",
        "if i cancel before it ships do i get my money back straight away",
        "tracking just says no info available, is that normal",
        "you lot open on a sunday or nah",
        "app won't load for me, is it just me",
        "wat does delivery cost for a replacement lid",
        "r u open sundays",
    ],
)
def test_questions_without_a_question_mark_or_an_opening_interrogative(text: str) -> None:
    assert is_question(text)


@pytest.mark.parametrize(
    "text",
    [
        "three weeks for a refund, what do you expect from acme",
        "you will regret this, never buying again",
        "the delivery was late and the box was crushed",
        "we will see",
    ],
)
def test_complaints_and_statements_stay_statements(text: str) -> None:
    assert not is_question(text)


def _shipped_as(brand: str, tmp_path: Path) -> Answerer:
    """The shipped knowledge base, written for ``brand`` instead of Acme."""
    folder = tmp_path / brand / "answers"
    shutil.copytree(REPO / "config" / "answers", folder)
    for path in folder.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("Acme", brand).replace("acme", brand.lower()), "utf-8")
    return Answerer(load_knowledge_base(folder, brand=brand), answer_at=0.35, draft_at=0.15)


@pytest.mark.parametrize(
    "question",
    [
        "Does {brand} deliver overseas to Australia?",
        "can I pay for my {brand} order with PayPal?",
        "do {brand} ship to Ireland",
    ],
)
def test_the_brands_name_is_no_word_of_a_question_whatever_the_brand(
    tmp_path: Path, question: str
) -> None:
    """Only "acme" was left out; for any other brand its name counted as a word."""
    when = datetime(2026, 6, 1, tzinfo=UTC)
    acme = _shipped_as("Acme", tmp_path).assess(question.format(brand="Acme"), now=when)
    try:
        globex = _shipped_as("Globex", tmp_path).assess(question.format(brand="Globex"), now=when)
        assert globex.confidence == acme.confidence
        assert "globex" not in tokens(question.format(brand="Globex"))
    finally:
        use_brand("Acme")  # the brand of every other test


PRZELEWY24 = """
id: przelewy24
products: [PS5]
questions:
  - Can I pay with Przelewy24?
  - Do you take Przelewy24 for a PS5 order?
keywords: [pay, payment, przelewy24]
answer: "Hi {first_name}! Yes: Przelewy24 is at checkout for orders to Poland."
"""


def test_a_product_word_with_digits_is_a_name_not_a_detail() -> None:
    """Letters then digits name a product or a service; only numbers, quantities and
    references ("77812", "3pm", "2nd", "A1234567") are the customer's details."""
    text = "Can I pay with Przelewy24 on my iPhone15, PS5 or Windows11 after Covid19?"
    assert names(text) == ["Przelewy24", "iPhone15", "PS5", "Windows11", "Covid19"]
    assert names("Can I cancel order A1234567 or 77812 at 3pm on the 2nd, 10kg?") == []


def test_a_product_word_no_entry_knows_lowers_the_confidence(tmp_path: Path) -> None:
    """ "Przelewy24" was read as a detail like an order number: the payment entry,
    which never names it, was posted as the answer."""
    answerer = kb_answerer(tmp_path, PAYMENT, WARRANTY)
    found = answerer.assess("Can I pay with Przelewy24?", now=NOV)
    assert found.unknown_names == ("przelewy24",)
    assert "przelewy24" in found.uncovered
    proposal = answerer.propose("Can I pay with Przelewy24?", now=NOV)
    assert proposal is None or proposal.draft  # not posted in public
    assert answerer.propose("Can I pay with Klarna?", now=NOV) is not None


def test_a_product_word_an_entry_knows_counts_for_it(tmp_path: Path) -> None:
    """Left out as details, "Przelewy24" and "PS5" were not counted as the entry's
    words: "accepted" was all that was asked, and unknown, so the confidence was 0."""
    answerer = kb_answerer(tmp_path, PRZELEWY24, PAYMENT)
    proposal = answerer.propose("is Przelewy24 accepted for a PS5?", now=NOV)
    assert proposal is not None
    assert proposal.entry.id == "przelewy24"


def test_order_numbers_and_quantities_stay_details(tmp_path: Path) -> None:
    answerer = kb_answerer(tmp_path, PAYMENT, WARRANTY)
    number = answerer.assess("Can I pay with Klarna for 1234567?", now=NOV)
    for detail in ("A1234567", "77812", "3pm", "2kg", "2nd", "Ord123456", "x7f3a9"):
        found = answerer.assess(f"Can I pay with Klarna for {detail}?", now=NOV)
        assert (found.unknown_names, found.uncovered) == ((), ()), detail
        assert found.confidence == number.confidence, detail


def test_a_dotted_capital_i_lowers_to_the_same_word() -> None:
    """Python lowers "İ" to "i" and a combining dot, which split "İstanbul" into "i"
    (a stopword) and "stanbul", a word no entry naming Istanbul knows."""
    assert tokens("Do you ship to İstanbul or İzmir?") == ["ship", "istanbul", "izmir"]
    assert tokens("Do you ship to Istanbul?") == ["ship", "istanbul"]
