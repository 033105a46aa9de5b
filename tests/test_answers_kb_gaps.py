"""Questions the shipped knowledge base had no entry for, or read wrongly: the refund
policy, changing the email one logs in with, and "the US" read as the pronoun "us"."""

from __future__ import annotations

import pytest

from monitor.answers.answerer import Answerer
from monitor.answers.normalise import tokens
from monitor.rules.setup import engine_from_settings
from monitor.settings import load_settings
from tests.conftest import REPO
from tests.test_answers_abstention import outcome


@pytest.fixture(scope="module")
def shipped() -> Answerer:
    """The shipped knowledge base with the shipped thresholds, as the daemon builds it."""
    answers = engine_from_settings(load_settings(REPO / "config" / "inchannel.yaml")).answers
    assert answers is not None
    return answers


@pytest.mark.parametrize(
    "text",
    [
        "@acme what is your refund policy?",
        "@acme can I get a refund if I changed my mind?",
        "@acme what's your policy on refunds?",
        "@acme changed my mind about the blender, can I get my money back?",
    ],
)
def test_the_refund_policy_is_answered_in_public(shipped: Answerer, text: str) -> None:
    assert outcome(shipped, text) == "answer refund-policy"


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        # The neighbours of the refund policy keep their own questions.
        ("@acme what is your returns policy?", "returns-policy"),
        ("@acme how long does a refund take?", "refund-timing"),
        ("@acme will my refund go back on my card?", "refund-timing"),
        ("@acme changed my mind about my order, how do I cancel it?", "order-cancel"),
        ("@acme how do I send back the toaster?", "returns-how"),
    ],
)
def test_the_refund_policy_leaves_its_neighbours_their_questions(
    shipped: Answerer, text: str, entry: str
) -> None:
    assert outcome(shipped, text) == f"answer {entry}"


@pytest.mark.parametrize(
    "text",
    [
        # A refund for something gone wrong is a case for a person, not the policy.
        "@acme my parcel is lost, will you refund me?",
        "@acme my old card got cancelled, can the refund go to a new card instead",
    ],
)
def test_a_refund_gone_wrong_does_not_get_the_policy(shipped: Answerer, text: str) -> None:
    assert outcome(shipped, text) != "answer refund-policy"


@pytest.mark.parametrize(
    "text",
    [
        # Answered with the Forgot password steps in public: "log" is a password-reset
        # word, and no entry was about the email address itself.
        "@acme how do I change the email I log in with?",
        "@acme how do I change the email address on my account?",
        "@acme can I change the email address on my acme account",
        "@acme how do I update my email on the app?",
    ],
)
def test_changing_the_login_email_gets_its_own_entry(shipped: Answerer, text: str) -> None:
    assert outcome(shipped, text) == "answer email-change"


@pytest.mark.parametrize(
    "text",
    [
        "@acme how do I change my password?",
        "@acme forgot my password and the reset email never came, what do I do?",
    ],
)
def test_password_questions_still_get_the_password_entry(shipped: Answerer, text: str) -> None:
    assert outcome(shipped, text) == "answer password-reset"


@pytest.mark.parametrize(
    "text",
    [
        "Can I use it in the US?",
        "can i use my kettle in the us",
        "Will the toaster work in the U.S.?",
        "Moving to the US, can I use my blender there?",
    ],
)
def test_the_us_is_a_country_not_the_pronoun(text: str) -> None:
    assert "usa" in tokens(text)


@pytest.mark.parametrize(
    "text",
    [
        "can you send us a replacement?",
        "Can you tell us when it ships?",
        # In capitals "US" is the pronoun as often as the country: "HELP US" shouts.
        "PLEASE HELP US, WHERE IS OUR ORDER?",
    ],
)
def test_the_pronoun_us_is_still_no_word(text: str) -> None:
    assert "usa" not in tokens(text)


@pytest.mark.parametrize(
    "text",
    [
        "@acme can I use it in the US?",
        "@acme Can I use my Acme kettle in the US?",
        "@acme will the stand mixer work in the US?",
    ],
)
def test_using_an_appliance_in_the_us_gets_the_voltage_answer(shipped: Answerer, text: str) -> None:
    assert outcome(shipped, text) == "answer voltage-abroad"


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("@acme do you ship to the US?", "shipping-countries"),
        ("@acme do you deliver to the USA?", "shipping-countries"),
    ],
)
def test_shipping_to_the_us_still_gets_the_countries_answer(
    shipped: Answerer, text: str, entry: str
) -> None:
    assert outcome(shipped, text) == f"answer {entry}"


@pytest.mark.parametrize(
    "text",
    [
        # Got the store hours in public while "US" was dropped: no store is in the US.
        "@acme is the US store open?",
        "@acme any plans to launch in the US? when?",
    ],
)
def test_a_question_about_the_us_no_entry_answers_is_not_answered(
    shipped: Answerer, text: str
) -> None:
    assert not outcome(shipped, text).startswith("answer")
