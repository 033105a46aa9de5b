"""A notification fits its channel: a channel's ``max_chars`` (an SMS or pager gateway)
bounds title and body together, and the cut takes the customer's words first, never the
headline or the link to the case."""

from __future__ import annotations

from typing import Any

from monitor import notifications
from monitor.pipeline import run_cycle
from tests.conftest import RuntimeFactory, mention
from tests.fakeapi import FakeAPI, Reply

LONG = "@acme my order is late and nobody answers, " + "this is terrible " * 30


def posted_alert(make_runtime: RuntimeFactory, channel: dict[str, Any]) -> dict[str, Any]:
    """Escalate one long angry mention to care, whose only channel is ``channel`` (its
    URL filled in); the alert the fake webhook received."""
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        host = hook.base_url.removeprefix("http://")
        channels = {"care-chat": {"url": f"json://{host}/hook", **channel}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
        rt = make_runtime([mention(1, LONG)], channels=channels, teams=teams)
        run_cycle(rt)
        [posted] = hook.seen("POST", "/hook")
    body: dict[str, Any] = posted.json()
    return body


def test_a_channels_max_chars_cuts_the_customers_words_and_keeps_headline_and_link(
    make_runtime: RuntimeFactory,
) -> None:
    # An SMS or pager gateway refuses (or splits into a dozen texts) the ~700 characters
    # of an escalation with a long mention; cut from the end, the link was lost.
    body = posted_alert(make_runtime, {"max_chars": 160})
    title, message = body["title"], body["message"]
    assert len(title) + 1 + len(message) <= 160
    assert title.startswith("[normal] C-1001 escalated: ")
    assert message.endswith("\nhttp://127.0.0.1:8000/cases/C-1001")
    assert "x · " in message  # the platform line is kept while the words are cut
    assert "@\u200bacme my order is late" in message
    assert "…" in message


def test_without_max_chars_a_notification_keeps_the_whole_excerpt(
    make_runtime: RuntimeFactory,
) -> None:
    body = posted_alert(make_runtime, {})
    message = body["message"]
    assert len(message) < notifications.NOTIFY_CHARS
    assert "this is terrible this is terrible" in message
    assert message.endswith("/cases/C-1001")


def test_fit_cuts_the_body_first_then_the_title_and_keeps_the_link() -> None:
    text = "\n".join(["T" * 50, "platform line", "E" * 200, "https://care.example.com/cases/C-7"])
    cut = notifications.fit(text, 120)
    assert len(cut) <= 120
    first, *middle, last = cut.split("\n")
    assert (first, last) == ("T" * 50, "https://care.example.com/cases/C-7")
    assert middle[0] == "platform line"
    tight = notifications.fit(text, 60)
    assert len(tight) <= 60
    assert tight.endswith("\nhttps://care.example.com/cases/C-7")
    assert tight.startswith("TTTT")
    assert "…" in tight


def test_fit_cuts_a_one_line_alert_at_its_end() -> None:
    assert notifications.fit("[inchannel] " + "x" * 300, 100) == "[inchannel] " + "x" * 87 + "…"
    assert notifications.fit("short", 100) == "short"


def test_a_headline_stays_one_bounded_line() -> None:
    # A system escalation's reason quotes a platform's error: on two lines, the second
    # slid into the body; unbounded, it was the whole title.
    headline = notifications.headline("escalated: reply could not be posted\n" + "e" * 900)
    assert "\n" not in headline
    assert len(headline) == notifications.HEADLINE_CHARS
