"""A customer's words in an escalation alert stay words: no markup, no channel pings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.pipeline import run_cycle
from tests.conftest import RuntimeFactory, mention
from tests.fakeapi import FakeAPI, Reply
from tests.rulekit import write

HOSTILE = "@acme you are idiots <b>now</b> <3 @everyone @here"


def alert_posted(make_runtime: RuntimeFactory, hook: FakeAPI, url: str) -> dict[str, Any]:
    """Escalate one angry mention to care, whose channel is ``url``; the alert posted."""
    hook.add("POST", "/hook", Reply(200, body=b"ok"))
    channels = {"care-chat": {"url": url}}
    teams = [{"name": "care", "channels": ["care-chat"]}]
    teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
    rt = make_runtime([mention(1, HOSTILE)], channels=channels, teams=teams)
    run_cycle(rt)
    [posted] = hook.seen("POST", "/hook")
    body: dict[str, Any] = posted.json()
    return body


def test_a_customers_markup_reaches_an_html_channel_as_text(
    make_runtime: RuntimeFactory,
) -> None:
    # An HTML channel (Telegram, e-mail) got the text undeclared, so as markup: "<b>"
    # was bold there, and a lone "<3" made Telegram refuse the alert.
    with FakeAPI() as hook:
        host = hook.base_url.removeprefix("http://")
        body = alert_posted(make_runtime, hook, f"json://{host}/hook?format=html")
    assert "&lt;b&gt;now&lt;/b&gt;" in body["message"]
    assert "&lt;3" in body["message"]
    assert "<b>" not in body["message"]


def test_a_customers_everyone_does_not_ping_the_channel(make_runtime: RuntimeFactory) -> None:
    with FakeAPI() as hook:
        host = hook.base_url.removeprefix("http://")
        body = alert_posted(make_runtime, hook, f"json://{host}/hook")
    message = body["message"]
    assert "@everyone" not in message
    assert "@here" not in message
    assert "@\u200beveryone @\u200bhere" in message
    assert "you are idiots" in message  # the words themselves are kept


def test_a_control_character_after_the_at_sign_does_not_make_a_ping(
    make_runtime: RuntimeFactory,
) -> None:
    # The control and bidi characters are removed from the excerpt: removed after the
    # "@" was made inert, "@\u202aeveryone" became "@everyone" and pinged the channel.
    text = "@acme you are idiots @\u202aeveryone @\x01here @\u2066channel"
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        host = hook.base_url.removeprefix("http://")
        channels = {"care-chat": {"url": f"json://{host}/hook"}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
        rt = make_runtime([mention(1, text)], channels=channels, teams=teams)
        run_cycle(rt)
        [posted] = hook.seen("POST", "/hook")
    message = posted.json()["message"]
    assert "you are idiots" in message
    for name in ("everyone", "here", "channel"):
        assert f"@{name}" not in message
        assert f"@\u200b{name}" in message


def test_line_breaks_in_the_excerpt_keep_the_words_apart(make_runtime: RuntimeFactory) -> None:
    # A carriage return, vertical tab, form feed or NEL separates lines as "\n" does;
    # removed as control characters before the text was put on one line, "idiots\rnow"
    # reached the channel as "idiotsnow".
    text = "@acme you are idiots\rnow\x0bfix\x0cmy\x85order"
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        host = hook.base_url.removeprefix("http://")
        channels = {"care-chat": {"url": f"json://{host}/hook"}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
        rt = make_runtime([mention(1, text)], channels=channels, teams=teams)
        run_cycle(rt)
        [posted] = hook.seen("POST", "/hook")
    assert "you are idiots now fix my order" in posted.json()["message"]


def test_a_customers_discord_role_or_user_mention_pings_nobody(
    make_runtime: RuntimeFactory,
) -> None:
    # Discord webhooks ping what the content mentions: "<@&ID>" a role, "<@!ID>" a member
    # (the older form). "@" was made inert only before a letter, digit or "_", so these
    # reached the channel as they were and pinged a whole role.
    text = "@acme you are idiots <@&112233445566778899> <@!998877665544332211>"
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        host = hook.base_url.removeprefix("http://")
        channels = {"care-chat": {"url": f"json://{host}/hook"}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
        rt = make_runtime([mention(1, text)], channels=channels, teams=teams)
        run_cycle(rt)
        [posted] = hook.seen("POST", "/hook")
    message = posted.json()["message"]
    assert "you are idiots" in message
    assert "<@&" not in message
    assert "<@!" not in message
    assert "<@\u200b&112233445566778899> <@\u200b!998877665544332211>" in message


def test_a_customers_markdown_link_does_not_hide_its_address(
    make_runtime: RuntimeFactory,
) -> None:
    # Discord and Mattermost render the text of a message as Markdown: a customer's
    # "[text](url)" showed as a link whose address the social team never saw, and
    # "![](url)" loaded an image from the customer's server when the alert was read.
    text = "@acme you are idiots [see my order](https://evil.example/login) ![x](https://evil.example/p.png)"
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        host = hook.base_url.removeprefix("http://")
        channels = {"care-chat": {"url": f"json://{host}/hook"}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
        rt = make_runtime([mention(1, text)], channels=channels, teams=teams)
        run_cycle(rt)
        [posted] = hook.seen("POST", "/hook")
    message = posted.json()["message"]
    assert "](" not in message
    assert "[see my order]\u200b(https://evil.example/login)" in message


def test_a_customers_slack_style_announcement_pings_nobody(
    make_runtime: RuntimeFactory,
) -> None:
    # Mattermost's incoming webhooks take Slack's syntax (ProcessSlackText): "<!channel>",
    # "<!here>" and "<!all>" in the text become "@channel", "@here", "@all" and ping the
    # whole channel. apprise's Mattermost plugin passes them on as they are (its Slack
    # plugin escapes them), so a customer writing "<!channel>" woke the social team up.
    text = "@acme you are idiots <!channel> <!here> <!all>"
    with FakeAPI() as hook:
        hook.add("POST", "/hooks/t0ken", Reply(200, body=b"ok"))
        host = hook.base_url.removeprefix("http://")
        channels = {"care-chat": {"url": f"mmost://{host}/t0ken"}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
        rt = make_runtime([mention(1, text)], channels=channels, teams=teams)
        run_cycle(rt)
        [posted] = hook.seen("POST", "/hooks/t0ken")
    message = posted.json()["text"]
    assert "you are idiots" in message
    assert "<!" not in message
    assert "<\u200b!channel> <\u200b!here> <\u200b!all>" in message


def test_a_rules_reason_in_the_headline_pings_nobody_and_hides_no_link(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The headline (a rule's reason, or a system reason quoting a platform's error) only
    # lost its control characters: "@everyone" and "<!channel>" in it pinged the whole
    # channel and "[text](url)" showed as a link hiding its address.
    write(
        tmp_path / "rules",
        """
        name: loud
        match: {text: kettle}
        then:
          escalate:
            team: care
            reason: "@everyone <!channel> see [the order](https://evil.example/x)"
        """,
    )
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        host = hook.base_url.removeprefix("http://")
        channels = {"care-chat": {"url": f"json://{host}/hook"}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
        rules = {"path": str(tmp_path / "rules")}
        rt = make_runtime([mention(1, "@acme kettle")], channels=channels, teams=teams, rules=rules)
        run_cycle(rt)
        [posted] = hook.seen("POST", "/hook")
    sent = posted.json()
    headline = sent["title"] or sent["message"].split("\n")[0]
    assert "escalated: @\u200beveryone <\u200b!channel> see [the order]\u200b(https:" in headline
    for field in ("title", "message"):
        assert "@everyone" not in sent[field]
        assert "<!channel>" not in sent[field]
        assert "](" not in sent[field]
