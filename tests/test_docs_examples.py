"""The examples in the docs work as written: every rule example in docs/rules.md, README.md
and docs/answers.md loads, every knowledge-base entry shown loads next to the shipped ones,
the `rules test` output docs/rules.md and docs/answers.md show is what the shipped
rules print for the shipped samples, every configuration snippet in the README and
docs/*.md passes `check-config` in the shipped config, and the figures and counts they give
(docs/answers.md's bench table, docs/rules.md's rule counts) are what the shipped set gives."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from monitor.answers.loader import load_knowledge_base
from monitor.cli import main
from monitor.rules.loader import RulesEnv, load_rules
from monitor.settings import Settings, load_settings
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


def documents(path: Path, kind: str) -> list[tuple[str, str, str]]:
    """(where, text, before) of each YAML document of ``kind`` ("rule" or "answer") in the
    file; ``before``: the named rules written before it in its block, when it needs them
    (a ``tagged:`` check sees the tags of the rules that run before it)."""
    found = []
    for line, block in fenced(path, "yaml"):
        named: list[str] = []
        for n, text in enumerate(re.split(r"(?m)^---\s*$", block)):
            data = yaml.safe_load(text)
            if not isinstance(data, dict):
                continue
            is_answer = "id" in data and "questions" in data
            is_rule = set(data) <= RULE_KEYS and bool({"match", "then"} & set(data))
            if (kind == "answer" and is_answer) or (kind == "rule" and is_rule):
                before = "".join(f"{rule}\n---\n" for rule in named) if "tagged" in text else ""
                found.append((f"{path.name}:{line} document {n}", text.strip("\n"), before))
            if is_rule and "name" in data:
                named.append(text.strip("\n"))
    return found


RULES = [example for path in DOCS for example in documents(path, "rule")]
ANSWERS = [(where, text) for path in DOCS for where, text, _ in documents(path, "answer")]


def test_the_docs_have_examples_to_check() -> None:
    assert len(RULES) >= 35
    assert len(ANSWERS) >= 2


@pytest.mark.parametrize(("where", "text", "before"), RULES, ids=[where for where, *_ in RULES])
def test_rule_examples_load(tmp_path: Path, where: str, text: str, before: str) -> None:
    # A fragment (`match:` or `then:` alone) becomes a whole rule around it.
    data = yaml.safe_load(text)
    if "name" not in data:
        text = f"name: example\n{text}"
    if "then" not in data:
        text = f"{text}\nthen: {{tag: [example]}}"
    rules = tmp_path / "rules"
    (rules / "lists").mkdir(parents=True)
    (rules / "example.yaml").write_text(before + text + "\n", encoding="utf-8")
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


# Options every command takes, documented once for all ("Every command takes --config").
COMMON_OPTIONS = {"--config", "--as", "--help", "-h"}


def readme_command_spans() -> list[str]:
    """The backticked commands in the first cell of each row of the README's command
    table: "`inchannel cases assign REF NAME` / `resolve REF`" gives both spans."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Commands", 1)[1].strip().split("\n\n", 1)[0]
    spans = []
    for row in table.splitlines()[2:]:
        first_cell = re.split(r"(?<!\\)\|", row)[1]
        spans += re.findall(r"`([^`]+)`", first_cell)
    return spans


def resolve(span: str, group: tuple[str, ...]) -> tuple[tuple[str, ...], click.Command]:
    """The command a span names; a span without `inchannel` continues the previous
    span's group (`/ reject REF`) or names a top-level command (`/ answers list`)."""
    words = span.split()
    path: tuple[str, ...] = ()
    if words[0] == "inchannel":
        words = words[1:]
    elif words[0] in command_at(group).commands:  # type: ignore[attr-defined]
        path = group
    node = command_at(path)
    while isinstance(node, click.Group) and words and words[0] in node.commands:
        path, node = (*path, words[0]), node.commands[words[0]]
        words = words[1:]
    return path, node


def command_at(path: tuple[str, ...]) -> click.Command:
    node: click.Command = main
    for name in path:
        assert isinstance(node, click.Group)
        node = node.commands[name]
    return node


def documented_commands() -> dict[tuple[str, ...], tuple[click.Command, set[str]]]:
    """{command path: (command, the options the README table shows for it)}."""
    found: dict[tuple[str, ...], tuple[click.Command, set[str]]] = {}
    group: tuple[str, ...] = ()
    for span in readme_command_spans():
        path, command = resolve(span, group)
        assert not isinstance(command, click.Group), f"README names no command: {span!r}"
        group = path[:-1]
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", span))
        found[path] = (command, found.get(path, (command, set()))[1] | options)
    return found


def test_the_readme_command_table_matches_the_cli() -> None:
    """Every option the README's table shows exists, and every option a documented
    command takes is shown: `cases reject --reason`, `cases reply --allow-redirect`,
    `cases list --limit` and `answers test`'s options were missing."""
    documented = documented_commands()
    assert len(documented) >= 30
    unknown, missing = [], []
    for path, (command, shown) in documented.items():
        takes = {
            opt
            for param in command.params
            if isinstance(param, click.Option)
            for opt in (*param.opts, *param.secondary_opts)
        }
        unknown += [f"{' '.join(path)} {opt}" for opt in sorted(shown - takes)]
        long_options = {opt for opt in takes if opt.startswith("--")}
        missing += [
            f"{' '.join(path)} {opt}" for opt in sorted(long_options - shown - COMMON_OPTIONS)
        ]
    assert unknown == []
    assert missing == []
    table = (REPO / "README.md").read_text(encoding="utf-8").split("## Commands", 1)[1]
    unlisted = [" ".join(path) for path in leaf_commands(main) if path not in documented]
    assert [name for name in unlisted if f"`{name}`" not in table] == []


def leaf_commands(node: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(node, click.Group):
        return [path]
    return [
        leaf for name, sub in node.commands.items() for leaf in leaf_commands(sub, (*path, name))
    ]


def test_the_readme_configuration_block_is_a_valid_config(tmp_path: Path) -> None:
    """The README's annotated configuration (every section, with its defaults) passes
    the same validation as `check-config`, with its `${VARS}` set."""
    (line, block), *_ = [
        (line, block) for line, block in fenced(REPO / "README.md", "yaml") if "brand:" in block
    ]
    path = tmp_path / "inchannel.yaml"
    path.write_text(block + "\n", encoding="utf-8")
    environ = {
        "DB_PASSWORD": "secret",
        "SLACK_CARE_WEBHOOK": "json://localhost/care",
        "SLACK_OPS_WEBHOOK": "json://localhost/ops",
        "METRICS_TOKEN": "0123456789abcdef0123",
    }
    try:
        settings = load_settings(path, environ)
    except ConfigError as exc:
        pytest.fail(f"README.md:{line}:\n" + "\n".join(map(str, exc.problems)))
    assert settings.alerts.channels == ["ops"]


def test_cases_list_help_gives_the_order_the_readme_and_the_code_use() -> None:
    """The help said "by SLA deadline, then newest"; the list (like the queue) goes by
    deadline, then priority, then the oldest case first."""
    result = CliRunner().invoke(main, ["cases", "list", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "then priority and age" in result.output
    assert "newest" not in result.output


@pytest.mark.parametrize(
    ("platform", "text", "team"),
    [
        ("x", "@acme the site is down again, great job", "tech"),  # VADER: positive
        ("reddit", "u/acme_official the site is down again", "tech"),
        ("x", "@acme thanks, the site is back up", None),
    ],
)
def test_the_readme_rule_example_reads_a_report_whatever_its_sentiment(
    tmp_path: Path, platform: str, text: str, team: str | None
) -> None:
    """The README's rule showed `~label: positive`, the gate the shipped outage-report
    dropped because it let a sarcastic "great job" outage report go unanswered, and
    `followers: "< 1000000"`, which an unknown count (every Reddit author) never passes."""
    from monitor.scoring import Scorer
    from tests.rulekit import decide, engine

    (block,) = [b for _, b in fenced(REPO / "README.md", "yaml") if "name: outage-report" in b]
    scorer = Scorer(load_settings(REPO / "config" / "inchannel.yaml").scoring)
    decision = decide(
        engine(tmp_path, block), text, sentiment=scorer.score(text), platform=platform
    )
    assert (decision.escalation.team if decision.escalation else None) == team


def test_the_readme_score_example_prints_what_it_shows() -> None:
    (block,) = [b for _, b in fenced(REPO / "README.md", "console") if "inchannel score" in b]
    lines = block.splitlines()
    (at,) = [i for i, line in enumerate(lines) if "| inchannel score --json" in line]
    text = re.fullmatch(r'\$ echo "(.*)" \| inchannel score --json', lines[at])
    assert text is not None
    config = str(REPO / "config" / "inchannel.yaml")
    result = CliRunner().invoke(main, ["score", "--json", "--config", config], input=text[1])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [lines[at + 1]]


def test_the_x_quick_set_up_checks_as_docs_x_shows(tmp_path: Path) -> None:
    """docs/x.md's quick set-up, put in the shipped config as it says, passes
    `check-config` with the output the page shows."""
    from tests.conftest import demo_copy

    config = demo_copy(tmp_path)
    x_md = REPO / "docs" / "x.md"
    setup = next(block for _, block in fenced(x_md, "yaml") if "x_mentions" in block)
    session = next(b for _, b in fenced(x_md, "console") if "$ inchannel check-config" in b)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data.update(yaml.safe_load(setup))
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    names = (
        "BEARER_TOKEN",
        "CONSUMER_KEY",
        "CONSUMER_SECRET",
        "ACCESS_TOKEN",
        "ACCESS_TOKEN_SECRET",
    )
    env = {f"X_{name}": "k" for name in names}
    result = CliRunner().invoke(main, ["check-config", "--config", str(config)], env=env)
    lines = session.splitlines()
    shown = lines[lines.index("$ inchannel check-config") + 1]
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == shown.replace("config/inchannel.yaml", str(config))


SECTIONS = set(Settings.model_fields) - {"base_dir"}
CONFIG_PAGES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
# What a fragment leans on from the page around it: the credentials sections a page sets
# up once, and the channels its teams and alerts name.
X_KEYS = ("bearer_token", "consumer_key", "consumer_secret", "access_token", "access_token_secret")
AGENT = {"platform": "linux", "app_id": "com.acme.test", "version": "1", "by": "acme_official"}
CHANNELS = ("care-slack", "slack-care", "ops")
CONTEXT: dict[str, Any] = {
    "x": {"user_id": "1234567890", **dict.fromkeys(X_KEYS, "k")},
    "reddit": {"client_id": "k", "client_secret": "k", "refresh_token": "k", "user_agent": AGENT},
    "channels": {name: {"url": "json://localhost/x"} for name in CHANNELS},
}


def config_fragments() -> list[tuple[str, Any]]:
    """(where, data) of each YAML block that is (part of) an inchannel.yaml: a mapping of
    config sections, or a list of sources shown on its own."""
    found: list[tuple[str, Any]] = []
    for path in CONFIG_PAGES:
        for line, block in fenced(path, "yaml"):
            docs = [d for d in yaml.safe_load_all(block) if d is not None]
            if len(docs) != 1:
                continue
            (data,) = docs
            where = f"{path.relative_to(REPO)}:{line}"
            if isinstance(data, dict) and set(data) <= SECTIONS and "brand" not in data:
                found.append((where, data))
            elif isinstance(data, list) and all(isinstance(s, dict) and "type" in s for s in data):
                found.append((where, {"sources": data}))
    return found


FRAGMENTS = config_fragments()


def test_the_docs_have_config_fragments_to_check() -> None:
    assert len(FRAGMENTS) >= 15


@pytest.mark.parametrize(("where", "fragment"), FRAGMENTS, ids=[w for w, _ in FRAGMENTS])
def test_config_examples_pass_check_config(tmp_path: Path, where: str, fragment: Any) -> None:
    """Each configuration snippet in the docs, put in the shipped config as the page says,
    passes `check-config` (with the shipped rules and answers): a section replaces its
    keys, a team its namesake, a source list the demo's sources."""
    from tests.conftest import demo_copy

    config = demo_copy(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for section, value in {**CONTEXT, **fragment}.items():
        if section == "teams":
            named = {team["name"]: team for team in value}
            data["teams"] = [named.pop(t["name"], t) for t in data["teams"]] + list(named.values())
        elif isinstance(value, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **value}
        else:
            data[section] = value
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    # A variable that is a whole value stands for a URL or a token, one after a URL's
    # scheme for the rest of the URL (slack://T/B/C), one elsewhere in a value (a
    # password in a URL) for a plain word.
    text = config.read_text(encoding="utf-8")
    env = dict.fromkeys(re.findall(r"\$\{(\w+)\}", text), "secret")
    slack = "T0000000/B0000000/0123456789abcdef"
    env |= dict.fromkeys(re.findall(r"://\$\{(\w+)\}", text), slack)
    whole = re.findall(r"(?m):\s+'?\$\{(\w+)\}'?$", text)
    env |= dict.fromkeys(whole, "json://localhost/0123456789abcdef0123")
    result = CliRunner().invoke(main, ["check-config", "--config", str(config)], env=env)
    assert result.exit_code == 0, f"{where}:\n{yaml.safe_dump(fragment)}\n{result.output}"


def test_the_readme_sla_warning_example_fits_the_team_shown_above_it() -> None:
    """The example said 16:45 on Friday, as for a team closed at weekends; the team the
    README shows is open on Saturday, where check_sla warns."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from monitor.settings import Team

    (block,) = [b for _, b in fenced(REPO / "README.md", "yaml") if "sla_warning_minutes" in b]
    team = Team.model_validate(yaml.safe_load(block)["teams"][0])
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    said = re.search(
        r"a (\d+)-minute warning of a deadline at (\d\d:\d\d) on Monday comes at"
        r" (\d\d:\d\d) on (\w+)day",
        text,
    )
    assert said is not None
    zone = ZoneInfo(team.timezone)
    due = datetime.fromisoformat(f"2026-11-23T{said[2]}").replace(tzinfo=zone)  # a Monday
    back = {"Fri": 3, "Satur": 2, "Sun": 1, "Mon": 0}[said[4]]
    warned = datetime.fromisoformat(f"2026-11-{23 - back}T{said[3]}").replace(tzinfo=zone)
    assert team.calendar().minutes_between(warned, due) == int(said[1])
    assert team.calendar().add_minutes(warned, int(said[1])) == due
    assert team.opening_hours().is_open(warned - timedelta(minutes=1))


def test_the_rules_md_sla_warning_example_says_the_warning_each_team_gets() -> None:
    from monitor.settings import Team

    (block,) = [b for _, b in fenced(REPO / "docs" / "rules.md", "yaml") if "name: vip" in b]
    said = {
        name: 0 if "no warning" in comment else int(re.findall(r"warned (\d+)", comment)[0])
        for name, comment in re.findall(r"name: (\w+)\n\s+first_response_minutes.*#(.*)", block)
    }
    assert len(said) == 3
    teams = {t["name"]: Team.model_validate(t) for t in yaml.safe_load(block)["teams"]}
    assert {name: teams[name].warning_minutes for name in said} == said
    assert teams["tech"].warning_minutes == 20


def test_the_worker_unit_outlasts_the_workers_own_wait_at_a_stop() -> None:
    """SIGTERM lets the running step finish for up to STOP_GRACE_SECONDS, then the worker
    releases its leases and exits: a unit that killed it sooner (TimeoutStopSec=60 once)
    left its leases and its claims for the others to wait out. The last writes of the
    stop may each wait database.busy_timeout_ms (5 s) on SQLite."""
    from monitor.daemon import STOP_GRACE_SECONDS

    (stop,) = systemd_units()["inchannel@.service"]["Service.TimeoutStopSec"]
    assert int(stop) >= STOP_GRACE_SECONDS + 30


def documented_nul_fix() -> str:
    """The command docs/operations.md gives after a copy refused a NUL: the first fenced
    ```sh block or inline `sqlite3 ...`/`python3 ...` after the error it quotes."""
    doc = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    after = doc.split("PostgreSQL text fields cannot contain NUL", 1)[1]
    found = re.search(r"```sh\n(.*?)```|`((?:sqlite3|python3) [^`]+)`", after, re.S)
    assert found is not None
    return found[1] or " ".join(found[2].split())


def test_the_documented_fix_for_a_nul_the_copy_refuses_removes_it(tmp_path: Path) -> None:
    """docs/operations.md told operators to fix a NUL `db copy` refuses with the sqlite3
    shell's `replace(text, char(0), '')`, which changes nothing: SQLite's replace() takes
    a pattern that starts with NUL for an empty one, so the copy failed again."""
    import sqlite3
    import subprocess
    from contextlib import closing

    from sqlalchemy import text

    from monitor.store.db import make_engine, upgrade

    path = tmp_path / "var" / "inchannel.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    insert = (
        "INSERT INTO messages (id, platform, external_id, direction, kind, author_handle,"
        " text, conversation_id, reply_allowed, created_at, ingested_at, processed) VALUES"
        " (2, 'x', '2', 'inbound', 'mention', 'jane', :text, '1', true, :at, :at, true)"
    )
    with engine.begin() as conn:
        conn.execute(text(insert), {"text": "a\x00b", "at": "2026-11-20 10:00:00.000000"})
    engine.dispose()
    command = documented_nul_fix()
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, check=False)
    assert (done.returncode, done.stderr) == (0, b""), command
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT text FROM messages WHERE id = 2").fetchone() == ("ab",)


def test_the_documented_json_log_line_is_what_json_lines_writes() -> None:
    """docs/operations.md named the JSON keys but not how `level` is written: it is
    lower-case (`info`, `warning`), so a query for `level == "WARNING"` found nothing."""
    import json
    import logging
    from datetime import datetime

    from monitor.logs import JsonFormatter

    (block,) = [b for _, b in fenced(REPO / "docs" / "operations.md", "json") if '"level"' in b]
    shown = json.loads(block)
    record = logging.LogRecord(
        shown["logger"],
        logging.getLevelName(shown["level"].upper()),
        "",
        0,
        shown["message"],
        None,
        None,
    )
    record.created = datetime.fromisoformat(shown["at"]).timestamp()
    assert json.loads(JsonFormatter().format(record)) == shown


def bench_answers() -> Any:
    """bench/answers.py as a module (bench/ is no package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("bench_answers", REPO / "bench" / "answers.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def documented_bench_rows() -> dict[str, list[str]]:
    """The rows of docs/answers.md's table of the shipped entries' figures, by first cell
    with the bold marks dropped: {"eval (225, tuning)": ["121", "0.992", ...]}."""
    text = (REPO / "docs" / "answers.md").read_text(encoding="utf-8")
    table = text.split("| set | auto-answers |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.replace("*", "").strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def bench_figures() -> dict[str, dict[str, float]]:
    """What `bench/answers.py` prints for the shipped entries, by set, and for the blind
    sets through the shipped rules ("through rules")."""
    from monitor.answers.answerer import Answerer

    bench = bench_answers()
    settings = load_settings(REPO / "config" / "inchannel.yaml")
    config = settings.answers
    kb = load_knowledge_base(
        settings.resolve(config.path), brand=settings.brand.name, products=config.products
    )
    answerer = Answerer(kb, answer_at=config.answer_at, draft_at=config.draft_at)
    paths = {**bench.TUNING, **bench.HELD_OUT}
    sets = {name: bench.load_eval(path) for name, path in paths.items()}
    sets["tuning"] = [item for name in bench.TUNING for item in sets[name]]
    sets["held-out"] = [item for name in bench.HELD_OUT for item in sets[name]]
    figures = {
        name: bench.figures(bench.assess_all(answerer, items), config.answer_at, config.draft_at)
        for name, items in sets.items()
    }
    # As the bench encodes them: 1.0 posted, 0.5 drafted.
    through = bench.through_rules(settings, sets["held-out"])
    return {**figures, "through rules": bench.figures(through, 0.75, 0.25)}


BENCH_ROWS = {
    "eval (225, tuning)": "eval",
    "holdout 1 (141, tuning)": "holdout1",
    "holdout 2 (155, tuning)": "holdout2",
    "holdout 3 (233, tuning)": "holdout3",
    "all 754 tuning mentions": "tuning",
    "holdout 4 (251, blind)": "holdout4",
    "holdout 5 (254, blind)": "holdout5",
    "both blind sets (505)": "held-out",
    "both blind sets, through the shipped rules": "through rules",
}


def test_the_answers_table_is_what_the_bench_gives_now() -> None:
    """docs/answers.md's table is the bench's figures for the shipped entries and rules:
    its row for the blind sets through the shipped rules still said 169 answers at
    coverage 0.531 after a refund that has not come stopped getting the refund-timing
    answer (set 4's "Still no money back ... How long do refunds normally take")."""
    figures = bench_figures()
    shown = documented_bench_rows()
    assert set(shown) == set(BENCH_ROWS)
    keys = ("answers", "answer_precision", "answer_coverage", "drafts", "draft_precision")
    for row, name in BENCH_ROWS.items():
        fig = figures[name]
        expected = [f"{fig[key]:.3f}" if "_" in key else str(fig[key]) for key in keys]
        expected.append(f"{fig['proposed_coverage']:.3f}")
        cells = [re.sub(r" \((\d+) wrong\)$", "", cell) for cell in shown[row]]
        assert cells == expected, row
        wrong = re.search(r"\((\d+) wrong\)", shown[row][1])
        assert wrong is None or int(wrong[1]) == fig["wrong_public_answers"], row


def test_the_rule_counts_docs_rules_shows_are_the_shipped_sets() -> None:
    """`check-config` and `rules status` in docs/rules.md print the shipped rules' count
    (with the rules of a file the example adds): they said 15 and 14 with 17 shipped."""
    folder = REPO / "config" / "rules"
    teams = dict.fromkeys(("care", "billing", "tech", "international"), always_open())
    shipped = len(load_rules(RulesEnv(folder, teams, frozenset(), "Acme")).rules)
    files = {path.name for path in folder.glob("*.yaml")}
    counted = 0
    for _, block in fenced(REPO / "docs" / "rules.md", "text"):
        named = re.findall(
            r"(?m)^config/rules/([\w.-]+):[\d:]+ (?:warning: )?rule '([^']+)'", block
        )
        extra = {rule for file, rule in named if file not in files}
        for said in re.findall(r"\((?:\d+ sources?, )?(\d+) rules\b", block):
            assert int(said) == shipped + len(extra), block
            counted += 1
    assert counted >= 2


def test_the_readme_rules_section_names_every_action_and_match_key() -> None:
    """The README's Rules section lists the actions and (in its example's comments) the
    match keys: `answer` was missing from the actions, and the new `tagged` from the keys."""
    from monitor.rules.matching import TOP
    from monitor.rules.model import Then

    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Rules\n", 1)[1].split("\n## ", 1)[0]
    actions = re.search(r"^Actions: (.*?)\.\s", section, re.M | re.S)
    assert actions is not None
    assert set(re.findall(r"`(\w+)`", actions[1])) == set(Then.model_fields)
    (example,) = [b for _, b in fenced(REPO / "README.md", "yaml") if "name: outage-report" in b]
    assert [key for key in TOP if not re.search(rf"\b{key}\b", example)] == []


def operations_section(title: str) -> str:
    doc = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    return doc.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_move_to_postgresql_gives_the_units_the_password() -> None:
    """The move exported DB_PASSWORD in the operator's shell only: `db copy` and `db
    current` worked there, and the units, which read their environment from their
    EnvironmentFile= alone, exited 2 on the unset variable and stayed down."""
    section = operations_section("Moving from SQLite to PostgreSQL")
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    (copy,) = [line for line in lines if "inchannel db copy --to" in line]
    (start,) = [i for i, line in enumerate(lines) if "systemctl start" in line]
    files = {unit["Service.EnvironmentFile"][0] for unit in systemd_units().values()}
    (env_file,) = files
    names = re.findall(r"\$\{(\w+)\}", copy)
    assert names
    told = [line for line in lines[:start] if env_file in line]
    assert [name for name in names if not any(name in line for line in told)] == []


def test_a_copied_database_shows_no_worker_until_one_polls_it(tmp_path: Path) -> None:
    """What docs/operations.md says `status` shows after the move: the copy carries the
    old database's health checks, which read healthy for minutes with no worker
    running, so status says the copy has not started (exit 1), and its sources name no
    worker (a clean stop released them) until one polls them."""
    import json

    from monitor.status import COPIED_NOT_STARTED
    from tests.conftest import demo_copy

    config = demo_copy(tmp_path)
    for command in (["db", "upgrade"], ["run", "--once"]):
        result = CliRunner().invoke(main, [*command, "--config", str(config)])
        assert result.exit_code == 0, result.output
    target = tmp_path / "copy.db"
    copied = ["db", "copy", "--to", f"sqlite:///{target}", "--config", str(config)]
    assert CliRunner().invoke(main, copied).exit_code == 0
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f"{tmp_path}/inchannel.db", str(target)), encoding="utf-8")
    result = CliRunner().invoke(main, ["status", "--json", "--config", str(config)])
    status = json.loads(result.stdout)
    assert (result.exit_code, status["problems"]) == (1, [COPIED_NOT_STARTED])
    # The configured source; the @rules row the run stored holds no lease either.
    assert [s["lease_owner"] for s in status["sources"] if s["configured"]] == [None]
    section = " ".join(operations_section("Moving from SQLite to PostgreSQL").split())
    assert f"`{COPIED_NOT_STARTED}`" in section


def test_the_ci_check_of_the_config_runs_without_the_secrets(tmp_path: Path) -> None:
    """docs/operations.md said to run `check-config` in CI, where none of the secrets
    are: every `${NAME}` was an error (exit 2), and a bare placeholder for a channel's
    URL too (apprise checks its form). The documented CI line passes on the README's
    configuration, which uses a password, webhooks and a metrics token."""
    import shlex

    from tests.conftest import demo_copy

    section = operations_section("Install")
    blocks = [b.split("```", 1)[0] for b in section.split("```sh\n")[1:]]
    (block,) = [b for b in blocks if "check-config" in b]
    words = shlex.split(block.replace("\\\n", " "))
    env = dict(word.split("=", 1) for word in words if re.fullmatch(r"[A-Z_]+=.*", word))
    (readme,) = [b for _, b in fenced(REPO / "README.md", "yaml") if "brand:" in b]
    config = demo_copy(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    shown = yaml.safe_load(readme)
    data |= {key: shown[key] for key in ("channels", "alerts", "web")}
    data["database"] = shown["database"] | {"url": "postgresql://inchannel:${DB_PASSWORD}@db/x"}
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(main, ["check-config", "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
