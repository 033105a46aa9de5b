"""The deflection guard: templates that send the customer elsewhere fail check-config."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.rules.deflection import find_redirect
from tests.rulekit import decide, engine, problems

REDIRECTS = [
    ("Please DM us your order number.", "private message", "DM us"),
    ("Send us a DM and we'll sort it.", "private message", "DM"),
    ("Can you PM us the details?", "private message", "PM us"),
    ("Please send us a direct message.", "private message", "direct message"),
    ("Drop us a private message with the order.", "private message", "private message"),
    ("Message us and we will check.", "private message", "Message us"),
    ("Inbox us your order ID.", "private message", "Inbox us"),
    # The verb as people spell it: one m or two, "DMd" without the apostrophe.
    ("We've DMd you the label.", "private message", "DMd"),
    ("Try DMming us your order number.", "private message", "DMming us"),
    ("We PMmed you the details.", "private message", "PMmed"),
    ("Please email us the receipt.", "email", "email us"),
    ("Our team will e-mail you today.", "email", "e-mail"),
    ("Drop an email to our team.", "email", "Drop an email to our team"),
    ("Pop a quick email to the courier.", "email", "Pop a quick email to the courier"),
    ("Write to care@acme.example please.", "email address", "care@acme.example"),
    ("Please call us on the number below.", "phone call", "call us"),
    ("Give us a call any time.", "phone call", "Give us a call"),
    ("Call 1-800-555-0199 for help.", "phone call", "Call 1-800-555-0199"),
    ("Ring our hotline for a quick fix.", "phone call", "Ring our"),
    ("Our helpline is open 24/7.", "phone call", "helpline"),
    # "Call support" names no number and no "us", and sends them away all the same.
    ("Please call support on a weekday.", "phone call", "call support"),
    ("Ring customer services for a repair.", "phone call", "Ring customer services"),
    ("Phone customer care and they'll sort it.", "phone call", "Phone customer care"),
    ("Call the support team, they can help.", "phone call", "Call the"),
    ("Give our support team a ring today.", "phone call", "Give our support team a ring"),
    ("Give us a bell and we'll book it.", "phone call", "Give us a bell"),
    ("Reach us at +44 20 7946 0958.", "phone number", "+44 20 7946 0958"),
    ("We're at (555) 123-4567 all day.", "phone number", "(555) 123-4567"),
    ("Try 1-800 FLOWERS.", "phone number", "1-800"),
    ("Ring 07700 900123 today.", "phone number", "07700 900123"),
    ("Order 123 is late, so call 555 123 4567.", "phone call", "call 555 123 4567"),
    ("See https://acme.example/support for steps.", "support link", "https://acme.example/support"),
    ("Fill in www.acme.example/contact please.", "support link", "www.acme.example/contact"),
    ("Go to acme.com/help to fix it.", "support link", "acme.com/help"),
    ("Please contact support about this.", "contact elsewhere", "contact support"),
    ("Contact customer service for a refund.", "contact elsewhere", "Contact customer"),
    ("Feel free to reach out to our team.", "contact elsewhere", "reach out to"),
    ("Get in touch and we'll help.", "contact elsewhere", "Get in touch"),
    ("Please open a ticket so we can track it.", "contact elsewhere", "open a ticket"),
    ("Our help center has the answer.", "contact elsewhere", "help center"),
    ("Visit our support portal.", "contact elsewhere", "support portal"),
    ("Start a live chat on the site.", "contact elsewhere", "live chat"),
    # "DM us" in other words, messaging apps, other accounts, any support address.
    ("Send us a message with your order number.", "private message", "Send us a message"),
    ("Drop us a quick note and we'll check.", "private message", "Drop us a quick note"),
    ("Message our team with the order number.", "private message", "Message our team"),
    ("WhatsApp us your order number.", "messaging app", "WhatsApp"),
    ("Find us on Facebook Messenger.", "messaging app", "Messenger"),
    ("Tweet @AcmeReturns with your order number.", "another account", "@AcmeReturns"),
    ("Post it in r/AcmeSupport for the team.", "another account", "r/AcmeSupport"),
    # Reddit's own way to write them, a link there: "/r/..." and "/u/...".
    ("Post it in /r/AcmeSupport for the team.", "another account", "/r/AcmeSupport"),
    ("Send /u/AcmeCare a chat.", "another account", "/u/AcmeCare"),
    ("Steps: [the wiki](/r/acme/wiki/returns)", "another account", "/r/acme"),
    ("Start at acme.co.uk/returns and print the label.", "support link", "acme.co.uk/returns"),
    ("It's all on acme.ie today.", "support link", "acme.ie"),
    ("Write to returns at acme dot com.", "spelled-out address", "acme dot com"),
    ("Details: acme[dot]co[dot]uk", "spelled-out address", "acme[dot]co"),
    ("It's at acme-returns dot co dot uk.", "spelled-out address", "acme-returns dot co"),
    # A placeholder for the domain: the whole address, as for any other.
    ("Write to support@{brand}.com today.", "email address", "support@{brand}.com"),
    # "See our FAQ" is the deflection the product exists to avoid: the answer, not
    # where to look it up.
    ("The answer is in our FAQ.", "website", "FAQ"),
    ("Please check the FAQs first.", "website", "FAQs"),
    ("Please visit our website for the returns policy.", "website", "visit our website"),
    ("Head over to the Acme website for details.", "website", "Head over to the Acme website"),
    ("See our knowledge base for the steps.", "website", "See our knowledge base"),
    ("You can find the manual on our website.", "website", "find the manual on our website"),
    ("Full details are on our web site.", "website", "details are on our web site"),
    # Any domain with a path is a link, whatever its ending: acme.ch, acme.in.
    ("Die Schritte: acme.ch/hilfe", "support link", "acme.ch/hilfe"),
    ("Steps at acme.in/support today.", "support link", "acme.in/support"),
    ("It's all on acme.dev today.", "support link", "acme.dev"),
    ("Details: acme.co.jp/faq", "support link", "acme.co.jp/faq"),
    ("Message me and I'll check.", "private message", "Message me"),
    ("Write to us with the order number.", "contact elsewhere", "Write to us"),
    # What a reader sees: full-width letters and zero-width characters are no disguise.
    ("Please \uff24\uff2d us your order.", "private message", "DM us"),
    ("Please D\u200bM us your order.", "private message", "DM us"),
    ("Please e\u00admail us.", "email", "email us"),
    # Cyrillic and Greek letters drawn like Latin ones, inside a Latin word or one made
    # of them only: "uѕ" is "us" to a reader.
    ("Call u\u0455 today.", "phone call", "Call us"),
    ("\u0421\u0430ll us today.", "phone call", "Call us"),
    ("Please D\u041c us.", "private message", "DM us"),
    ("\u0415mail us the receipt.", "email", "Email us"),
    ("Visit \u03bfur website.", "website", "Visit our website"),
    ("Message \u041c\u0415 the details.", "private message", "Message ME"),
    # Another channel in other words: a community server, a call back, a contact page.
    ("Join our Discord and ask the team there.", "messaging app", "Discord"),
    ("Add us on Skype for a quick look.", "messaging app", "Skype"),
    ("Ask us on Instagram and we'll check.", "contact elsewhere", "Ask us on"),
    ("Post it in our community forum.", "contact elsewhere", "Post it in our community forum"),
    ("We'll call you back within the hour.", "phone call", "We'll call you"),
    ("An agent will phone you tomorrow.", "phone call", "An agent will phone you"),
    ("We can give you a ring this afternoon.", "phone call", "give you a ring"),
    ("Our phone lines are open 9-5.", "phone call", "phone lines"),
    ("The form is on our contact page.", "contact elsewhere", "contact page"),
    ("Write us the order number.", "contact elsewhere", "Write us"),
    ("Please log a ticket so we can track it.", "contact elsewhere", "log a ticket"),
    # Spaced, dotted or shortened to get past the guard.
    ("Please D M us your order number.", "private message", "D M us"),
    ("Please D.M. us your order number.", "private message", "D.M. us"),
    ("Just p-m me the details.", "private message", "p-m me"),
    ("Msg us your order number.", "private message", "Msg us"),
    ("Send a direct msg with the order.", "private message", "direct msg"),
    # Another channel in yet other words: a message to the team, a person to talk to, a
    # letter, a short code, a contact page's slug, a link with an ideographic full stop
    # (a browser reads "。", "．" and "｡" in an address as a dot).
    ("Please send a message to our team.", "private message", "send a message to our team"),
    ("Send a quick note to us with the order.", "private message", "Send a quick note to us"),
    ("Talk to our support team about it.", "contact elsewhere", "Talk to our support team"),
    ("Please speak to our support team.", "contact elsewhere", "speak to our support team"),
    ("Speak to an agent for a refund.", "contact elsewhere", "Speak to an agent"),
    ("Mail us the receipt.", "email", "Mail us"),
    ("Please e mail us the receipt.", "email", "e mail us"),
    ("Text HELP to 12345 for updates.", "phone call", "Text HELP to 12345"),
    ("The form is at contact-us on the site.", "contact elsewhere", "contact-us"),
    ("Go to acme\u3002com/help to fix it.", "support link", "acme.com/help"),
    ("Go to acme\uff0ecom/help to fix it.", "support link", "acme.com/help"),
    ("Go to acme\uff61com/help to fix it.", "support link", "acme.com/help"),
    # The brand's own errands pass (IN_CHANNEL), not the same verbs said to the customer.
    ("We'd like you to message our team.", "private message", "message our team"),
    ("Sorry we missed this. Message our team.", "private message", "Message our team"),
    (
        "We can't here; please speak to our support team.",
        "contact elsewhere",
        "speak to our support team",
    ),
    ("We need you to talk to our support team.", "contact elsewhere", "talk to our support team"),
    ("We can help if you message our team.", "private message", "message our team"),
    ("We're happy to help: send a note to our team.", "private message", "send a note to our team"),
    ("You'll need to speak to our support team.", "contact elsewhere", "speak to our support team"),
    (
        "If I were you, I'd speak to our support team.",
        "contact elsewhere",
        "speak to our support team",
    ),
    (
        "We'll message our warehouse team; please message our team too.",
        "private message",
        "message our team",
    ),
    ("We'll call the number on your order.", "phone call", "call the"),
    ("We'll ring our support line today.", "phone call", "ring our"),
    ("Please contact the support team.", "contact elsewhere", "contact the"),
    # Writing or talking to a party said to the customer, as "please call the courier" is.
    ("Write to our team with the order number.", "contact elsewhere", "Write to our team"),
    ("Please write to the courier.", "contact elsewhere", "write to the courier"),
    ("Please talk to the courier about it.", "contact elsewhere", "talk to the courier"),
    ("Speak with the store for a refund.", "contact elsewhere", "Speak with the store"),
    ("We'll reach out to you by email.", "contact elsewhere", "reach out to"),
    ("We'll get in touch with you shortly.", "contact elsewhere", "get in touch"),
    ("We can't here, so reach out to the support team.", "contact elsewhere", "reach out to"),
    # Emailing a party is the brand's errand only when the brand says it; said to the
    # customer, or emailing a thing (to the customer), it is email all the same.
    ("Email our team with the receipt.", "email", "Email our team"),
    ("Email the courier with your order number.", "email", "Email the courier"),
    ("We'll email the label to you.", "email", "email"),
    # Sending an email to a party is the brand's errand only when the brand says it.
    ("Send an email to the courier.", "email", "Send an email to the courier"),
    ("Please send an email to us.", "email", "email"),
    ("We'll send an email to you today.", "email", "email"),
    # "Give ... a ring" said to the customer, or to a line, is a call elsewhere.
    ("Give our team a ring.", "phone call", "Give our team a ring"),
    ("Give the courier a ring about it.", "phone call", "Give the courier a ring"),
    ("Give me a call and I'll sort it.", "phone call", "Give me a call"),
    ("Give our support line a ring.", "phone call", "Give our support line a ring"),
    ("We'll give your mobile a ring.", "phone call", "give your mobile a ring"),
    # A call back, whoever of the brand makes it, and to the customer's own line.
    ("We'll call your mobile this afternoon.", "phone call", "We'll call your mobile"),
    ("WE'LL RING YOUR LANDLINE.", "phone call", "WE'LL RING YOUR LANDLINE"),
    ("We'll phone your number on file.", "phone call", "We'll phone your number"),
    ("I'll call you this afternoon.", "phone call", "I'll call you"),
    ("We\u2019ll call you back today.", "phone call", "We\u2019ll call you"),
    ("We're going to call you later today.", "phone call", "We're going to call you"),
    ("Let me call you to sort it.", "phone call", "Let me call you"),
    ("Our team will call you tomorrow.", "phone call", "Our team will call you"),
    ("Someone from our team will ring you.", "phone call", "our team will ring you"),
    # Any "the ... team" speaks for the brand: a template cannot tell the brand's courier
    # team from the carrier's. "The courier will call you" names a third party and passes.
    (
        "The courier team will call you to book a slot.",
        "phone call",
        "The courier team will call you",
    ),
    # An offer asked as a question is a call back all the same.
    ("Can we call you to sort it?", "phone call", "we call you"),
    # "Contact us elsewhere" in yet other words.
    ("Reach us by phone on weekdays.", "contact elsewhere", "Reach us by phone"),
    ("You can reach me by text.", "contact elsewhere", "reach me by text"),
    ("Expect a call from us tomorrow.", "phone call", "Expect a call from us"),
    ("Expect a call back from our team.", "phone call", "Expect a call back from our team"),
    (
        "You'll get a quick call from our support team.",
        "phone call",
        "get a quick call from our support team",
    ),
    ("Ping us with the order number.", "private message", "Ping us"),
]

IN_CHANNEL = [
    "Sorry {first_name}, we're on it and will post updates here in this thread.",
    "Thanks {author}! Case {case} is with our {team} team, who will answer right here.",
    "{first_name}, that's not the delivery experience we want. We'll reply here (case {case}).",
    "We really appreciate it, {first_name}, thanks for the kind words!",
    "Order 48213 is on its way; we'll confirm here once the carrier scans it.",
    "Sorry about the billing trouble, {first_name}. Our billing team replies here shortly.",
    "Thanks for the patience! We called the carrier and it ships today.",
    "Sorry, {first_name}, the message the courier left was wrong: it ships today.",
    "You'll get SMS updates on the day, and we'll post here too.",
    "It's £4.99, or free over £40.",
    "All sorted, it is ready.See you in store!",
    "Hi @{author}, it ships today.",
    "We'll drop you a line here once it ships.",
    "Our support team answers right here; no need to call anyone.",
    "It rings twice when the water has boiled.",
    # Self-service steps are the answer itself, and an outage is news, not a redirect.
    "Tap Forgot password on the sign-in screen of our app or site.",
    "Sorry, our website is down; we're fixing it and will update you here.",
    "Orders placed on the website ship within 2 days.",
    "Sorry.In the meantime, we've refunded the fee.",
    "It works with 220-240 V and/or 50/60 Hz.",
    # Dates, times and order numbers are no phone numbers, nor "5 pm" a private message.
    "Your order ships on 2026-11-25, and we'll confirm here.",
    "It was delivered 20/11/2026 at 10:00, see you at 5 pm!",
    "Order 18504477 is on its way.",
    "Order #A-18504477 and case number: 12345678 are noted here.",
    "Your 1850 W heater ships today.",
    "Sorry, the text the courier sent had the wrong date.",
    # A scam warning, a delivery driver's call and a forum post about the brand.
    "We will never call you to ask for your password.",
    "The driver will call you when he is near.",
    "The courier will call you to book a slot.",
    # A question or a report about a call already made moves nothing to the phone.
    "Did we call you earlier? Sorry if we missed you; we'll reply here.",
    "Didn\u2019t our team call you yesterday? Sorry, updates here.",
    "We called you yesterday but couldn't get through, so we're replying here.",
    "Did you get a call from us? Sorry for the trouble; updates here.",
    "Expect a call from the driver on the day.",
    "You can reach us right here any time.",
    "You can reach us by replying to this post.",
    "We'll ping the courier and reply here.",
    "We saw the forum thread and are fixing it; updates here.",
    "It was delivered at 5 p.m. and we'll post the photo here.",
    "Open 9 a.m. to 6 p.m. me and the team answer here.",
    "Thanks for sharing it with our community!",
    # Near the patterns above, and no other channel: a goodbye, the brand's own errands,
    # a notification the customer opted into, the post, a full stop in Japanese.
    "Speak to you soon, {first_name}!",
    "Talk to you soon, and thanks for your patience.",
    "I'll speak to our warehouse team and reply here.",
    "We\u2019ll talk to the courier and update you here.",
    "We'll send a note to our warehouse team and reply here.",
    "We'll message our warehouse team and reply here.",
    "Let me message the courier team, then reply here.",
    # The brand as the subject however the verb is led in: tense, "going to", a contraction.
    "We're going to speak to our warehouse team.",
    "I\u2019m going to talk to our courier team and update you here.",
    "We'll need to speak with the courier team; updates here.",
    "Our team will message the courier team and reply here.",
    "Our support team is about to send a note to the warehouse team.",
    "We'd like to speak to our warehouse team first, then we'll reply here.",
    "I'm checking with our courier team now.",
    "We've asked our warehouse team and will reply here.",
    "Our team will message the courier.",
    # The brand calling or contacting a third party for the customer, not a call back.
    "We'll call the courier and reply here.",
    "I'm going to ring the depot and update you here.",
    "We'll contact the courier and reply here.",
    "Our team will reach out to the warehouse and post here.",
    "We'll get in touch with the courier and reply here.",
    "We'll write to the supplier and reply here.",
    "I'll speak with the store manager's team and update you here.",
    "We'll email our warehouse team and reply here.",
    "I'll e-mail the courier and update you here.",
    "Our team is emailing the supplier now.",
    "We'll send an email to our warehouse team and reply here.",
    "I'll drop a quick email to the courier, then update you here.",
    "We'll give our team a ring and reply here.",
    "Let me give the courier a call, then I'll update you here.",
    "We'll call your courier and reply here.",
    "We'll text you when it ships, and post here too.",
    "Royal Mail has it; we'll follow it here.",
    "We mailed the label to your address.",
    "Your contact details are safe with us.",
    "\u3054\u6ce8\u6587\u3092\u78ba\u8a8d\u3057\u307e\u3057\u305f\u3002It ships today.",
    # Russian and Greek stay as written: only words a Latin reader would read are folded.
    "\u041c\u044b \u0441 \u0432\u0430\u043c\u0438 \u0437\u0434\u0435\u0441\u044c.",
    "\u03a4\u03bf \u03b4\u03ad\u03bc\u03b1 \u03c6\u03b5\u03cd\u03b3\u03b5\u03b9.",
    "\u0421\u043f\u0430\u0441\u0438\u0431\u043e.\u0421\u043e \u043c\u043d\u043e\u0439.",
]


@pytest.mark.parametrize(("template", "kind", "phrase"), REDIRECTS)
def test_redirect_is_found_with_its_phrase(template: str, kind: str, phrase: str) -> None:
    assert find_redirect(template) == (kind, phrase)


@pytest.mark.parametrize("template", IN_CHANNEL)
def test_in_channel_answers_pass(template: str) -> None:
    assert find_redirect(template) is None


def test_the_customer_named_by_handle_is_not_another_account() -> None:
    text = "Thanks @jane_doe, it ships today; u/jane_doe on Reddit too."
    assert find_redirect(text, customer="jane_doe") is None
    assert find_redirect(text) == ("another account", "@jane_doe")
    found = find_redirect("Thanks @jane_doe, ask @AcmeReturns", customer="jane_doe")
    assert found == ("another account", "@AcmeReturns")


def _rule(template: str, extra: str = "") -> str:
    quoted = template.replace('"', '\\"')
    return (
        f'name: redirecting\n{extra}match:\n  label: negative\nthen:\n  reply:\n    - "{quoted}"\n'
    )


@pytest.mark.parametrize(("template", "kind", "phrase"), REDIRECTS[::3])
def test_check_config_rejects_redirect_with_rule_file_line_and_phrase(
    tmp_path: Path, template: str, kind: str, phrase: str
) -> None:
    found = problems(tmp_path, _rule(template))
    assert found == [
        f"{{dir}}/rules.yaml:6:7: rule 'redirecting': then.reply[0]: sends the customer "
        f"elsewhere ({kind}: {phrase!r}); answer in the thread, or set allow_redirect: true "
        "with a redirect_reason"
    ]


def test_drafts_are_checked_too(tmp_path: Path) -> None:
    text = "name: d\nmatch: {label: negative}\nthen:\n  draft: 'Please DM us.'\n"
    assert problems(tmp_path, text) == [
        "{dir}/rules.yaml:4:3: rule 'd': then.draft[0]: sends the customer elsewhere "
        "(private message: 'DM us'); answer in the thread, or set allow_redirect: true "
        "with a redirect_reason"
    ]


def test_allow_redirect_with_reason_is_a_warning_that_loads(tmp_path: Path) -> None:
    extra = "allow_redirect: true\nredirect_reason: product recall, required by law\n"
    text = _rule("The recall form is at https://acme.example/recall", extra)
    assert problems(tmp_path, text) == [
        "{dir}/rules.yaml:8:7: warning: rule 'redirecting': then.reply[0]: sends the customer "
        "elsewhere (support link: 'https://acme.example/recall'); allowed: product recall, "
        "required by law"
    ]


def test_allow_redirect_without_reason_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path, _rule("Email us", "allow_redirect: true\n"))
    assert found[0] == (
        "{dir}/rules.yaml:2:1: rule 'redirecting': allow_redirect: allow_redirect needs a "
        "redirect_reason saying why"
    )
    assert "answer in the thread" in found[1]


# A placeholder is filled after the guard has read the template: "@{first_name}" posts
# "@Bob", which tags whoever holds that handle, and "@{brand}Help" names another account.
PLACEHOLDER_ACCOUNTS = [
    ("Hi @{first_name}, it ships today.", "@{first_name}"),
    ("Tweet @{brand}Help with your order number.", "@{brand}Help"),
    ("Our @{team} team answers here.", "@{team}"),
    ("Sorry about the @{match}.", "@{match}"),
    ("Ask u/{brand}Care, they reply fast.", "u/{brand}Care"),
    ("Updates are posted in /r/{brand} daily.", "/r/{brand}"),
]


@pytest.mark.parametrize(("template", "phrase"), PLACEHOLDER_ACCOUNTS)
def test_a_placeholder_after_an_at_sign_or_u_slash_is_another_account(
    template: str, phrase: str
) -> None:
    assert find_redirect(template) == ("another account", phrase)


def test_the_customer_placeholder_after_an_at_sign_or_u_slash_passes() -> None:
    assert find_redirect("Thanks @{author} and u/{author}, it ships today.") is None


REDDIT_AUTHOR = "Hi u\\/jane\\_doe, it ships today."  # escaped: shown as typed, no ping


@pytest.mark.parametrize(
    ("template", "platform", "author_id", "posted"),
    [
        ("Hi @{author}, it ships today.", "x", "7001", "Hi @jane_doe, it ships today."),
        ("Hi \uff20{author}, it ships today.", "x", "7001", "Hi @jane_doe, it ships today."),
        ("Hi u/{author}, it ships today.", "x", "7001", "Hi @jane_doe, it ships today."),
        ("Hi @{author}, it ships today.", "reddit", "jane_doe", REDDIT_AUTHOR),
        ("Hi /u/{author}, it ships today.", "reddit", "jane_doe", REDDIT_AUTHOR),
        # X sent no profile: the name goes with its sign and comma, as "Hi {author}," does.
        ("Hi @{author}, it ships today.", "x", "jane_doe", "Hi, it ships today."),
    ],
)
def test_a_sign_written_before_the_customer_placeholder_is_not_doubled(
    tmp_path: Path, template: str, platform: str, author_id: str, posted: str
) -> None:
    """{author} carries its own "@" or "u/": "Hi @{author}", which the guard accepts,
    posted "Hi @@jane_doe" and "Hi @, it ships" when the handle was unknown."""
    rules = engine(tmp_path, f'name: hi\nthen: {{reply: "{template}"}}\n')
    decision = decide(rules, author="jane_doe", author_id=author_id, platform=platform)
    assert decision.reply is not None
    assert decision.reply.text == posted


def test_check_config_rejects_a_reply_that_tags_the_first_name(tmp_path: Path) -> None:
    assert problems(tmp_path, _rule("Hi @{first_name}, it ships today.")) == [
        "{dir}/rules.yaml:6:7: rule 'redirecting': then.reply[0]: sends the customer "
        "elsewhere (another account: '@{first_name}'); answer in the thread, or set "
        "allow_redirect: true with a redirect_reason"
    ]


@pytest.mark.parametrize(
    "text",
    [
        # Look-alike letters, then a letter that is none of them: the fold tried every
        # way of cutting the word (seconds at 20,000 characters, with the case locked).
        "\u0430" * 20_000 + "\u00e9",
        "a\u0430" * 10_000 + "\u00e9",
        "\u0430" * 20_000 + "\u00e9 \u0436",  # a Cyrillic letter: the mixed-word fold
        "a" * 20_000 + "!",  # a long word with no "@" in it, for the address pattern
        # Hyphenated words and placeholders run together: the spelled-out address and
        # support link patterns read the run again from after each "-" or brace.
        "1-" * 10_000,
        "ab-" * 7_000,
        "{x}" * 10_000,
        "a{b}." * 6_000,
    ],
)
def test_a_long_word_is_checked_in_bounded_time(text: str) -> None:
    """A person's reply is checked while its case is locked: a pasted long word held
    processing and dispatch of that case back."""
    start = time.perf_counter()
    assert find_redirect(text) is None
    assert time.perf_counter() - start < 0.5  # generous: linear takes milliseconds
