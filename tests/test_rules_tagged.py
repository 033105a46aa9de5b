"""``tagged:``: a rule sees the tags the rules that matched before it added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.domain import Label
from tests.conftest import mention
from tests.rulekit import decide, engine, problems, score, write
from tests.test_rules_cli import config

# The shipped praise rule's problem, in small: a problem rule tags, praise must not.
PROBLEMS_THEN_PRAISE = """
name: outage
priority: 40
match: {text: [down, outage]}
then: {tag: [outage], escalate: {team: tech}}
---
name: delivery
priority: 20
match: {text: late}
then: {tag: [Delivery]}
---
name: complaint
match: {text: "not working"}
then: {tag: [complaint]}
---
name: praise
match:
  text: ["great job", "love"]
  ~tagged: [outage, delivery, complaint]
then: {reply: "Thank you, {first_name}!", tag: [praise]}
"""


@pytest.mark.parametrize(
    ("text", "matched", "tags"),
    [
        ("@acme great job on the new app", ("praise",), ("praise",)),
        ("@acme the app is down again, great job", ("outage",), ("outage",)),
        ("@acme my parcel is late, love that", ("delivery",), ("delivery",)),
    ],
)
def test_negated_tagged_keeps_praise_off_a_problem(
    tmp_path: Path, text: str, matched: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    decision = decide(engine(tmp_path, PROBLEMS_THEN_PRAISE), text)
    assert (decision.matched, decision.tags) == (matched, tags)


def test_tagged_holds_only_when_the_tagging_rule_matched(tmp_path: Path) -> None:
    rules = engine(
        tmp_path,
        """
        name: billing
        priority: 10
        match: {text: refund}
        then: {tag: [billing]}
        ---
        name: billing-and-angry
        match: {tagged: BILLING, label: negative}
        then: {escalate: {team: billing, priority: high}}
        """,
    )
    angry = score(Label.NEGATIVE, -0.8)
    assert decide(rules, "@acme where is my refund", sentiment=angry).matched == (
        "billing",
        "billing-and-angry",
    )
    assert decide(rules, "@acme this is awful", sentiment=angry).matched == ()


def test_tagged_sees_an_earlier_rule_of_the_same_priority_in_file_order(tmp_path: Path) -> None:
    rules = engine(
        tmp_path,
        """
        name: first
        match: {text: late}
        then: {tag: [delivery]}
        ---
        name: second
        match: {tagged: delivery}
        then: {tag: [seen]}
        """,
    )
    assert decide(rules, "@acme parcel is late").tags == ("delivery", "seen")


@pytest.mark.parametrize(
    ("match", "text", "expected"),
    [
        ("any: [{tagged: delivery}, {text: refund}]", "@acme parcel is late", True),
        ("any: [{tagged: delivery}, {text: refund}]", "@acme refund please", True),
        ("any: [{tagged: delivery}, {text: refund}]", "@acme hello", False),
        ("not: {tagged: delivery}", "@acme parcel is late", False),
        ("not: {tagged: delivery}", "@acme hello", True),
        ("not: {~tagged: [delivery, outage]}", "@acme parcel is late", True),
    ],
)
def test_tagged_inside_any_and_not(tmp_path: Path, match: str, text: str, expected: bool) -> None:
    rules = engine(
        tmp_path,
        f"""
        name: delivery
        priority: 5
        match: {{text: late}}
        then: {{tag: [delivery]}}
        ---
        name: outage
        priority: 5
        match: {{text: down}}
        then: {{tag: [outage]}}
        ---
        name: probe
        match: {{{match}}}
        then: {{tag: [hit]}}
        """,
    )
    assert ("probe" in decide(rules, text).matched) is expected


def test_a_rule_without_text_is_not_skipped_by_the_word_index(tmp_path: Path) -> None:
    # The index keeps a rule only where its text could match: "late" is no word of the
    # tagged rule, which must still run whenever the tagging rule did.
    rules = engine(
        tmp_path,
        """
        name: delivery
        priority: 5
        match: {text: late}
        then: {tag: [delivery]}
        ---
        name: late-and-rude
        match:
          any: [{tagged: delivery, label: negative}, {text: rude}]
        then: {tag: [rude-delivery]}
        """,
    )
    decision = decide(rules, "@acme parcel is late", sentiment=score(Label.NEGATIVE, -0.6))
    assert decision.matched == ("delivery", "late-and-rude")


def test_match_shows_the_text_the_reply_rule_matched_when_it_ran(tmp_path: Path) -> None:
    # A later rule adds the tag the reply rule's first any: block wanted: {match} is
    # still the text of the block that matched, not of one that matches only now.
    rules = engine(
        tmp_path,
        """
        name: invoice
        priority: 20
        match: {text: invoice}
        then: {tag: [billing]}
        ---
        name: answer
        priority: 10
        match:
          any: [{tagged: billing, text: refund}, {text: charged}]
        then: {reply: "Sorry about the {match}, {first_name}."}
        ---
        name: charged
        match: {text: charged}
        then: {tag: [billing]}
        """,
    )
    decision = decide(rules, "@acme I was charged, I want a refund")
    assert decision.matched == ("answer", "charged")
    assert decision.reply is not None
    assert decision.reply.text == "Sorry about the charged, user1."


def test_rules_test_shows_what_tagged_decided(tmp_path: Path) -> None:
    path = config(tmp_path)
    write(tmp_path / "rules", PROBLEMS_THEN_PRAISE, "a.yaml")
    sample = tmp_path / "sample.jsonl"
    lines = [mention(1, "@acme great job"), mention(2, "@acme down again, great job")]
    sample.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    args = ["rules", "test", "--config", str(path), "--sample", str(sample), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["matched"] for line in result.stdout.splitlines()] == [
        ["praise"],
        ["outage"],
    ]


# --- check-config ---------------------------------------------------------------


def test_a_tag_no_rule_adds_is_an_error_at_its_value(tmp_path: Path) -> None:
    text = PROBLEMS_THEN_PRAISE.replace("delivery, complaint]", "delivry, complain]")
    assert problems(tmp_path, text) == [
        "{dir}/rules.yaml:18:21: rule 'praise': match.~tagged[1]: no rule adds the tag "
        "'delivry', so this value never rules a mention out; did you mean 'delivery'?",
        "{dir}/rules.yaml:18:30: rule 'praise': match.~tagged[2]: no rule adds the tag "
        "'complain', so this value never rules a mention out; did you mean 'complaint'?",
    ]


def test_a_tag_added_only_after_the_rule_runs_is_an_error(tmp_path: Path) -> None:
    text = """
    name: tagged-too-early
    priority: 10
    match:
      any: [{tagged: delivery}]
    then: {tag: [seen]}
    ---
    name: delivery
    match: {text: late}
    then: {tag: [delivery]}
    """
    assert problems(tmp_path, text) == [
        "{dir}/rules.yaml:4:10: rule 'tagged-too-early': match.any[0].tagged: rule "
        "'delivery' ({dir}/rules.yaml:7) adds the tag 'delivery' but runs after this rule, "
        "so this value never matches; a rule sees the tags of the rules that run before it "
        "(ignore and stop rules first, then higher priority, then file order)",
    ]


def test_a_tag_added_by_an_ignore_or_stop_rule_is_never_seen(tmp_path: Path) -> None:
    text = """
    name: abuse
    match: {text: idiot}
    then: {tag: [abuse], stop: true}
    ---
    name: after-abuse
    match: {tagged: abuse}
    then: {tag: [seen]}
    """
    assert problems(tmp_path, text) == [
        "{dir}/rules.yaml:6:9: rule 'after-abuse': match.tagged: rule 'abuse' "
        "({dir}/rules.yaml:1) adds the tag 'abuse' but has stop: true, which ends the "
        "evaluation, so this value never matches",
    ]


def test_a_tag_added_only_by_a_disabled_rule_is_a_warning(tmp_path: Path) -> None:
    # Switching a problem rule off for a while must not stop the rules from loading.
    text = PROBLEMS_THEN_PRAISE.replace("priority: 20\n", "priority: 20\nenabled: false\n")
    text = text.replace("delivery, complaint]", "Delivery, complaint]")
    assert problems(tmp_path, text) == [
        "{dir}/rules.yaml:19:21: warning: rule 'praise': match.~tagged[1]: only rule "
        "'delivery' ({dir}/rules.yaml:6) adds the tag 'delivery', and it is disabled, so "
        "this value never rules a mention out",
    ]


def test_tags_rules_before_add_are_no_problem(tmp_path: Path) -> None:
    assert problems(tmp_path, PROBLEMS_THEN_PRAISE.replace(", complaint]", "]")) == []


def test_a_rule_does_not_see_its_own_tags(tmp_path: Path) -> None:
    text = "name: loop\nmatch: {~tagged: angry, label: negative}\nthen: {tag: [angry]}\n"
    assert problems(tmp_path, text) == [
        "{dir}/rules.yaml:2:9: rule 'loop': match.~tagged: only this rule adds the tag "
        "'angry', so this value never rules a mention out; a rule sees the tags of the rules "
        "that run before it (ignore and stop rules first, then higher priority, then file order)",
    ]
