"""The examples in the docs work as written: every rule example in docs/rules.md, README.md
and docs/answers.md loads, every knowledge-base entry shown loads next to the shipped ones,
and the `rules test` output docs/rules.md and docs/answers.md show is what the shipped
rules print for the shipped samples."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.answers.loader import load_knowledge_base
from monitor.cli import main
from monitor.rules.loader import RulesEnv, load_rules
from monitor.yamlpos import ConfigError
from tests.conftest import REPO
from tests.rulekit import always_open

DOCS = (REPO / "README.md", REPO / "docs" / "rules.md", REPO / "docs" / "answers.md")
RULE_KEYS = {"name", "description", "enabled", "priority", "match", "then"}
RULE_KEYS |= {"allow_redirect", "redirect_reason"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*) *$")


def fenced(path: Path, lang: str) -> list[tuple[int, str]]:
    """(line, text) of every ```lang block, its indentation (a block in a list) removed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, end = len(opening["indent"]), i + 1
        while lines[end].strip() != "```":
            end += 1
        if opening["lang"] == lang:
            blocks.append((i + 2, "\n".join(line[indent:] for line in lines[i + 1 : end])))
        i = end + 1
    return blocks


def documents(path: Path, kind: str) -> list[tuple[str, str]]:
    """(where, text) of each YAML document of ``kind`` ("rule" or "answer") in the file."""
    found = []
    for line, block in fenced(path, "yaml"):
        for n, text in enumerate(re.split(r"(?m)^---\s*$", block)):
            data = yaml.safe_load(text)
            if not isinstance(data, dict):
                continue
            is_answer = "id" in data and "questions" in data
            is_rule = set(data) <= RULE_KEYS and bool({"match", "then"} & set(data))
            if (kind == "answer" and is_answer) or (kind == "rule" and is_rule):
                found.append((f"{path.name}:{line} document {n}", text.strip("\n")))
    return found


RULES = [example for path in DOCS for example in documents(path, "rule")]
ANSWERS = [example for path in DOCS for example in documents(path, "answer")]


def test_the_docs_have_examples_to_check() -> None:
    assert len(RULES) >= 35
    assert len(ANSWERS) >= 2


@pytest.mark.parametrize(("where", "text"), RULES, ids=[where for where, _ in RULES])
def test_rule_examples_load(tmp_path: Path, where: str, text: str) -> None:
    # A fragment (`match:` or `then:` alone) becomes a whole rule around it.
    data = yaml.safe_load(text)
    if "name" not in data:
        text = f"name: example\n{text}"
    if "then" not in data:
        text = f"{text}\nthen: {{tag: [example]}}"
    rules = tmp_path / "rules"
    (rules / "lists").mkdir(parents=True)
    (rules / "example.yaml").write_text(text + "\n", encoding="utf-8")
    for name in ("vip.txt", "press.txt"):
        (rules / "lists" / name).write_text("lily_bakes\n", encoding="utf-8")
    teams = dict.fromkeys(("care", "billing", "tech", "international"), always_open())
    channels = frozenset({"slack-care", "slack-oncall"})
    try:
        load_rules(RulesEnv(rules, teams, channels, "Acme"))
    except ConfigError as exc:
        pytest.fail(f"{where}:\n{text}\n" + "\n".join(map(str, exc.problems)))


@pytest.mark.parametrize(("where", "text"), ANSWERS, ids=[where for where, _ in ANSWERS])
def test_answer_examples_load_next_to_the_shipped_entries(
    tmp_path: Path, where: str, text: str
) -> None:
    answers = tmp_path / "answers"
    shutil.copytree(REPO / "config" / "answers", answers)
    # The examples are often shipped entries, shortened: the example is loaded as well.
    text = re.sub(r"(?m)^id: ", "id: example-", text, count=1)
    (answers / "99-example.yaml").write_text(text + "\n", encoding="utf-8")
    try:
        knowledge = load_knowledge_base(answers, brand="Acme")
    except ConfigError as exc:
        pytest.fail(f"{where}:\n{text}\n" + "\n".join(map(str, exc.problems)))
    # A copy of a shipped entry shares its examples by construction: that warning is
    # the test's doing, not the example's.
    shared = "is also an example of answer"
    assert not [p for p in knowledge.warnings if "99-example" in p.file and shared not in p.message]


def test_rules_test_output_in_the_docs_is_what_the_shipped_rules_print() -> None:
    config = REPO / "config" / "inchannel.yaml"
    sample = REPO / "config" / "samples" / "mentions.jsonl"
    args = ["rules", "test", "--sample", str(sample), "--config", str(config)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    printed = set(result.stdout.splitlines())
    shown = [
        line
        for where in ("docs/rules.md", "docs/answers.md")
        for _, block in fenced(REPO / where, "text")
        if re.search(r"^ *1859\d+ @", block, re.M)
        for line in block.splitlines()
    ]
    # Lines shortened with "..." and the command itself are not compared.
    compared = [line for line in shown if "..." not in line and not line.startswith("$")]
    assert len(compared) >= 10
    assert [line for line in compared if line not in printed] == []


def systemd_units() -> dict[str, dict[str, list[str]]]:
    """The units docs/operations.md shows: {file name: {"Section.Key": [values]}}."""
    units: dict[str, dict[str, list[str]]] = {}
    for _, block in fenced(REPO / "docs" / "operations.md", "ini"):
        lines = block.splitlines()
        name = lines[0].split()[1].rsplit("/", 1)[1]  # "# /etc/systemd/system/NAME ..."
        unit: dict[str, list[str]] = {}
        section = ""
        for line in lines[1:]:
            # systemd has no comments after a value: `KEY=value  # note` is part of it.
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]")
            elif "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                unit.setdefault(f"{section}.{key}", []).append(value)
        units[name] = unit
    return units


def test_the_systemd_units_stay_down_on_a_configuration_error(tmp_path: Path) -> None:
    """systemd applies RestartPreventExitStatus= to the main process only: the worker's
    `ExecStartPre=inchannel check-config` exiting 2 was restarted every RestartSec for
    ever. The check is the main process's own (exit 2); the dashboard unit could not be
    enabled (no [Install]), and its EnvironmentFile= named "/etc/inchannel/env  # ..."
    (systemd has no comments after a value), a file that does not exist."""
    from tests.conftest import demo_copy

    units = systemd_units()
    assert set(units) == {"inchannel@.service", "inchannel-web.service"}
    config = demo_copy(tmp_path)
    config.write_text(config.read_text(encoding="utf-8") + "\nbogus_key: 1\n", "utf-8")
    for name, unit in units.items():
        assert [v for values in unit.values() for v in values if "#" in v] == [], name
        assert unit["Service.RestartPreventExitStatus"] == ["2"], name
        assert [key for key in unit if key.startswith("Service.ExecStartPre")] == [], name
        assert unit["Install.WantedBy"] == ["multi-user.target"], name
        (command,) = unit["Service.ExecStart"]
        args = command.split()[1:]
        result = CliRunner().invoke(main, [*args, "--config", str(config)])
        assert result.exit_code == 2, (name, result.output)
        assert "bogus_key" in result.output
