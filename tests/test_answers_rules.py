"""The rule action ``answer``: posted, drafted or passed on by confidence, under the
same guards as every reply, and shown by ``rules test``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import main
from monitor.domain import Label
from monitor.rules.context import Context
from tests.answerkit import answer_engine
from tests.conftest import REPO
from tests.rulekit import NOON, decide, score

SHIP = "@acme can you deliver my order to Ireland?"


def test_answer_posts_the_entry_with_placeholders_filled(tmp_path: Path) -> None:
    decision = decide(answer_engine(tmp_path), SHIP, author_name="Claire Doyle")
    assert decision.matched == ("answer-questions",)
    reply = decision.reply
    assert reply is not None
    assert not reply.draft
    assert reply.text == "Hi Claire! We ship to the UK, Ireland and the EU (case C-1001)."
    assert reply.answer == "shipping-countries"
    assert reply.confidence is not None
    assert reply.confidence >= 0.55


def test_reddit_gets_the_markdown_text(tmp_path: Path) -> None:
    decision = decide(answer_engine(tmp_path), SHIP, platform="reddit")
    assert decision.reply is not None
    assert decision.reply.text.startswith("Hi user1! We ship to:\n\n* the UK")


def test_an_unsure_match_is_a_draft_with_the_entry(tmp_path: Path) -> None:
    rules = "name: answer-questions\nthen:\n  answer: {min_confidence: 1.0, draft_at: 0.3}\n"
    decision = decide(answer_engine(tmp_path, rules), SHIP)
    assert decision.reply is not None
    assert decision.reply.draft
    assert decision.reply.answer == "shipping-countries"


def test_no_entry_leaves_the_question_to_later_rules(tmp_path: Path) -> None:
    decision = decide(answer_engine(tmp_path), "@acme how do I make toast in the air fryer?")
    assert decision.matched == ("question-draft",)
    assert decision.reply is not None
    assert decision.reply.draft
    assert decision.reply.answer is None


def test_a_complaint_that_mentions_the_topic_is_not_answered(tmp_path: Path) -> None:
    decision = decide(
        answer_engine(tmp_path),
        "@acme international shipping to Ireland took three weeks, useless",
        sentiment=score(Label.NEGATIVE, -0.5),
    )
    assert decision.matched == ("complaint",)
    assert decision.reply is not None
    assert decision.reply.answer is None
    assert decision.escalation is not None


def test_non_english_is_never_auto_answered(tmp_path: Path) -> None:
    decision = decide(
        answer_engine(tmp_path),
        "@acme do you ship to Ireland?",
        sentiment=score(Label.UNSCORED, reason="language:es", lang="es"),
    )
    assert decision.reply is None or decision.reply.answer is None


def test_the_thread_cap_holds_for_answers(tmp_path: Path) -> None:
    capped = Context(now=NOON, case_ref="C-1", bot_replies_in_thread=2)
    decision = decide(answer_engine(tmp_path), SHIP, context=capped)
    assert decision.reply is None
    assert decision.notes == ("guard: already 2 bot replies in this thread",)


def test_the_author_cooldown_holds_for_answers(tmp_path: Path) -> None:
    recent = Context(
        now=NOON, case_ref="C-1", last_bot_reply_to_author_at=NOON - timedelta(minutes=5)
    )
    decision = decide(answer_engine(tmp_path), SHIP, context=recent)
    assert decision.reply is None
    assert decision.notes == ("guard: author cooldown: the bot replied to this author recently",)


def test_our_own_posts_are_never_answered(tmp_path: Path) -> None:
    decision = decide(answer_engine(tmp_path), SHIP, author="acme")
    assert decision.ignored
    assert decision.reply is None


def test_rules_test_shows_the_entry_its_confidence_and_the_text(tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    sample.write_text(
        json.dumps({
            "platform": "x", "id": "1", "author": "claire_d", "author_id": "9",
            "author_name": "Claire", "text": "@acme do you ship to Ireland?",
            "created_at": "2026-11-20T09:12:00Z", "conversation_id": "1",
        }) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    config = str(REPO / "config" / "inchannel.yaml")
    text = CliRunner().invoke(main, ["rules", "test", "--sample", str(sample), "--config", config])
    assert text.exit_code == 0
    assert '  reply: "Hi Claire! We ship to the UK, Ireland' in text.output
    assert "  answer: shipping-countries (confidence " in text.output
    as_json = CliRunner().invoke(
        main, ["rules", "test", "--sample", str(sample), "--config", config, "--json"]
    )
    actions = json.loads(as_json.output)["actions"]
    answer = next(a for a in actions if a["type"] == "answer")
    assert answer["text"] == "shipping-countries"
    assert 0.55 <= answer["confidence"] <= 1


def test_an_answer_rule_after_a_reply_still_tags_and_escalates(tmp_path: Path) -> None:
    rules = (
        "name: thanks\npriority: 10\nmatch:\n  text: [deliver]\nthen:\n  reply: Thanks!\n"
        "---\n"
        "name: answer-questions\nthen:\n  answer: {}\n  tag: [faq]\n"
        "  escalate: {team: care, reason: question}\n"
    )
    decision = decide(answer_engine(tmp_path, rules), SHIP)
    assert decision.matched == ("thanks", "answer-questions")
    assert decision.reply is not None
    assert (decision.reply.rule, decision.reply.answer) == ("thanks", None)
    assert decision.tags == ("faq",)
    assert decision.escalation is not None


def test_answer_false_switches_the_action_off(tmp_path: Path) -> None:
    # It was refused with pydantic's "Input should be a valid dictionary or instance of
    # AnswerAction"; false switches it off, as for ignore: and stop:.
    rules = "name: questions\nmatch: {text: deliver}\nthen: {answer: false, tag: [question]}\n"
    decision = decide(answer_engine(tmp_path, rules), SHIP)
    assert (decision.matched, decision.tags) == (("questions",), ("question",))
    assert decision.reply is None
