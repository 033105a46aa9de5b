"""The shipped rule set over the shipped sample mentions: the expected decision for each."""

from __future__ import annotations

import pytest

from monitor.domain import Decision
from monitor.rules.dryrun import dry_run
from monitor.rules.setup import engine_from_settings
from monitor.scoring import Scorer
from monitor.settings import load_settings
from monitor.sources.replay import load_jsonl
from tests.conftest import REPO

# id -> (matched rules, what happens). "reply" is posted in the thread, "draft" waits
# for a person, "escalate:<team>" hands the case to that team, "guard" means a guard
# withheld the reply.
EXPECTED: dict[str, tuple[tuple[str, ...], str]] = {
    # Where-is-my-order about a late order: a problem report, so the answer rule
    # stands aside (the general how-to-track answer would not help); the delivery rule
    # apologises and a person takes it.
    "1859000000000000001": (("delivery-problem", "complaint-to-human"), "reply escalate:care"),
    "1859000000000000002": ((), "ignore"),  # the brand's own account
    "1859000000000000003": (("delivery-problem", "complaint-to-human"), "reply escalate:care"),
    # "cannot log in since 8am": a login outage (login-outage tags it), not one
    # customer's forgotten password. login-trouble tags the login failure first.
    "1859000000000000004": (
        ("login-trouble", "login-outage", "outage-report", "complaint-to-human"),
        "reply escalate:tech",
    ),
    "1859000000000000005": (
        ("outage-report", "angry-customer", "complaint-to-human", "question-draft"),
        "reply escalate:tech",
    ),
    "1859000000000000006": (("vip-customer", "praise"), "reply priority:high"),
    "1859000000000000007": (
        ("refund-or-billing", "complaint-to-human"),
        "reply escalate:billing",
    ),
    "1859000000000000008": (("non-english-to-humans",), "escalate:international"),
    "1859000000000000009": (("non-english-to-humans",), "escalate:international"),
    "1859000000000000010": ((), "ignore"),  # the brand's own post
    "1859000000000000011": (("ignore-retweets",), "ignore"),
    "1859000000000000012": (("answer-common-questions", "question-draft"), "reply"),
    "1859000000000000013": (("abusive-to-human",), "escalate:care"),
    "1859000000000000014": (("praise",), "reply"),
    "1859000000000000015": (("ignore-blocklisted-authors",), "ignore"),
    "1859000000000000016": (("non-english-to-humans",), "escalate:international"),
    "1859000000000000017": (("angry-customer", "complaint-to-human"), "reply escalate:care"),
    "1859000000000000018": (("answer-common-questions", "question-draft"), "reply"),
    "1859000000000000019": (("angry-customer", "complaint-to-human"), "escalate:care guard"),
    "1859000000000000020": (("angry-customer", "complaint-to-human"), "reply escalate:care"),
    "1859000000000000021": (("answer-common-questions", "outage-report"), "reply escalate:tech"),
    "1859000000000000022": (("non-english-to-humans",), "escalate:international"),
    "1859000000000000023": ((), ""),
    "1859000000000000024": (("praise",), "reply"),
    "1859000000000000025": ((), ""),
    "t3_1gx0001": (("complaint-to-human",), "reply escalate:care"),
    "t1_lq0001": ((), "ignore"),
    "t1_lq0002": (("complaint-to-human",), "reply escalate:care"),
    "t1_lq0003": (("vip-customer", "praise"), "reply priority:high"),
    # No entry answers it: "winter" and "include" are words the price-drop entry never
    # uses (the espresso machine is one of the brand's products, answers.products), so
    # it stays under draft_at and only the question rule drafts a reply for a person.
    "t1_lq0004": (("question-draft",), "draft"),
    "t1_lq0005": (("refund-or-billing", "complaint-to-human"), "reply escalate:billing"),
    "t1_lq0006": (("non-english-to-humans",), "escalate:international"),
    "t1_lq0007": ((), ""),
    "t1_lq0008": (("answer-common-questions", "question-draft"), "reply"),
    # Jane's third message: her first two messages got the delivery rule's replies, so
    # the cap of two bot replies per thread holds the thank-you back.
    "1859000000000000026": (("praise",), "guard"),
    # Knowledge-base questions (config/answers/).
    "1859000000000000027": (("answer-common-questions", "question-draft"), "reply"),
    # "How long ... send back" is split between the returns-policy and returns-how
    # entries: returns-how's "How do I send something back?" fits the words best, so
    # it is only a draft, and a person sees it is the wrong entry (returns-policy).
    "1859000000000000028": (("answer-common-questions",), "draft"),
    # Ordered by mistake, answered: "cancel" in a question and the customer's own
    # "by mistake" are no complaint (they scored -0.53 and went to care as well).
    "1859000000000000029": (("answer-common-questions", "question-draft"), "reply"),
    # The refund-timing entry answers it (the kettle is one of the brand's products,
    # answers.products); billing take the case as well. Asking about a refund is no
    # complaint: complaint-to-human no longer matches (it scored -0.30).
    "1859000000000000030": (
        ("answer-common-questions", "refund-or-billing", "question-draft"),
        "reply escalate:billing",
    ),
    # A question about paying, answered; VADER's "pay" (-0.4) made it a complaint and
    # escalated it to care.
    "1859000000000000031": (("answer-common-questions", "question-draft"), "reply"),
    # A complaint that mentions shipping is not a question: no shipping answer. "a joke"
    # is a complaint (VADER's "joke" is +1.2, which left it unescalated as praise).
    "1859000000000000032": (("complaint-to-human",), "reply escalate:care"),
    "t1_lq0009": (("answer-common-questions",), "reply"),  # 0.59: above answer_at 0.2
}

# The knowledge-base entry behind each answered or drafted sample.
ANSWERS = {
    "1859000000000000012": "order-change-address",
    "1859000000000000018": "shipping-countries",
    "1859000000000000021": "outage-status",
    "t1_lq0008": "af200-dishwasher",
    "1859000000000000027": "store-hours",
    "1859000000000000029": "order-cancel",
    "1859000000000000030": "refund-timing",
    "1859000000000000031": "payment-methods",
    "t1_lq0009": "warranty-length",
    "1859000000000000028": "returns-how",  # a draft only: the wrong entry (see above)
}


def summary(decision: Decision) -> str:
    parts = ["ignore"] if decision.ignored else []
    if decision.reply is not None:
        parts.append("draft" if decision.reply.draft else "reply")
    if decision.escalation is not None:
        parts.append(f"escalate:{decision.escalation.team}")
    if decision.priority is not None:
        parts.append(f"priority:{decision.priority}")
    if any(note.startswith("guard") for note in decision.notes) and not decision.ignored:
        parts.append("guard")
    return " ".join(parts)


@pytest.fixture(scope="module")
def decisions() -> dict[str, tuple[tuple[str, ...], str, Decision]]:
    settings = load_settings(REPO / "config" / "inchannel.yaml")
    mentions, bad_lines = load_jsonl(REPO / "config" / "samples" / "mentions.jsonl")
    assert bad_lines == []
    engine = engine_from_settings(settings)
    return {
        m.external_id: (d.matched, summary(d), d)
        for m, _, d in dry_run(engine, Scorer(settings.scoring), mentions)
    }


def test_every_sample_has_an_expectation(decisions: dict[str, object]) -> None:
    assert set(decisions) == set(EXPECTED)


@pytest.mark.parametrize("mention_id", list(EXPECTED))
def test_sample_decision(
    decisions: dict[str, tuple[tuple[str, ...], str, Decision]], mention_id: str
) -> None:
    matched, what, _ = decisions[mention_id]
    assert (matched, what) == EXPECTED[mention_id]


def test_answers_come_from_the_expected_entries(
    decisions: dict[str, tuple[tuple[str, ...], str, Decision]],
) -> None:
    answered = {
        mention_id: d.reply.answer
        for mention_id, (_, _, d) in decisions.items()
        if d.reply is not None and d.reply.answer is not None
    }
    assert answered == ANSWERS


def test_replies_are_personal_in_thread_and_free_of_redirects(
    decisions: dict[str, tuple[tuple[str, ...], str, Decision]],
) -> None:
    from monitor.rules.deflection import find_redirect

    replies = [d.reply for _, _, d in decisions.values() if d.reply and not d.reply.draft]
    assert len(replies) >= 15
    for reply in replies:
        assert find_redirect(reply.text) is None
        assert "{" not in reply.text
        assert len(reply.text) <= 280
    texts = [r.text for r in replies]
    assert len(set(texts)) == len(texts)  # X rejects duplicate posts


def test_hostile_mention_text_is_never_evaluated() -> None:
    settings = load_settings(REPO / "config" / "inchannel.yaml")
    engine = engine_from_settings(settings)
    from tests.rulekit import decide

    hostile = "@acme refund now {case} {author.__class__} <script>x</script>"
    decision = decide(engine, hostile, author_name="{brand} @everyone <b>")
    assert decision.reply is not None
    # The display name is cut to its first word of letters: no braces, no third-party @.
    assert decision.reply.text == (
        "Hi brand, sorry about the billing trouble. Someone from our billing team will pick "
        "this up here in the thread shortly (case C-1001)."
    )


def test_after_hours_tag_uses_the_care_team_hours_in_london() -> None:
    from datetime import UTC, datetime

    from monitor.rules.context import Context
    from tests.rulekit import decide

    engine = engine_from_settings(load_settings(REPO / "config" / "inchannel.yaml"))
    sunday = Context(now=datetime(2026, 11, 22, 12, 0, tzinfo=UTC), case_ref="C-1")
    weekday_evening = Context(now=datetime(2026, 11, 20, 19, 59, tzinfo=UTC), case_ref="C-1")
    christmas = Context(now=datetime(2026, 12, 25, 12, 0, tzinfo=UTC), case_ref="C-1")
    assert "after-hours" in decide(engine, "@acme hello", context=sunday).tags
    assert "after-hours" not in decide(engine, "@acme hello", context=weekday_evening).tags
    assert "after-hours" in decide(engine, "@acme hello", context=christmas).tags


def shipped_decision(text: str) -> tuple[tuple[str, ...], str, Decision]:
    """The shipped rules' decision on one new X mention of @acme."""
    from datetime import UTC, datetime

    from monitor.domain import Author, Mention, Platform

    settings = load_settings(REPO / "config" / "inchannel.yaml")
    mention = Mention(
        platform=Platform.X,
        external_id="1",
        author=Author(id="7", handle="sam"),
        text=text,
        created_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        conversation_id="1",
    )
    ((_, _, decision),) = dry_run(
        engine_from_settings(settings), Scorer(settings.scoring), [mention]
    )
    return decision.matched, summary(decision), decision


def test_too_late_to_change_is_a_question_not_a_late_order() -> None:
    matched, _, decision = shipped_decision(
        "@acme is it too late to change the delivery address on my order?"
    )
    assert matched[0] == "answer-common-questions"
    assert decision.reply is not None
    assert decision.reply.answer == "order-change-address"


@pytest.mark.parametrize("apostrophe", ["'", "\u2019"])
def test_a_problem_report_gets_the_apology_whatever_the_apostrophe(apostrophe: str) -> None:
    matched, what, decision = shipped_decision(
        f"@acme my parcel hasn{apostrophe}t arrived yet. How do I track my order?"
    )
    assert "answer-common-questions" not in matched
    assert matched[0] == "delivery-problem"
    assert what == "reply escalate:care"
    assert decision.reply is not None
    assert decision.reply.answer is None


def test_still_waiting_for_an_order_gets_the_apology_not_the_tracking_answer() -> None:
    matched, what, decision = shipped_decision(
        "@acme still waiting for my parcel, how do I track it?"
    )
    assert "answer-common-questions" not in matched
    assert matched[0] == "delivery-problem"
    assert what == "reply escalate:care"
    assert decision.reply is not None
    assert decision.reply.answer is None


def test_a_parcel_marked_delivered_that_never_came_gets_a_person() -> None:
    matched, what, decision = shipped_decision(
        "@acme order AC-551203 says delivered but nothing here. can you check?"
    )
    assert "answer-common-questions" not in matched
    assert matched[0] == "delivery-problem"
    assert what == "reply escalate:care"
    assert decision.reply is not None
    assert decision.reply.answer is None


# Contest spam as it is posted: a call to enter, tagging every brand in sight.
GIVEAWAY_SPAM = [
    "@acme @bestbuy @target GIVEAWAY!!! RT and follow to win free followers",
    "🎁 #GIVEAWAY 🎁 Win a $500 gift card! Follow + RT + tag 3 friends to enter @acme",
    "#giveaway time! Retweet this and follow @dealz_daily @acme for a chance to win",
    "@acme claim your crypto airdrop now, limited spots",
    "Like & RT to win an Acme stand mixer!! #Giveaway @acme @lily_bakes",
]

# Customers writing about a giveaway: the care rules answer them, none is ignored.
GIVEAWAY_CUSTOMERS = [
    "@acme I won your giveaway 3 weeks ago and the prize never arrived",
    "@acme I entered the follow to win giveaway and still nothing, where is my prize?",
    "@acme your giveaway was a joke, nobody ever got anything",
    "@acme when will the giveaway prize be shipped? I won it 3 weeks ago",
]


@pytest.mark.parametrize("text", GIVEAWAY_SPAM)
def test_contest_spam_is_ignored(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("ignore-giveaway-spam",), "ignore", ("giveaway",))


@pytest.mark.parametrize("text", GIVEAWAY_CUSTOMERS)
def test_a_customer_writing_about_a_giveaway_is_answered(text: str) -> None:
    # The rule matched "giveaway" anywhere: a prize that never came was silently ignored.
    matched, what, decision = shipped_decision(text)
    assert "ignore-giveaway-spam" not in matched
    assert not decision.ignored
    # Acknowledged and handed to care, or (a question) drafted for a person to answer.
    assert what in ("reply escalate:care", "draft")
    assert decision.reply is not None


# The site or app not working, as customers say it.
OUTAGE_REPORTS = [
    "@acme the site is down, can't check out",
    "@acme app down again?? can't see my orders",
    "@acme checkout has been down for me all morning",
    "@acme down for me too, anyone else getting errors?",
    "@acme is acme down or is it just me?",
    "@acme is the website down? Tried three browsers",
    "@acme your servers went down in the middle of my order",
    # How long it has been down: a number, but no price.
    "@acme the site has been down 2 hours now, can't check out",
    "@acme app down 3 days and counting",
    "@acme website down 45 mins, what's going on",
    # A page of ours down is an outage; only the Page Down key is not.
    "@acme the page is down again, nothing loads",
    "@acme payment page down again",
    # VADER calls these positive (a "great", a "love", a "thanks", or nothing against a
    # mild word): the rule skipped every positive message and they went unanswered or
    # got the praise rule's thank-you.
    "@acme site is down, can't pay",
    "@acme the app is down again, great job",
    "@acme site down again, love that for me",
    "@acme great, the app is not working again",
    "@acme wow, outage number three this week. impressive",
    "@acme app won't load, any ideas? thanks",
    # Asked whether it is back, and it is not.
    "@acme is it back up yet? still down for me",
    # Our site or app not working, even beside an appliance.
    "@acme checkout not working, please help",
    "@acme the app for my air fryer is not working",
]

# Thanks for a fix: no outage to report, whatever VADER makes of it.
OUTAGE_OVER = [
    "@acme thanks, the site is back up",
    "@acme the site was down earlier but it's working now, thanks!",
    "@acme thanks for fixing the outage so fast",
    "@acme app is working again, you guys are great",
    "@acme all fixed now, checkout works again. thank you!",
]

# A broken appliance is a product fault for care, not an outage for tech.
APPLIANCE_FAULTS = [
    "@acme the timer on my air fryer is not working",
    "@acme my kettle is not working, the light stays off",
]

# "down" that is not an outage: prices, idioms, payments.
NOT_OUTAGES = [
    "@acme is the kettle price going down on black friday?",
    "@acme calm down, it was only a joke about your ad",
    "@acme maybe down the road you could stock the AF-200 in blue?",
    "@acme do you offer a down payment plan for the espresso machine?",
    "@acme will the price of the stand mixer come down after christmas?",
    "@acme is it down to me to book the return courier?",
    "@acme everything down 20% this weekend? or just the kettles",
    # The Page Down key: "page" is one of the subjects, so "page down" read as an outage.
    "@acme press page down on the product list and the AF-200 photos overlap",
    "@acme the page down key skips half the reviews on your product pages",
    "@acme hitting page down skips the size guide on the kettle page",
]


@pytest.mark.parametrize("text", OUTAGE_REPORTS)
def test_an_outage_report_goes_to_tech(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "outage-report" in matched
    assert decision.escalation is not None
    assert decision.escalation.team == "tech"


@pytest.mark.parametrize("text", NOT_OUTAGES)
def test_down_that_is_no_outage_gets_no_outage_reply(text: str) -> None:
    # The rule matched the word "down" anywhere: a question about a price drop was told
    # "our engineers are looking at this" in public and paged tech at high priority.
    matched, _, decision = shipped_decision(text)
    assert "outage-report" not in matched
    assert "outage" not in decision.tags
    assert decision.escalation is None or decision.escalation.team != "tech"
    assert decision.reply is None or decision.reply.draft
    # Nor a draft of the knowledge base's outage answer ("Our engineers have been
    # alerted"): its keyword "down" let these questions in.
    assert decision.reply is None or decision.reply.answer != "outage-status"


@pytest.mark.parametrize("text", OUTAGE_OVER)
def test_thanks_for_a_fix_is_no_outage(text: str) -> None:
    # Without the positive-label gate, "outage" and "down" alone would page tech.
    matched, _, decision = shipped_decision(text)
    assert "outage-report" not in matched
    assert decision.escalation is None or decision.escalation.team != "tech"


@pytest.mark.parametrize("text", APPLIANCE_FAULTS)
def test_a_broken_appliance_goes_to_care_not_tech(text: str) -> None:
    # "not working" anywhere was an outage: "our engineers are looking at this" in
    # public and a high-priority page to tech for a kettle.
    matched, what, decision = shipped_decision(text)
    assert "outage-report" not in matched
    assert "outage" not in decision.tags
    assert what == "reply escalate:care"


# One customer who cannot sign in: a forgotten password, not an outage.
LOGIN_ONE_CUSTOMER = [
    "@acme can't log in",
    "@acme can\u2019t log in",
    "@acme cant log in",
    "@acme cannot login to my account",
    "@acme I can't log in to my account",
    "@acme forgot my password can't sign in",
    "@acme cannot log in, forgot my password",
    "@acme unable to sign in to my account, keeps saying wrong password",
]

# Signing in failing for many, or for hours: an outage.
LOGIN_OUTAGES = [
    "@acme login broken for everyone since 9am",
    "@acme nobody in our house can log in since this morning",
    "@acme can't log in, anyone else?",
    "@acme cannot sign in since 9:30, is the site down?",
    "@acme can't log in for hours now, nobody can",
]


def assert_reset_steps_for_one_customer(text: str) -> None:
    """login-help's Forgot password steps in the thread: no outage, no page to tech."""
    matched, _, decision = shipped_decision(text)
    assert "outage-report" not in matched
    assert "outage" not in decision.tags
    assert decision.escalation is None or decision.escalation.team != "tech"
    assert decision.reply is not None
    assert "Forgot password" in decision.reply.text
    assert "login" in decision.tags


def assert_paged_to_tech(text: str, *, reset_steps: bool = False) -> set[str]:
    """outage-report's page to tech, not login-help's steps; the rules matched."""
    matched, _, decision = shipped_decision(text)
    assert "outage-report" in matched
    assert "login-help" not in matched
    assert decision.escalation is not None
    assert decision.escalation.team == "tech"
    if not reset_steps:
        assert decision.reply is not None
        assert "Forgot password" not in decision.reply.text
    return matched


@pytest.mark.parametrize("text", LOGIN_ONE_CUSTOMER)
def test_one_customer_who_cannot_log_in_gets_the_reset_steps_not_a_page_to_tech(
    text: str,
) -> None:
    # "can't log in" was an outage phrase: a customer who had forgotten their password
    # got the knowledge base's reset steps and a high-priority page to tech for the
    # same message; "cannot login" and "forgot my password can't sign in" got nothing.
    assert_reset_steps_for_one_customer(text)


def test_signing_in_that_works_again_gets_no_reset_steps() -> None:
    matched, _, _ = shipped_decision("@acme couldn't log in yesterday but it's working now, thanks")
    assert "login-help" not in matched


def test_a_very_upset_customer_locked_out_gets_a_person_first() -> None:
    # As answer-common-questions: a compound of -0.6 or below gets angry-customer's
    # apology and a person, not the self-help steps.
    matched, what, decision = shipped_decision(
        "@acme can't log in to my account, so annoying, this is the worst"
    )
    assert "login-help" not in matched
    assert what == "reply escalate:care"
    assert decision.reply is not None
    assert decision.reply.rule == "angry-customer"


# One customer who says the others can sign in: no outage, whatever "everyone" says.
LOGIN_ONLY_ME = [
    "@acme can't log in but everyone else in my house can",
    "@acme can't log in, others in my family can",
    "@acme can't log in but it works for everybody else",
    "@acme cannot sign in, everybody else could sign in fine",
]


@pytest.mark.parametrize("text", LOGIN_ONLY_ME)
def test_one_customer_locked_out_while_others_can_sign_in_is_no_outage(text: str) -> None:
    # login-outage read "everyone" and "others" as many failing: these paged tech at
    # high priority and told the customer our engineers were looking at an outage.
    assert_reset_steps_for_one_customer(text)


@pytest.mark.parametrize(
    "text",
    [
        "@acme can't log in and everyone else can't either",
        "@acme login not working for everyone, others can't sign in either",
        "@acme everyone is complaining, nobody can log in",
    ],
)
def test_others_who_cannot_sign_in_either_are_still_an_outage(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "login-outage" in matched
    assert "outage-report" in matched
    # Every login outage is a login failure too, "nobody can log in" (which
    # login-trouble's words do not cover) included: the team filters on the tag.
    assert {"login", "outage"} <= set(decision.tags)


@pytest.mark.parametrize("text", LOGIN_OUTAGES)
def test_a_login_outage_goes_to_tech_without_the_reset_steps(text: str) -> None:
    # "login broken for everyone since 9am" went to care as a complaint.
    assert_paged_to_tech(text)


# One customer's login or password "not working": login-help's, not an outage.
LOGIN_NOT_WORKING_ONE_CUSTOMER = [
    "@acme my password is not working",
    "@acme login not working",
    "@acme my login isn't working",
    "@acme password doesn't work",
    "@acme my password isn\u2019t working",
    "@acme log in not working",
    "@acme sign in is not working",
    "@acme why is my password not working??",
    "@acme password not working on the app",
    # "it", "this" or "that" is the login, not something else of ours: these paged tech.
    "@acme Can't log in, it's not working",
    "@acme can\u2019t sign in, it\u2019s not working",
    "@acme cannot log in, this is not working",
    "@acme it's not working, I can't log in",
    # "still", "just" or "currently" before "not working": these paged tech too.
    "@acme My password still not working",
    "@acme login still not working",
    "@acme my password is still not working",
    "@acme sign in just not working",
    "@acme log in is currently not working",
    "@acme can't log in, it's still not working",
    # "still doesn't work", "still isn't working": these got nothing at all.
    "@acme my password still isn't working",
    "@acme my password still isn\u2019t working",
    "@acme password still doesn't work",
    "@acme login still doesn't work",
]

# The same words for many, or for long: a login outage.
LOGIN_NOT_WORKING_OUTAGES = [
    "@acme my password is not working since the update",
    "@acme login not working, anyone else?",
    "@acme login not working for everyone since 9am",
    "@acme password doesn't work for hours now",
    "@acme login still not working for everyone since 9am",
    "@acme password still not working, anyone else?",
    "@acme password still doesn't work, anyone else?",
    "@acme login still doesn't work for everyone since 9am",
    "@acme my password still isn't working for hours now",
]

# Signing in "not working" beside something else of ours not working: still an outage.
LOGIN_AND_SITE_NOT_WORKING = [
    "@acme the app is not working",
    "@acme site not working",
    "@acme checkout not working",
    "@acme login not working, the app is not working either",
    "@acme my password is not working and checkout keeps timing out",
    "@acme my account is not working",
    "@acme my account is still not working",
    "@acme login page not working",
    "@acme password reset not working",
    "@acme the app is still not working",
    "@acme login still not working, the app is not working either",
    "@acme can't log in, it's not working and the site is not working either",
]


@pytest.mark.parametrize("text", LOGIN_NOT_WORKING_ONE_CUSTOMER)
def test_one_customers_login_not_working_gets_the_reset_steps_not_a_page_to_tech(
    text: str,
) -> None:
    # outage-report's "not working" counted "login" and "password" as our site: "my
    # password is not working" and "login not working" paged tech at high priority with
    # "our engineers are looking at this"; "password doesn't work" got nothing.
    assert_reset_steps_for_one_customer(text)


@pytest.mark.parametrize(
    "text",
    ["@acme can't log in and my kettle is broken", "@acme can't log in, been on hold for an hour"],
)
def test_a_login_problem_beside_another_complaint_keeps_its_care_case(text: str) -> None:
    # The reset steps answer the login; the kettle or the wait is still for a person.
    matched, _, decision = shipped_decision(text)
    assert "login-help" in matched
    assert "complaint-to-human" in matched
    assert decision.escalation is not None
    assert decision.escalation.team == "care"


def test_a_very_upset_customer_whose_login_is_not_working_gets_a_person() -> None:
    # login-help stands aside at -0.6 or below, so complaint-to-human is not kept out.
    matched, what, decision = shipped_decision(
        "@acme login not working, this is ridiculous, worst service ever"
    )
    assert "login-help" not in matched
    assert "outage-report" not in matched
    assert "complaint-to-human" in matched
    assert what == "reply escalate:care"
    assert decision.reply is not None
    assert decision.reply.rule == "angry-customer"


@pytest.mark.parametrize("text", LOGIN_NOT_WORKING_OUTAGES)
def test_login_not_working_for_many_or_for_long_goes_to_tech(text: str) -> None:
    assert "login-outage" in assert_paged_to_tech(text)


@pytest.mark.parametrize("text", LOGIN_AND_SITE_NOT_WORKING)
def test_the_site_not_working_still_goes_to_tech(text: str) -> None:
    assert_paged_to_tech(text, reset_steps=True)


# A login failure beside outage-report's own words for the site failing: an outage.
# answer-common-questions offered the knowledge base's password-reset steps (as a draft)
# while tech was paged.
LOGIN_WITH_THE_SITE_FAILING = [
    "@acme can't log in, getting a 502",
    "@acme can't log in, down for me",
    "@acme cannot log in, outage?",
    "@acme can't log in, site down",
    "@acme can't log in, 500 error",
    "@acme can't sign in, the page won't load",
]


@pytest.mark.parametrize("text", LOGIN_WITH_THE_SITE_FAILING)
def test_a_login_failure_with_the_site_failing_gets_no_reset_steps(text: str) -> None:
    matched = assert_paged_to_tech(text)
    assert "login-outage" in matched
    assert "answer-common-questions" not in matched


# A login failure beside outage-report's words for the app failing: an outage too.
# answer-common-questions got in first (login-outage did not tag them), so the
# customer had its draft or the password-reset steps beside tech's page.
LOGIN_WITH_THE_APP_CRASHING = [
    "@acme can't log in, app keeps crashing",
    "@acme can't log in, app keeps crashing, how do I reset my password?",
    "@acme cannot sign in, the app crashed",
    "@acme can't log in, app crashes every time",
    "@acme unable to log in, the app crashing on open",
    "@acme can't log in, it keeps logging me out",
    "@acme can't log in, it logged me out",
]


@pytest.mark.parametrize("text", LOGIN_WITH_THE_APP_CRASHING)
def test_a_login_failure_with_the_app_crashing_gets_the_outage_reply_not_reset_steps(
    text: str,
) -> None:
    matched = assert_paged_to_tech(text)
    assert "login-outage" in matched
    assert "answer-common-questions" not in matched
    _, _, decision = shipped_decision(text)
    assert decision.reply is not None
    assert decision.reply.rule == "outage-report"


# One customer, whatever login-outage's words seem to say: a number of days is no time
# of day, a question whether the others can sign in is asked by one customer, and
# "nobody helps" is about us, not about the others failing. These paged tech.
LOGIN_ONE_CUSTOMER_NOT_AN_OUTAGE = [
    "@acme can't log in since 2 days",
    "@acme can everyone else log in? I can't log in",
    "@acme can't log in, can others?",
    "@acme can't log in, can other people sign in?",
    "@acme can't log in, nobody helps",
    "@acme can't log in, no one answers",
    "@acme cannot sign in and nobody can help me",
    "@acme can't log in but everyone else in my house can, no one answers",
]


@pytest.mark.parametrize("text", LOGIN_ONE_CUSTOMER_NOT_AN_OUTAGE)
def test_one_customer_whose_words_only_look_like_an_outage_gets_the_reset_steps(
    text: str,
) -> None:
    assert_reset_steps_for_one_customer(text)


@pytest.mark.parametrize(
    "text",
    [
        "@acme can't log in since 2pm",
        "@acme can't log in since 2 pm",
        "@acme can't log in since 10 this morning",
        "@acme can't log in since 8 o'clock",
        "@acme can't log in since 14:30",
        "@acme can everyone else log in? I can't log in and nobody here can",
        "@acme can't log in, nobody can",
        "@acme can't log in, nobody in the office can sign in, nobody helps",
    ],
)
def test_a_time_of_day_or_the_others_failing_too_is_still_a_login_outage(text: str) -> None:
    assert "login-outage" in assert_paged_to_tech(text, reset_steps=True)


# Delivery complaints VADER calls positive ("love", "great", "thanks", "brilliant").
DELIVERY_PROBLEMS = [
    "@acme my order is late, would love an update please",
    "@acme love how my order is 5 days late",
    "@acme order delayed again, brilliant",
    "@acme parcel is a week late, thanks a lot",
    "@acme 3 weeks late and counting, amazing service",
    "@acme it says it arrived but nothing here, great",
    # Still waiting for the order itself: care's general complaint reply took these.
    "@acme still waiting on my order",
    "@acme still waiting for my parcel",
    "@acme still waiting for my parcel, thanks",
    "@acme still waiting on my order, great service",
]

# Thanks for a parcel that came, or delivery words in praise: no delivery problem.
DELIVERY_FINE = [
    "@acme delivery arrived, great",
    "@acme thanks for the update, my parcel was delayed but it arrived today, great",
    "@acme order was delayed but it turned up this morning, thanks so much",
    "@acme tracking worked perfectly, parcel arrived early, thanks!",
    "@acme love the tracking updates, thanks",
]


@pytest.mark.parametrize("text", DELIVERY_PROBLEMS)
def test_a_late_order_goes_to_care_however_it_scores(text: str) -> None:
    # The rule skipped every positive message: these got "That made the team's day."
    matched, what, decision = shipped_decision(text)
    assert "delivery-problem" in matched
    assert "delivery" in decision.tags
    assert what == "reply escalate:care"


# Where's my parcel or package, in other words and slang, and no sign of it: they got
# only the how-to-track answer (or a draft of it) and no person, or nothing at all.
WHERES_MY_PARCEL = [
    "@acme where tf is my parcel",
    "@acme where's my parcel??",
    "@acme wheres my package",
    "@acme where the hell are my parcels",
    "@acme still no sign of my parcel",
    "@acme no sign of my package and it's been a week",
]


@pytest.mark.parametrize("text", WHERES_MY_PARCEL)
def test_where_is_my_parcel_in_any_words_goes_to_care_as_a_delivery(text: str) -> None:
    # A knowledge-base answer to "where's my parcel?" (how to track it) may come first,
    # as for "where is my order", but the case is care's.
    matched, _, decision = shipped_decision(text)
    assert "delivery-problem" in matched
    assert "delivery" in decision.tags
    assert decision.escalation is not None
    assert decision.escalation.team == "care"


def test_where_is_my_order_number_is_a_question_not_a_delivery() -> None:
    matched, _, decision = shipped_decision("@acme where is my order number?")
    assert "delivery-problem" not in matched
    assert decision.escalation is None


@pytest.mark.parametrize("text", DELIVERY_FINE)
def test_a_parcel_that_came_is_no_delivery_problem(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "delivery-problem" not in matched
    assert decision.escalation is None


@pytest.mark.parametrize(
    "text",
    [
        "@acme still waiting for my refund, it's been 3 weeks",
        "@acme still waiting on a reply from your team",
    ],
)
def test_still_waiting_for_something_else_is_no_delivery_problem(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "delivery-problem" not in matched
    assert "delivery" not in decision.tags


# A problem reported with a sarcastic or polite "great", "love" or "thanks": VADER
# scores them positive, and the praise rule tagged them `praise` beside the problem.
PROBLEMS_WITH_A_COMPLIMENT = [
    "@acme kettle stopped working after a week, great quality",
    "@acme been on hold for an hour, love the music",
    "@acme still waiting for my parcel, love the updates though",
]

# Real thanks, also for a problem that is over.
PRAISE = [
    "@acme love the new kettle, great job",
    "@acme my new air fryer is amazing, thank you!",
    "@acme thanks, the site is back up",
    "@acme the site was down earlier but it's working now, thanks!",
    "@acme app is working again, you guys are great",
    "@acme order was delayed but it turned up this morning, thanks so much",
    "@acme love the tracking updates, thanks",
    # Thanks VADER scores low (0.03 and 0.15): the score alone left them unanswered.
    "@acme thanks for fixing the outage so fast",
    "@acme my refund came through already, thank you so much!",
]

# Sarcastic or mixed thanks: no thank-you, whatever the thanks phrase.
NOT_PRAISE = [
    "@acme thanks for nothing",
    "@acme thanks a lot, now it's broken",
    "@acme thank you so much for wasting my time",
    "@acme thank you so much for nothing",
    "@acme thanks for fixing nothing",
    "@acme thank you so much, my order is still missing",
]


@pytest.mark.parametrize("text", OUTAGE_REPORTS + DELIVERY_PROBLEMS + PROBLEMS_WITH_A_COMPLIMENT)
def test_a_problem_report_is_never_praise(text: str) -> None:
    # "the app is down again, great job" was tagged outage and praise: a report of the
    # praise tag counted complaints as compliments.
    matched, _, decision = shipped_decision(text)
    assert "praise" not in matched
    assert "praise" not in decision.tags
    assert decision.escalation is not None


@pytest.mark.parametrize("text", PRAISE)
def test_real_praise_gets_the_thank_you(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("praise",), "reply", ("praise",))


@pytest.mark.parametrize("text", NOT_PRAISE)
def test_sarcastic_or_mixed_thanks_get_no_thank_you(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "praise" not in matched
    assert "praise" not in decision.tags


# A customer asking whether a message, a call or an account is really the brand's.
PHISHING_REPORTS = [
    "@acme is this email a scam? says my account is locked and asks for my card details",
    "@acme got a text saying my parcel is held until I pay £1.99, is it a scam or really you?",
    "@acme an account called acme_help_desk messaged me offering a refund, is that really you?",
    "@acme heads up, there's a fake acme page on facebook pretending to be you",
    "@acme received a phishing email using your logo",
]

# Abuse aimed at the brand stays abuse.
ABUSE = [
    "@acme you are idiots, three weeks and still no refund. Total scam.",
    "@acme you are scammers, I want my money back",
    "@acme total scam, your website took my money and nothing arrived?",
    "@acme I've sent 5 messages and nobody answers, are you a scam?",
    "@acme I'm talking to my lawyer about this fraud",
    "@acme is your website a scam? it took my money and sent nothing",
]


@pytest.mark.parametrize("text", PHISHING_REPORTS)
def test_a_phishing_report_goes_to_care_tagged_phishing_not_abuse(text: str) -> None:
    # "scam" and "fraud" made the abuse rule take it: a customer warning the brand was
    # tagged `abuse` with the reason "abusive or legal language".
    matched, what, decision = shipped_decision(text)
    assert matched == ("phishing-report",)
    assert decision.tags == ("phishing",)
    assert decision.escalation is not None
    assert (decision.escalation.team, decision.escalation.reason) == ("care", "possible phishing")
    assert what == "reply escalate:care"


def test_the_phishing_reply_stays_in_the_thread() -> None:
    from monitor.rules.deflection import find_redirect

    replies = {shipped_decision(text)[2].reply for text in PHISHING_REPORTS[:2]}
    for reply in replies:
        assert reply is not None
        assert find_redirect(reply.text) is None
        assert len(reply.text) <= 280


@pytest.mark.parametrize("text", ABUSE)
def test_abuse_with_scam_or_fraud_stays_abuse(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("abusive-to-human",), "escalate:care", ("abuse",))


@pytest.mark.parametrize(
    "text",
    [
        "@acme can I get an invoice for my order?",
        "@acme how do I get an invoice with my company name on it?",
    ],
)
def test_asking_for_an_invoice_is_no_billing_complaint(text: str) -> None:
    # "invoice" alone made it billing trouble: "sorry about the billing trouble" in
    # public and a high-priority case for billing. The knowledge base answers it.
    matched, _, decision = shipped_decision(text)
    assert "refund-or-billing" not in matched
    assert decision.escalation is None
    assert decision.reply is not None
    assert decision.reply.answer == "vat-invoice"


@pytest.mark.parametrize(
    "text",
    [
        "@acme my invoice is wrong, it shows two kettles and I bought one",
        "@acme the invoice you sent has the wrong amount on it",
        "@acme I was invoiced twice for the same order",
    ],
)
def test_a_wrong_invoice_is_still_billing(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "refund-or-billing" in matched
    assert decision.escalation is not None
    assert decision.escalation.team == "billing"


# How refunds work, asked in general: the knowledge base's business, not billing's.
REFUND_QUESTIONS = [
    "@acme how long does a refund take?",
    "@acme how long do refunds take to show on my card?",
    "@acme what's your refund policy?",
    "@acme what is your refund policy on sale items?",
    "@acme will my refund go back to my card or as store credit?",
    # "Still" about something other than the refund: still a general question.
    "@acme how long does a refund take? I'm still not sure",
    "@acme what's your refund policy? still no idea if sale items count",
]

# A refund that has gone wrong: billing, even when the message also asks how long.
REFUND_COMPLAINTS = [
    "@acme still no refund, where is it?",
    "@acme where is my refund? returned the kettle 3 weeks ago",
    "@acme my refund never arrived",
    "@acme I haven't received my refund and it's been a month",
    "@acme still waiting for my refund, how long does a refund take??",
    "@acme sent my return back last week and still no refund, how long does it take?",
    "@acme I want a refund, the toaster burnt out after two days",
    # "Still" about the refund or the money, beside a general question.
    "@acme still no refund after 3 weeks, how long does a refund take?",
    "@acme how long does a refund take? still waiting for my refund",
    "@acme how long do refunds take? I still haven't got my money",
    "@acme how long does a refund take? still no sign of the money",
]


# Thanks for a refund that came: nothing for billing to put right.
REFUND_THANKS = [
    "@acme thanks for the quick refund, love you guys",
    "@acme got my refund in 2 days, brilliant service",
    "@acme refund came through already, great service, thank you!",
]

# A refund that came, but not all of it or not right: still billing.
REFUND_PARTLY = [
    "@acme got my refund for the kettle but not the toaster, thanks",
    "@acme thanks for the refund, but it was only half the amount",
]


@pytest.mark.parametrize("text", REFUND_THANKS)
def test_thanks_for_a_refund_is_no_billing_trouble(text: str) -> None:
    # "refund" anywhere made it billing: a happy customer was told "sorry about the
    # billing trouble" in public and billing got a high-priority case.
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("praise",), "reply", ("praise",))


@pytest.mark.parametrize("text", REFUND_PARTLY)
def test_a_refund_that_came_short_still_goes_to_billing(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "refund-or-billing" in matched
    assert "praise" not in matched
    assert decision.escalation is not None
    assert decision.escalation.team == "billing"


@pytest.mark.parametrize("text", REFUND_QUESTIONS)
def test_asking_how_refunds_work_is_no_billing_complaint(text: str) -> None:
    # "refund" anywhere made it billing trouble: "how long does a refund take?" was
    # told "sorry about the billing trouble" (when no answer fitted) and opened a
    # high-priority case for billing.
    matched, _, decision = shipped_decision(text)
    assert "refund-or-billing" not in matched
    assert "billing" not in decision.tags
    assert decision.escalation is None or decision.escalation.team != "billing"
    assert decision.reply is None or "billing trouble" not in decision.reply.text


def test_a_refund_timing_question_gets_the_knowledge_base_answer() -> None:
    _, _, decision = shipped_decision("@acme how long does a refund take?")
    assert decision.reply is not None
    assert decision.reply.answer == "refund-timing"


@pytest.mark.parametrize("text", REFUND_COMPLAINTS)
def test_a_refund_gone_wrong_still_goes_to_billing(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "refund-or-billing" in matched
    assert decision.escalation is not None
    assert (decision.escalation.team, decision.escalation.priority) == ("billing", "high")


@pytest.mark.parametrize("text", REFUND_COMPLAINTS)
def test_a_refund_gone_wrong_gets_billing_s_apology_not_the_faq(text: str) -> None:
    # The answer rule runs first: "still no refund, where is it?" was told "We refund
    # within 2 working days" in public while billing got the case.
    matched, _, decision = shipped_decision(text)
    assert "answer-common-questions" not in matched
    assert decision.reply is not None
    assert decision.reply.answer is None
    assert "billing" in decision.reply.text


@pytest.mark.parametrize(
    "text",
    [
        "@acme my refund never arrived",
        "@acme returned the kettle 3 weeks ago and my refund still hasn't arrived",
        "@acme the refund has not arrived yet, it's been a month",
        "@acme the money never arrived in my account",
    ],
)
def test_a_refund_that_never_arrived_is_no_delivery_problem(text: str) -> None:
    # "never arrived" anywhere was a delivery: the case was tagged `delivery` too.
    matched, _, decision = shipped_decision(text)
    assert "delivery-problem" not in matched
    assert "delivery" not in decision.tags


# A fault in the product told without a word VADER reads as negative, or beside a
# sarcastic or polite "great", "love" or "thanks": these went unanswered or got the
# praise rule's thank-you ("great, another kettle that leaks" scores +0.79).
PRODUCT_FAULTS = [
    "@acme thanks a lot, the kettle is broken",
    "@acme great, another kettle that leaks. thanks acme",
    "@acme wow, love how my air fryer died after a month",
    "@acme oh great, the espresso machine is leaking everywhere",
    "@acme my kettle leaks from the bottom",
    "@acme brand new toaster and it's faulty, brilliant",
    "@acme the blender jug cracked after a week, great quality",
    "@acme love the toaster but the crumb tray is rubbish",
    "@acme thanks for the reply! still not fixed though",
    "@acme your stand mixer is making a grinding noise",
]

# Praise that names a fault only to say there is none.
NO_FAULT_PRAISE = [
    "@acme not a single leak in 5 years, love this kettle",
    "@acme no leaks and no fuss, the new espresso machine is brilliant, thanks",
]


@pytest.mark.parametrize("text", PRODUCT_FAULTS)
def test_a_product_fault_goes_to_care_however_it_scores(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert "complaint-to-human" in matched
    assert "praise" not in matched
    assert "complaint" in decision.tags
    assert what == "reply escalate:care"


@pytest.mark.parametrize("text", NO_FAULT_PRAISE)
def test_a_fault_denied_is_still_praise(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("praise",), "reply", ("praise",))


# Sarcastic thanks for a wait, or for being ignored: VADER reads the thanks (+0.36 to
# +0.69) and they got the praise thank-you ("Thank you so much! That made the team's
# day.") or nothing at all.
SARCASTIC_WAITS = [
    "@acme thank you so much for the 3 hour wait",
    "@acme thanks for fixing it, took you long enough",
    "@acme thanks for the 5 week delivery time lol",
    "@acme thanks for the 45 minute wait on the phone, great service",
    "@acme thanks for the two hour hold music",
    "@acme cheers for ignoring me",
    "@acme support ghosted me after I sent photos of the jug",
    # An upside-down face or an eye-roll beside a wait of weeks: they got nothing.
    "@acme wow such fast delivery, only took 3 weeks 🙃",
    "@acme love that my kettle took a month to get here 🙄",
    "@acme been waiting 2 weeks for my toaster, amazing 🙃",
]

# A quick service thanked: praise, also with a number of days in it.
QUICK_THANKS = [
    "@acme thanks for the 2 day delivery, super quick!",
    "@acme thanks for the quick reply, super fast",
    # The same faces without a wait of weeks are no complaint.
    "@acme only took 2 days to arrive, thanks 🙃",
    "@acme took ages to choose a colour 🙃 went with red, love it",
]


@pytest.mark.parametrize("text", SARCASTIC_WAITS)
def test_sarcastic_thanks_for_a_wait_is_a_complaint(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert "praise" not in matched
    assert "complaint" in decision.tags
    assert what == "reply escalate:care"


@pytest.mark.parametrize("text", QUICK_THANKS)
def test_thanks_for_a_quick_service_is_still_praise(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("praise",), "reply", ("praise",))


# A product that may hurt someone: fire, smoke, sparks, a shock, an injury. They went
# to care at normal priority like any complaint, or (no word VADER reads as negative:
# "smells of burning plastic, is that normal?") were not answered at all.
SAFETY_REPORTS = [
    "@acme my toaster caught fire this morning!!",
    "@acme the air fryer smells of burning plastic, is that normal?",
    "@acme the blender blade came loose and cut my hand",
    "@acme kettle trips the electrics every time I switch it on",
    "@acme got an electric shock off the kettle switch",
    "@acme sparks came out of the back of the toaster",
    "@acme love the air fryer but there's smoke coming out of the back",
    "@acme the espresso machine sprayed steam and scalded my arm",
]

# Fire and burning words that are no hazard.
NOT_SAFETY = [
    "@acme the toaster burns one side of the bread, is that normal?",
    "@acme this black friday deal is fire, love it",
    "@acme smoked salmon on toast from the new toaster, perfect breakfast",
]


@pytest.mark.parametrize("text", SAFETY_REPORTS)
def test_a_safety_report_goes_to_care_at_high_priority(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert matched[0] == "safety-report"
    assert "safety" in decision.tags
    assert "praise" not in matched
    assert decision.escalation is not None
    assert (decision.escalation.team, decision.escalation.priority) == ("care", "high")
    # Its own reply (stop using it), not a knowledge-base answer or a draft.
    assert what == "reply escalate:care"
    assert decision.reply is not None
    assert decision.reply.answer is None
    assert "stop using" in decision.reply.text


@pytest.mark.parametrize("text", NOT_SAFETY)
def test_fire_or_burning_words_are_no_safety_report(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "safety-report" not in matched
    assert "safety" not in decision.tags


# A legal threat: the care team at high priority, no bot reply (it would read as a joke).
LEGAL_THREATS = [
    "@acme I will take this to trading standards",
    "@acme reporting you to the ombudsman",
    "@acme I'm going to the small claims court over this kettle",
    "@acme I'm calling my lawyer",
    "@acme lawyers will hear about this",
    "@acme I'll be taking legal action",
    "@acme see you in court",
    "@acme I'm contacting a lawyer about this faulty toaster",
    "@acme speaking to a solicitor tomorrow, this is unacceptable",
    "@acme time to get a lawyer involved",
    "@acme my solicitor will be in touch",
    # A regulator or an adviser in a threat's shape, in other words.
    "@acme I've reported you to Trading Standards",
    "@acme contacting the ombudsman tomorrow",
    "@acme I'll be taking you to small claims if this isn't sorted",
    "@acme filing a complaint with the financial ombudsman",
    "@acme citizens advice told me you have to refund me",
    "@acme trading standards will hear about this",
    "@acme I've been in touch with trading standards, next stop the ombudsman",
]

# "Lawyer", "solicitor" or a regulator said in passing, not threatened: they went to
# care at high priority as legal threats, and the happy customer got no reply.
NOT_LEGAL_THREATS = [
    "@acme my sister is a lawyer and even she loves your app",
    "@acme the lawyer in the show said acme kettles are the best lol",
    "@acme my solicitor friend recommended your espresso machine, love it",
    "@acme best lawyer show ever on tonight, and a cuppa from my new acme kettle",
    # A regulator or an adviser named without a threat: these escalated a happy
    # customer as a legal threat at high priority, with no reply.
    "@acme I work in trading standards and your labelling is spot on",
    "@acme my mum volunteers at citizens advice and loves her acme kettle",
    "@acme the ombudsman drama on tonight was great, watched it with a brew from my acme kettle",
]


@pytest.mark.parametrize("text", NOT_LEGAL_THREATS)
def test_a_lawyer_or_regulator_mentioned_in_passing_is_no_legal_threat(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "legal-threat" not in matched
    assert "legal" not in decision.tags
    assert decision.escalation is None


# Abuse aimed at the brand, without the words the rule knew: they went unanswered.
MORE_ABUSE = [
    "@acme you are a bunch of clowns",
    "@acme f*** you acme",
    "@acme fuck you and your kettles",
]


@pytest.mark.parametrize("text", LEGAL_THREATS)
def test_a_legal_threat_goes_to_care_at_high_priority_without_a_reply(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("legal-threat",), "escalate:care", ("legal",))
    assert decision.escalation is not None
    assert (decision.escalation.priority, decision.escalation.reason) == ("high", "legal threat")


@pytest.mark.parametrize("text", MORE_ABUSE)
def test_abuse_in_other_words_is_abuse(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("abusive-to-human",), "escalate:care", ("abuse",))


# Money taken for nothing, or twice: billing's, not care's and not silence.
BILLING_TROUBLE = [
    "@acme payment taken twice for one kettle",
    "@acme I was charged but the order never went through",
    "@acme you took the money but my order didn't go through",
    "@acme paid twice for the same toaster",
]


@pytest.mark.parametrize("text", BILLING_TROUBLE)
def test_money_taken_twice_or_for_nothing_goes_to_billing(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert "refund-or-billing" in matched
    assert "billing" in decision.tags
    assert what == "reply escalate:billing"


# A code or voucher that does not work is no outage: no page to tech.
NOT_AN_OUTAGE_A_CODE = [
    "@acme promo code not working",
    "@acme my discount code is not working at checkout",
    "@acme gift card not working on the website",
]


@pytest.mark.parametrize("text", NOT_AN_OUTAGE_A_CODE)
def test_a_code_that_does_not_work_goes_to_care_not_tech(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert "outage-report" not in matched
    assert "outage" not in decision.tags
    assert what == "reply escalate:care"


# The site, app or checkout failing in other words: they went unanswered.
MORE_OUTAGE_REPORTS = [
    "@acme Can't checkout, payment fails every time",
    "@acme your website keeps logging me out",
    "@acme fix your app",
    "@acme the app keeps crashing when I open my orders",
]


@pytest.mark.parametrize("text", MORE_OUTAGE_REPORTS)
def test_the_site_or_app_failing_goes_to_tech(text: str) -> None:
    matched, what, _ = shipped_decision(text)
    assert "outage-report" in matched
    assert "praise" not in matched
    assert what == "reply escalate:tech"


LOST_ORDERS = [
    "@acme brilliant, my order is lost again",
    "@acme you lost my parcel, great",
    "@acme my package went missing, thanks a lot",
]


@pytest.mark.parametrize("text", LOST_ORDERS)
def test_a_lost_order_goes_to_care_not_the_thank_you(text: str) -> None:
    matched, what, _ = shipped_decision(text)
    assert "delivery-problem" in matched
    assert "praise" not in matched
    assert what == "reply escalate:care"


def test_a_lost_parcel_gets_the_apology_not_the_tracking_answer() -> None:
    matched, what, decision = shipped_decision("@acme my parcel went missing, how do I track it?")
    assert "answer-common-questions" not in matched
    assert what == "reply escalate:care"
    assert decision.reply is not None
    assert decision.reply.answer is None


# Praise beside a complaint about the delivery: the thank-you went to a customer who
# had waited weeks, and "Great product, terrible delivery" (+0.25) got nothing at all.
MIXED_DELIVERY_COMPLAINTS = [
    "@acme the kettle is great but delivery took 3 weeks",
    "@acme Great product, terrible delivery",
    "@acme love the kettle but the delivery was slow",
]


@pytest.mark.parametrize("text", MIXED_DELIVERY_COMPLAINTS)
def test_praise_beside_a_delivery_complaint_is_a_complaint(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert "praise" not in matched
    assert "complaint" in decision.tags
    assert what == "reply escalate:care"


# Thanks in British words: "cheers" (+0.48) and "ta" were never thanked.
CHEERS_THANKS = [
    "@acme cheers for the quick reply",
    "@acme ta for sorting my order so fast",
    "@acme ta very much, lovely kettle",
]


@pytest.mark.parametrize("text", CHEERS_THANKS)
def test_cheers_and_ta_are_thanks(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what, decision.tags) == (("praise",), "reply", ("praise",))


def test_cheers_for_nothing_is_no_praise() -> None:
    matched, _, _ = shipped_decision("@acme cheers for nothing")
    assert "praise" not in matched


# A chargeback is a threat about money: care at high priority without a reply, as any
# legal threat, and tagged `billing` so the billing team finds it among theirs.
@pytest.mark.parametrize(
    "text", ["@acme chargeback incoming", "@acme I'll do a charge back if this isn't sorted"]
)
def test_a_chargeback_threat_is_legal_and_billing(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert (matched, what) == (("chargeback-threat",), "escalate:care")
    assert set(decision.tags) == {"legal", "billing"}
    assert decision.escalation is not None
    assert (decision.escalation.priority, decision.escalation.reason) == ("high", "legal threat")


# A payment that failed: billing checks whether money was taken. It got a question draft.
def test_a_payment_that_did_not_go_through_goes_to_billing() -> None:
    matched, what, decision = shipped_decision(
        "@acme my payment didn't go through, can I try again?"
    )
    assert "refund-or-billing" in matched
    assert "billing" in decision.tags
    assert what == "reply escalate:billing"
    assert decision.reply is not None
    assert decision.reply.answer is None


# A payment that failed but took the money anyway: billing's (they find and return the
# money), not an outage page to tech. "Payment failed" with money taken went to tech at
# high priority with the engineers' reply, and a declined card went unanswered.
PAYMENT_FAILED_MONEY_TAKEN = [
    "@acme payment failed and I was charged anyway",
    "@acme payment failed but the money has left my account",
    "@acme Payment failed 3 times, then I saw 3 pending charges on my bank app",
    "@acme you've charged me but the payment failed on your site",
    "@acme my card was declined but the money still came out",
]


@pytest.mark.parametrize("text", PAYMENT_FAILED_MONEY_TAKEN)
def test_a_failed_payment_that_took_money_goes_to_billing(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert "refund-or-billing" in matched
    assert "outage-report" not in matched
    assert "billing" in decision.tags
    assert what == "reply escalate:billing"


def test_a_failed_payment_alone_is_still_the_checkout_failing() -> None:
    matched, what, _ = shipped_decision("@acme payment failed at checkout again, ugh")
    assert "outage-report" in matched
    assert what == "reply escalate:tech"


# Charged for something cancelled or returned, or a wrong amount: billing's to put
# right. They got care's general complaint reply and went to care, not billing.
CHARGED_WRONGLY = [
    "@acme I was charged for an order I cancelled",
    "@acme got charged £49.99 but my basket was £39.99??",
    "@acme returned the toaster last month and you've billed me again",
    "@acme you charged me the wrong amount for my kettle",
]

# "Charged" that is no billing trouble.
CHARGED_FINE = [
    "@acme my phone charged while the air fryer did the chips, love the new kitchen",
    "@acme is my card charged when I order or when it ships?",
]


@pytest.mark.parametrize("text", CHARGED_WRONGLY)
def test_charged_for_a_cancelled_order_or_a_wrong_amount_goes_to_billing(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert "refund-or-billing" in matched
    assert "billing" in decision.tags
    assert what == "reply escalate:billing"


@pytest.mark.parametrize("text", CHARGED_FINE)
def test_charged_without_anything_wrong_is_no_billing_trouble(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "refund-or-billing" not in matched
    assert "billing" not in decision.tags


# A payment "not working" that took the money: billing's, as a failed one is. It went
# to tech as an outage at high priority through the "not working" phrase.
PAYMENT_NOT_WORKING_MONEY_TAKEN = [
    "@acme payment not working and I was charged",
    "@acme your payment is not working but the money has gone from my account",
    "@acme payments not working, 2 pending charges on my card now",
]


@pytest.mark.parametrize("text", PAYMENT_NOT_WORKING_MONEY_TAKEN)
def test_a_payment_not_working_that_took_money_goes_to_billing(text: str) -> None:
    matched, what, decision = shipped_decision(text)
    assert "refund-or-billing" in matched
    assert "outage-report" not in matched
    assert "billing" in decision.tags
    assert what == "reply escalate:billing"


def test_a_payment_not_working_alone_is_still_the_checkout_failing() -> None:
    matched, what, _ = shipped_decision("@acme payment not working on your site")
    assert "outage-report" in matched
    assert what == "reply escalate:tech"


# The site or app timing out: it went unanswered (no word VADER scores, no phrase).
TIMING_OUT = [
    "@acme checkout page keeps timing out",
    "@acme the app times out every time I try to pay",
    "@acme website timed out twice during checkout, what's going on",
]


@pytest.mark.parametrize("text", TIMING_OUT)
def test_the_site_timing_out_goes_to_tech(text: str) -> None:
    matched, what, _ = shipped_decision(text)
    assert "outage-report" in matched
    assert what == "reply escalate:tech"


# Timing out that is not our site: an appliance's timer, a phone call cut off on hold.
@pytest.mark.parametrize(
    "text",
    [
        "@acme my air fryer times out after 60 minutes, is that normal?",
        "@acme was on hold for 40 mins then the call timed out",
    ],
)
def test_something_else_timing_out_is_no_outage(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "outage-report" not in matched
    assert decision.escalation is None or decision.escalation.team != "tech"


# A fault denied with "isn't", "wasn't", "aren't" or "never been": the customer says
# there is nothing wrong, and got care's "Sorry to hear this" with a case. (Only where
# VADER does not call the message negative: "I was just using it wrong" is -0.25.)
FAULT_DENIED = [
    "@acme the kettle isn't broken after all, I had it unplugged",
    "@acme the toaster wasn't faulty after all, my plug was. sorry!",
    "@acme the lids aren't cracked, it's the film on them",
    "@acme 5 years and my blender has never been faulty",
]


@pytest.mark.parametrize("text", FAULT_DENIED)
def test_a_fault_denied_in_other_words_is_no_complaint(text: str) -> None:
    matched, _, decision = shipped_decision(text)
    assert "complaint-to-human" not in matched
    assert "complaint" not in decision.tags
    assert decision.escalation is None
