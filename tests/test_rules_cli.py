"""check-config output for rules, and ``inchannel rules test``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.conftest import REPO
from tests.rulekit import write

CONFIG = """
brand: {name: Acme, accounts: {x: [acme, acmehelp], reddit: [acme_official]}}
database: {url: "sqlite:///DB"}
channels:
  slack-care: {url: "json://127.0.0.1:9/hook"}
teams:
  - {name: care, channels: [slack-care]}
  - {name: billing}
  - {name: tech, first_response_minutes: 30}
  - {name: international}
rules: {path: rules}
"""


def config(tmp_path: Path, db_url: str | None = None) -> Path:
    text = CONFIG.replace("sqlite:///DB", db_url or f"sqlite:///{tmp_path / 'cli.db'}")
    return write(tmp_path, text, "inchannel.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_config_prints_rule_errors_and_exits_2(tmp_path: Path) -> None:
    path = config(tmp_path)
    write(tmp_path / "rules", "name: r\nmatch: {txt: hi}\nthen: {reply: 'DM us'}\n", "a.yaml")
    code, out, err = run("check-config", "--config", str(path))
    rules = tmp_path / "rules" / "a.yaml"
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"{rules}:2:9: rule 'r': match.txt: unknown key; did you mean 'text'?",
        f"{rules}:3:8: rule 'r': then.reply[0]: sends the customer elsewhere "
        "(private message: 'DM us'); answer in the thread, or set allow_redirect: true with "
        "a redirect_reason",
        "2 error(s) in the configuration",
    ]


def test_check_config_names_every_file_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The config file was named as typed ("inchannel.yaml") and its rule files in full
    # ("/srv/acme/rules/a.yaml"); a config typed relative now names them relative too.
    path = config(tmp_path)
    write(tmp_path / "rules", "name: r\nmatch: {txt: hi}\nthen: {reply: 'Sorry!'}\n", "a.yaml")
    monkeypatch.chdir(tmp_path)
    code, out, err = run("check-config", "--config", "inchannel.yaml")
    assert (code, out) == (2, "")
    assert err.splitlines()[0].startswith("rules/a.yaml:2:9: rule 'r': match.txt: unknown key")
    write(tmp_path / "rules", "name: r\nmatch: {text: hi}\nthen: {reply: 'Sorry!'}\n", "a.yaml")
    assert run("check-config", "--config", "inchannel.yaml")[:2] == (
        0,
        "inchannel.yaml: ok (0 sources, 1 rule)\n",
    )
    write(tmp_path / "rules", "name: r\nmatch: {txt: hi}\nthen: {reply: 'Sorry!'}\n", "a.yaml")
    monkeypatch.chdir(tmp_path / "rules")
    code, _, err = run("check-config", "--config", "../inchannel.yaml")
    assert code == 2
    assert err.startswith("a.yaml:2:9: rule 'r'")
    code, _, err = run("check-config", "--config", str(path))  # in full: all in full
    assert err.startswith(f"{tmp_path / 'rules' / 'a.yaml'}:2:9: rule 'r'")


def test_check_config_prints_warnings_and_exits_0(tmp_path: Path) -> None:
    path = config(tmp_path)
    write(
        tmp_path / "rules",
        "name: recall\nallow_redirect: true\nredirect_reason: legal recall notice\n"
        "match: {text: recall}\nthen: {reply: 'Details: https://acme.example/recall'}\n",
        "a.yaml",
    )
    code, out, err = run("check-config", "--config", str(path))
    assert code == 0
    assert out == f"{path}: ok (0 sources, 1 rule)\n"
    assert err == (
        f"{tmp_path / 'rules' / 'a.yaml'}:5:8: warning: rule 'recall': then.reply[0]: sends "
        "the customer elsewhere (support link: 'https://acme.example/recall'); allowed: legal "
        "recall notice\n"
    )


def test_rules_test_json_prints_one_object_per_mention(tmp_path: Path) -> None:
    path = config(tmp_path)
    shutil.copytree(REPO / "config" / "rules", tmp_path / "rules")
    sample = REPO / "config" / "samples" / "mentions.jsonl"
    code, out, err = run("rules", "test", "--config", str(path), "--sample", str(sample), "--json")
    assert (code, err) == (0, "")
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == 42
    billing = next(o for o in objects if o["id"] == "1859000000000000007")
    assert billing == {
        "id": "1859000000000000007",
        "label": "negative",
        "compound": billing["compound"],
        "matched": ["refund-or-billing", "complaint-to-human"],
        "actions": [
            {
                "type": "reply",
                "team": None,
                "priority": None,
                "text": "Hi Tom, sorry about the billing trouble. Someone from our billing team "
                "will pick this up here in the thread shortly (case C-TEST).",
            },
            {"type": "escalate", "team": "billing", "priority": "high", "text": "billing"},
            {"type": "tag", "team": None, "priority": None, "text": "billing"},
            {"type": "tag", "team": None, "priority": None, "text": "complaint"},
        ],
    }
    assert all(set(o) == {"id", "label", "compound", "matched", "actions"} for o in objects)


def test_rules_test_json_gives_an_unscored_mention_no_compound(tmp_path: Path) -> None:
    # Its 0.0 is no reading, as the text output and the case page show none: a script
    # reading 0.0 took a German complaint for a calm, neutral one.
    path = config(tmp_path)
    shutil.copytree(REPO / "config" / "rules", tmp_path / "rules")
    sample = REPO / "config" / "samples" / "mentions.jsonl"
    code, out, err = run("rules", "test", "--config", str(path), "--sample", str(sample), "--json")
    assert (code, err) == (0, "")
    objects = {o["id"]: o for o in map(json.loads, out.splitlines())}
    german = objects["1859000000000000009"]
    assert (german["label"], german["compound"]) == ("unscored", None)
    assert objects["1859000000000000007"]["compound"] == pytest.approx(-0.4019)
    unscored = [o for o in objects.values() if o["label"] == "unscored"]
    assert len(unscored) > 1
    assert all(o["compound"] is None for o in unscored)


def test_rules_test_text_output_and_bad_sample_lines(tmp_path: Path) -> None:
    path = config(tmp_path)
    shutil.copytree(REPO / "config" / "rules", tmp_path / "rules")
    sample = tmp_path / "sample.jsonl"
    good = (REPO / "config" / "samples" / "mentions.jsonl").read_text().splitlines()[12]
    sample.write_text(good + "\n{not json\n", encoding="utf-8")
    code, out, err = run("rules", "test", "--config", str(path), "--sample", str(sample))
    assert code == 1  # a line was skipped
    assert err == (
        f"{sample}:2: skipped: invalid JSON: Expecting property name enclosed in double quotes"
        " at column 2\n"
    )
    assert out.splitlines() == [
        "1859000000000000013 @grumpy_gus negative -0.7078",
        "  matched: abusive-to-human",
        "  escalate: care (high, SLA 60 min) abusive or legal language",
        "  tags: abuse",
    ]


def test_rules_test_tells_contest_spam_from_a_customer_whose_prize_never_came(
    tmp_path: Path,
) -> None:
    # The shipped giveaway rule matched the word anywhere: the customer was ignored too.
    path = config(tmp_path)
    shutil.copytree(REPO / "config" / "rules", tmp_path / "rules")
    base = {"platform": "x", "created_at": "2026-11-20T10:00:00Z", "author_id": "9"}
    rows = [
        {**base, "id": "1", "author": "dealz", "conversation_id": "1",
         "text": "#GIVEAWAY Follow + RT + tag 3 friends to win! @acme @target"},
        {**base, "id": "2", "author": "ann", "author_id": "7", "conversation_id": "2",
         "text": "@acme I won your giveaway 3 weeks ago and the prize never arrived"},
    ]  # fmt: skip
    sample = write(tmp_path, "".join(json.dumps(r) + "\n" for r in rows), "sample.jsonl")
    code, out, err = run("rules", "test", "--config", str(path), "--sample", str(sample), "--json")
    assert (code, err) == (0, "")
    spam, customer = (json.loads(line) for line in out.splitlines())
    assert (spam["matched"], spam["actions"][0]["type"]) == (["ignore-giveaway-spam"], "ignore")
    # The delivery rule takes "never arrived" too, however VADER scores "won" and "prize":
    # the prize rule runs first, so its reply and escalation are sent; both tags are added.
    assert customer["matched"] == ["giveaway-prize", "delivery-problem"]
    assert [a["type"] for a in customer["actions"]] == ["reply", "escalate", "tag", "tag"]


def test_rules_test_prints_only_the_assign_and_priority_a_rule_set(tmp_path: Path) -> None:
    path = config(tmp_path)
    write(
        tmp_path / "rules",
        "name: vip\nmatch: {text: mixer}\nthen: {set_priority: high}\n---\n"
        "name: grumpy\nmatch: {text: refund}\nthen: {assign: maria}\n",
        "a.yaml",
    )
    sample = tmp_path / "sample.jsonl"
    lines = (REPO / "config" / "samples" / "mentions.jsonl").read_text().splitlines()
    sample.write_text(f"{lines[5]}\n{lines[12]}\n", encoding="utf-8")
    code, out, err = run("rules", "test", "--config", str(path), "--sample", str(sample))
    assert (code, err) == (0, "")
    # "assign: -" read as an assign action that assigns nobody.
    assert out.splitlines() == [
        "1859000000000000006 @lily_bakes positive +0.9317",
        "  matched: vip",
        "  set_priority: high",
        "1859000000000000013 @grumpy_gus negative -0.7078",
        "  matched: grumpy",
        "  assign: maria",
    ]


def test_rules_test_with_broken_rules_exits_2(tmp_path: Path) -> None:
    path = config(tmp_path)
    write(tmp_path / "rules", "", "empty.yaml")
    sample = REPO / "config" / "samples" / "mentions.jsonl"
    code, _, err = run("rules", "test", "--config", str(path), "--sample", str(sample))
    assert code == 2
    assert "empty.yaml:1:1: no rules in this file" in err


def test_rules_test_never_prints_control_characters(tmp_path: Path) -> None:
    path = config(tmp_path)
    write(
        tmp_path / "rules",
        "name: echo\nmatch: {text: broken}\nthen: {reply: 'Sorry {first_name}: {match}'}\n",
        "a.yaml",
    )
    row = {
        "platform": "x",
        "id": "1",
        "author": "evil\u202e\x1b[2J",
        "author_id": "9",
        "author_name": "Eve",
        "text": "@acme broken\u009b31m",
        "created_at": "2026-11-20T10:00:00Z",
        "conversation_id": "1",
    }
    sample = tmp_path / "evil.jsonl"
    sample.write_text(json.dumps(row) + "\n", encoding="utf-8")
    code, out, _ = run("rules", "test", "--config", str(path), "--sample", str(sample))
    assert code == 0
    assert out.splitlines()[:3] == [
        # Spelled as Python does: "\\x202e" read as a space and "2e".
        "1 @evil\\u202e\\x1b[2J negative -0.3612",  # the C1 control no longer hides "broken"
        "  matched: echo",
        '  reply: "Sorry Eve: broken"',
    ]
    assert all(c.isprintable() for c in out.replace("\n", ""))


def test_json_output_keeps_text_readable_but_no_c1_control_raw() -> None:
    """JSON leaves C1 controls raw, and a terminal takes U+009B as ESC [ (every --json
    command prints mention text through json_line)."""
    from monitor.commands.options import json_line

    line = json_line({"text": "café \u009b31m \x1b[2J"})
    assert line == '{"text": "café \\u009b31m \\u001b[2J"}'
    assert json.loads(line) == {"text": "café \u009b31m \x1b[2J"}


def test_rules_test_warns_of_a_source_name_no_source_has(tmp_path: Path) -> None:
    """A misspelt --source was taken as given: rules on `source:` then simply did not
    match, as if the rule were wrong. A name that no source has yet is still tested (a
    rule may be written ahead for a source still commented out, docs/rules.md), with
    the warning check-config gives such a rule."""
    sample = REPO / "config" / "samples" / "mentions.jsonl"
    path = config(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text + f"sources:\n  - {{name: x-mentions, type: replay, path: {sample}}}\n"
        f"  - {{name: demo, type: replay, path: {sample}}}\n",
        encoding="utf-8",
    )
    write(
        tmp_path / "rules",
        "name: from-x\nmatch: {source: x-mentons}\nthen: {tag: [x]}\n",
        "10-x.yaml",
    )
    args = ("rules", "test", "--config", str(path), "--sample", str(sample), "--json")
    code, out, err = run(*args, "--source", "x-mentons")
    assert code == 0
    assert err == (
        "warning: --source: no source is named 'x-mentons' (sources: demo, x-mentions); "
        "tested as given, but no mention the daemon reads comes from it\n"
    )
    assert json.loads(out.splitlines()[0])["matched"] == ["from-x"]
    code, _, err = run(*args, "--source", "x-mentions")
    assert (code, err) == (0, "")
