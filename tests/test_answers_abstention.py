"""Abstention: a question close to an entry that the entry does not answer is not
answered in public. The entry's answer text counts as what it covers; asked words it
never uses, names no entry mentions and rhetorical complaints lower the confidence or
are not questions at all."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.answers.answerer import Answerer, Assessment, confidence
from monitor.answers.loader import load_knowledge_base
from monitor.answers.normalise import names, text_tokens, tokens, use_brand
from monitor.answers.questions import asking_sentences, is_question
from monitor.answers.retriever import Hit
from monitor.rules.setup import engine_from_settings
from monitor.settings import AnswersConfig, load_settings
from tests.answerkit import answerer, knowledge_base_dir
from tests.conftest import REPO
from tests.test_answers_rival import hit

NOV = datetime(2026, 11, 20, 12, tzinfo=UTC)

STORES = """
id: store-locations
questions:
  - Where is your nearest store?
  - Do you have a shop in Manchester?
  - Is there a store in Dublin?
keywords: [store, shop, nearest, manchester, dublin]
answer: "Hi {first_name}! Our stores: London, Manchester, Leeds, Glasgow and Dublin."
"""
RETURNS_POLICY = """
id: returns-policy
questions:
  - What is your returns policy?
  - How long do I have to return something?
answer: "Hi {first_name}! 30 days, free."
"""
RETURNS_HOW = """
id: returns-how
questions:
  - How do I return an item?
  - Where do I get a returns label?
answer: "Hi {first_name}! Get a QR code under Orders and drop the parcel at an Evri shop."
"""


@pytest.fixture(scope="module")
def shipped() -> Answerer:
    """The shipped knowledge base with the shipped thresholds, as the daemon builds it."""
    answers = engine_from_settings(load_settings(REPO / "config" / "inchannel.yaml")).answers
    assert answers is not None
    return answers


def outcome(answerer: Answerer, text: str) -> str:
    proposal = answerer.propose(text, now=NOV)
    if proposal is None:
        return "none"
    return f"draft {proposal.entry.id}" if proposal.draft else f"answer {proposal.entry.id}"


def test_the_shipped_config_uses_the_default_thresholds(shipped: Answerer) -> None:
    defaults = AnswersConfig()
    assert (shipped.answer_at, shipped.draft_at) == (defaults.answer_at, defaults.draft_at)


@pytest.mark.parametrize(
    "text",
    [
        "@acme is there a store in Cardiff?",
        "@acme do you have a shop in Norwich?",
        "@acme can I pay with Clearpay?",
        "@acme do you ship to Mexico?",
        # Letters outside a-z are letters: "Łódź" was read as "d" (a stopword) and the
        # question as "do you have a store?", answered in public with the store list.
        "@acme do you have a store in Łódź?",
        "@acme is there a shop in Malmö?",
        "@acme do you ship to Curaçao?",
    ],
)
def test_a_question_naming_what_the_entry_lacks_is_not_answered(
    shipped: Answerer, text: str
) -> None:
    assert not outcome(shipped, text).startswith("answer")


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("@acme is there a store in Leeds?", "store-locations"),  # Leeds: only in the answer
        ("@acme do you have a shop in Bristol?", "store-locations"),
        ("@acme can I pay with Klarna?", "payment-methods"),
        ("@acme do you ship to Ireland?", "shipping-countries"),
        ("@acme how long does a refund take?", "refund-timing"),
        ("@acme how do I cancel order 77812?", "order-cancel"),  # a number is a detail
        ("Do you do an NHS discount? Nurse here, looking at the stand mixer", "discount-codes"),
        # The person greeted is not a name asked about; a shouted question has no names.
        ("@acme Hi Steve, do you ship to Ireland?", "shipping-countries"),
        ("@acme DO YOU SHIP TO IRELAND ASAP?", "shipping-countries"),
        # Full-width letters are the same words (NFKC), as the deflection guard reads them.
        ("@acme ｄｏ ｙｏｕ ｓｈｉｐ ｔｏ Ｉｒｅｌａｎｄ？", "shipping-countries"),
        # Invisible characters and underline marks split "ship" into pieces; the scorer
        # and the deflection guard drop them, and so does the matcher.
        ("@acme do you sh\u200bip to Ire\u00adland?", "shipping-countries"),
        ("@acme do you s\u0332h\u0332i\u0332p\u0332 to Ireland?", "shipping-countries"),
    ],
)
def test_real_questions_are_still_answered(shipped: Answerer, text: str, entry: str) -> None:
    assert outcome(shipped, text) == f"answer {entry}"


@pytest.mark.parametrize(
    "text",
    [
        "@acme how is it still taking a week to get a refund??",
        "@acme how come the refund takes a week when paying takes a second?",
        "@acme what's the point of express delivery if it comes in three days?",
        "@acme who decided the stores should close at 4 on Sundays?",
        "@acme are you serious? a week for a refund",
    ],
)
def test_a_rhetorical_complaint_is_not_answered(shipped: Answerer, text: str) -> None:
    assert not is_question(text)
    assert outcome(shipped, text) == "none"


@pytest.mark.parametrize(
    "text",
    [
        # The subject dropped, as on X: statements, not "would you"/"was it" questions.
        "@acme Would not recommend, the click and collect order was not ready",
        "@acme Was told my click and collect order was ready, got there and it was not",
        "@acme Have been waiting a week for my click and collect order",
        "@acme Was the worst click and collect experience ever",
        # Rhetorical idioms and a sneer that turns the whole sentence into a complaint.
        "@acme How hard is it to ship to Ireland?? Third time I've had to ask",
        "@acme Do you even ship to Ireland or is that a lie too?",
        "@acme Do you do click and collect or do you just lose orders?",
    ],
)
def test_a_complaint_opening_like_a_question_is_not_answered(shipped: Answerer, text: str) -> None:
    assert not is_question(text)
    assert outcome(shipped, text) == "none"


@pytest.mark.parametrize(
    "text",
    [
        "@acme was it too late to change my click and collect store",
        "@acme have you got click and collect in Leeds",
        "@acme did the parcel go to the store for click and collect",
        "@acme Would Acme match the price if I buy direct",
        "@acme Am I charged in euros when I order from Cork",
        "@acme where do you even put the discount code",
    ],
)
def test_an_auxiliary_with_a_subject_still_asks(text: str) -> None:
    assert is_question(text)


def test_a_real_question_next_to_a_rhetorical_one_still_counts() -> None:
    assert is_question("@acme how is this still broken?! how do I reset my password")


def test_the_answer_text_counts_as_what_the_entry_covers(tmp_path: Path) -> None:
    stores = answerer(tmp_path, STORES)
    leeds = stores.assess("@acme is there a store in Leeds?", now=NOV)
    cardiff = stores.assess("@acme is there a store in Cardiff?", now=NOV)
    assert (leeds.uncovered, leeds.unknown_names) == ((), ())
    assert (cardiff.uncovered, cardiff.unknown_names) == (("cardiff",), ("cardiff",))
    assert _entry(cardiff) == _entry(leeds) == "store-locations"
    # Half the asked words unknown to the entry, and a name no entry mentions.
    assert cardiff.confidence == pytest.approx(leeds.confidence * 0.5 * 0.5, abs=1e-3)


def test_only_the_asking_sentences_are_checked(tmp_path: Path) -> None:
    stores = answerer(tmp_path, STORES)
    found = stores.assess("Moving house next month. Is there a store in Leeds?", now=NOV)
    assert found.uncovered == ()
    asked = stores.assess("Is there a store in Leeds for a moving house sale?", now=NOV)
    assert set(asked.uncovered) == {"move", "hous", "sale"}
    assert asked.confidence < found.confidence


def test_the_brands_own_name_is_not_an_unknown_name(tmp_path: Path) -> None:
    kb = load_knowledge_base(knowledge_base_dir(tmp_path, STORES), brand="Zylo")
    stores = Answerer(kb, answer_at=0.2, draft_at=0.2)
    assert stores.assess("Does Zylo have a store in Leeds?", now=NOV).unknown_names == ()
    assert stores.assess("Does Zylo have a store in Hull?", now=NOV).unknown_names == ("hull",)
    assert names("Does Zylo's store in Leeds open?", brand="Zylo") == ["Leeds"]


def test_a_name_merely_starting_with_the_brands_is_still_a_name(tmp_path: Path) -> None:
    """Brand "Go": "Google" and "Gordon" were read as the brand, so a place or payment
    method no entry knows did not lower the confidence."""
    kb = load_knowledge_base(knowledge_base_dir(tmp_path, STORES), brand="Go")
    try:
        stores = Answerer(kb, answer_at=0.2, draft_at=0.2)
        found = stores.assess("Is there a store in Gosport?", now=NOV)
        assert found.unknown_names == ("gosport",)
        assert stores.assess("Does Go have a store in Leeds?", now=NOV).unknown_names == ()
    finally:
        use_brand("Acme")  # the brand of every other test
    assert names("Can I pay with Google Pay?", brand="Go") == ["Google", "Pay"]
    assert names("Is Go's store in Leeds open? Or GoCare?", brand="Go") == ["Leeds"]
    assert names("Does Acme-branded kit ship to Oslo?", brand="Acme") == ["Oslo"]


def test_the_rival_entrys_answer_text_is_rival_evidence(tmp_path: Path) -> None:
    kb = answerer(tmp_path, RETURNS_POLICY, RETURNS_HOW)
    policy, how = kb.kb.get("returns-policy"), kb.kb.get("returns-how")
    assert policy is not None
    assert how is not None
    # "Evri" is only in the returns-how answer: evidence the question is about it.
    assert kb.retriever.rival_share(["return", "evri"], policy, how) > 0.3
    assert kb.retriever.rival_share(["return"], policy, how) == 0.0


def test_confidence_keeps_the_covered_share_and_halves_per_unknown_name() -> None:
    best = Hit(hit("a", 0.8).entry, 0.8, "")
    assert confidence(best, None) == 0.8
    assert confidence(best, None, uncovered=0.25) == 0.6
    assert confidence(best, None, unknown_names=1) == 0.4
    assert confidence(best, None, uncovered=0.5, unknown_names=2) == 0.1


def test_names_are_capitalised_words_inside_a_sentence() -> None:
    assert names("Can I pay with Clearpay or Klarna?") == ["Clearpay", "Klarna"]
    # A model is a name too; whether any entry knows it is the retriever's question.
    assert names("I'm in Leeds, is the AF-200 sold there?", brand="Acme") == ["Leeds", "AF-200"]
    assert names("Does Acme's store in Cardiff open?", brand="Acme") == ["Cardiff"]
    assert names("Hi Steve, do you ship to Oslo?") == ["Oslo"]
    assert names("HI STEVE, DO YOU SHIP TO OSLO?") == []
    assert names("Is there a store in Łódź or Zürich?") == ["Łódź", "Zürich"]


def test_asking_sentences_leave_the_context_out() -> None:
    text = "@acme Nurse here. Do you do an NHS discount? https://x.co/1 Thanks!"
    assert asking_sentences(text) == (["Do you do an NHS discount?"], True)
    every = (["my kettle broke.", "Again."], False)  # none asks: all of it
    assert asking_sentences("@acme my kettle broke. Again.") == every
    assert asking_sentences("Is it free? How long?") == (["Is it free?", "How long?"], False)


def test_answer_tokens_leave_placeholders_out_and_read_long_answers_whole() -> None:
    assert text_tokens("Hi {first_name}! Stores in Leeds.") == frozenset({"store", "leed"})
    long = "word " * 400 + "Cardiff"
    assert "cardiff" in text_tokens(long)
    assert "cardiff" not in tokens(long)  # a mention is read up to 1,000 characters only


def _entry(found: Assessment) -> str | None:
    return found.hit.entry.id if found.hit else None


@pytest.mark.parametrize(
    "text",
    [
        # Both were posted in public in November: Boxing Day got the returns policy, and
        # Christmas the usual hours (the stores are closed on 25 and 26 December).
        "@acme are you open on boxing day?",
        "@acme are your stores open over Christmas?",
    ],
)
def test_a_question_for_a_seasonal_entry_out_of_its_window_is_not_answered(
    shipped: Answerer, text: str
) -> None:
    """The Christmas hours are valid from 1 December; asked earlier, the question is
    still theirs, not one for whichever entry in force fits next."""
    assert not outcome(shipped, text).startswith("answer")
    december = shipped.propose(text, now=datetime(2026, 12, 10, 12, tzinfo=UTC))
    assert december is not None
    assert (december.entry.id, december.draft) == ("store-hours-holidays", False)
    # The usual hours still answer the usual questions before and after the season.
    assert outcome(shipped, "@acme what time do you close on Saturday?") == "answer store-hours"


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        # "down" was an outage-status keyword: a down payment, a price down 20% and
        # "calm down" got a draft saying "Our engineers have been alerted".
        ("@acme do you offer a down payment plan for the espresso machine?", "outage-status"),
        ("@acme is it down 20% on black friday?", "outage-status"),
        ("@acme how do I calm down my toddler lol", "outage-status"),
        # "reset" alone admitted password-reset: resetting an appliance was answered in
        # public with "Tap Forgot password on the sign-in screen".
        ("@acme how do I reset my air fryer?", "password-reset"),
        ("@acme the kettle keeps tripping, how do I reset it?", "password-reset"),
        ("@acme how do I reset the timer on the AF-200?", "password-reset"),
        # "gift" alone admitted gift-cards: gift wrap got the gift cards' terms.
        ("@acme do you sell gift wrap?", "gift-cards"),
        # "plug" alone admitted voltage-abroad: a question about the kettle's own plug
        # was answered in public with the 220-240V answer.
        ("@acme is the plug on the kettle detachable?", "voltage-abroad"),
        ("@acme the plug on my toaster gets hot, is that normal?", "voltage-abroad"),
        ("@acme does the kettle come with a UK plug?", "voltage-abroad"),
        # "back" alone admitted the returns entries: "back in stock" got a returns draft.
        ("@acme when will the air fryer be back in stock?", "returns-how"),
        ("@acme when will the air fryer be back in stock?", "refund-timing"),
        ("@acme when will the air fryer be back in stock?", "returns-policy"),
        ("@acme is the espresso machine back in stock yet?", "returns-how"),
        # "take" alone admitted product-recycling: taking a kettle on a plane got a draft.
        ("@acme can I take the kettle on a plane?", "product-recycling"),
        ("@acme does the espresso machine take nespresso pods?", "product-recycling"),
        # "sign" alone admitted guest-checkout: signing for a parcel is not signing up,
        # and "sign for my order" was answered in public with the guest checkout.
        ("@acme will I have to sign for the delivery?", "guest-checkout"),
        ("@acme will I have to sign for my order?", "guest-checkout"),
        # "account", "login" and "log" admitted guest-checkout: signing in to an
        # account was answered in public with "you can check out as a guest".
        ("@acme how do I sign in to my account?", "guest-checkout"),
        ("@acme how do I log in to my account?", "guest-checkout"),
        ("@acme I need to get into my account, how?", "guest-checkout"),
        # "sale" alone admitted price-drop: a coming sale is not a price drop after an
        # order, and got a draft promising to refund the difference.
        ("@acme will the stand mixer be back on sale soon?", "price-drop"),
        ("@acme when is your next sale?", "price-drop"),
        ("@acme is the stand mixer going on sale?", "price-drop"),
        # "address" alone admitted order-change-address: once guest-checkout no longer
        # took "account" questions, an email address change was answered in public
        # with the steps for an order's delivery address.
        ("@acme how do I change the email address on my account?", "order-change-address"),
        ("@acme can I change the email address on my acme account", "order-change-address"),
    ],
)
def test_a_keyword_in_another_sense_proposes_nothing_from_the_entry(
    shipped: Answerer, text: str, entry: str
) -> None:
    assert outcome(shipped, text) not in (f"answer {entry}", f"draft {entry}")


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("@acme is the app down?", "outage-status"),
        ("@acme is your website down right now?", "outage-status"),
        ("@acme payment page giving an error, is the site down?", "outage-status"),
        ("@acme is the app down for everyone or just me?", "outage-status"),
        ("@acme How do I reset my password?", "password-reset"),
        ("@acme Password reset email never came, what now?", "password-reset"),
        ("@acme Can't sign in to the Acme website, how do I reset my login?", "password-reset"),
        ("@acme how do I reset my acme account?", "password-reset"),
        ("@acme how do I check my gift card balance?", "gift-cards"),
        ("@acme do gift vouchers expire?", "gift-cards"),
        ("@acme do you sell gift cards?", "gift-cards"),
        ("@acme can I use my Acme kettle in America with a plug adapter?", "voltage-abroad"),
        ("@acme do your products work with American plugs?", "voltage-abroad"),
        ("@acme is a plug adaptor enough to use my blender in the US?", "voltage-abroad"),
        ("@acme how do I send back the toaster?", "returns-how"),
        ("@acme bought it in store, can I post it back instead?", "returns-how"),
        ("@acme when do I get my money back for the return?", "refund-timing"),
        ("@acme will my refund go back on my card?", "refund-timing"),
        ("@acme can I send back a blender I've opened and tried?", "returns-policy"),
        ("@acme can you take my old kettle away when you deliver the new one", "product-recycling"),
        ("@acme do you take old toasters from other brands?", "product-recycling"),
        ("@acme do you do WEEE take back for small appliances?", "product-recycling"),
        ("@acme can I buy without signing up?", "guest-checkout"),
        ("@acme do I have to sign up or register to buy from you?", "guest-checkout"),
        ("@acme do I have to sign up to buy a kettle?", "guest-checkout"),
        ("@acme do I need to sign up, or is there a guest option?", "guest-checkout"),
        ("@acme can I order without an account?", "guest-checkout"),
        ("@acme do I need an account to buy something?", "guest-checkout"),
        ("@acme is there a guest checkout?", "guest-checkout"),
        ("@acme how do I change the delivery address on my order?", "order-change-address"),
        ("@acme moved house, can I redirect my parcel to my new address?", "order-change-address"),
        ("@acme moving to canada, will my acme kettle work there?", "voltage-abroad"),
        ("@acme do you price match?", "price-drop"),
        ("@acme bought it last week and now it's on sale, can I get the difference?", "price-drop"),
        ("@acme can I get a price adjustment if it goes on sale?", "price-drop"),
    ],
)
def test_the_narrowed_entries_still_answer_their_questions(
    shipped: Answerer, text: str, entry: str
) -> None:
    assert outcome(shipped, text) == f"answer {entry}"


@pytest.mark.parametrize(
    "text", ["@acme how do I sign in to my account?", "@acme how do I log in to my account?"]
)
def test_signing_in_gets_the_password_entry_or_nothing(shipped: Answerer, text: str) -> None:
    """Once guest-checkout stands aside, the sign-in question may still be answered,
    but only with the sign-in screen's steps."""
    assert outcome(shipped, text) in ("none", "draft password-reset", "answer password-reset")
