"""Warnings: unreachable rules; business-hours settings errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.settings import Team
from tests.conftest import REPO
from tests.rulekit import problems

UNREACHABLE = (
    "warning: rule '{narrow}': name: unreachable: rule '{wide}' ({{dir}}/rules.yaml:{line}) "
    "matches everything this rule matches and has {action}: true"
)


@pytest.mark.parametrize(
    ("wide", "narrow"),
    [
        ("{}", "{label: negative}"),
        ("{text: [refund, billing]}", "{text: refund, label: negative}"),
        ("{label: [negative, neutral]}", "{label: negative, platform: x}"),
        ("{~platform: reddit}", "{~platform: [reddit], text: hi}"),
        ('{compound: "< -0.5"}', '{compound: "< -0.5", text: hi}'),
    ],
)
def test_rule_shadowed_by_a_wider_stop_rule_is_reported(
    tmp_path: Path, wide: str, narrow: str
) -> None:
    text = (
        f"name: wide\nmatch: {wide}\nthen: {{tag: [a], stop: true}}\n---\n"
        f"name: narrow\nmatch: {narrow}\nthen: {{reply: Thanks for writing.}}\n"
    )
    found = problems(tmp_path, text)
    assert found == [
        "{dir}/rules.yaml:5:1: "
        + UNREACHABLE.format(narrow="narrow", wide="wide", line=1, action="stop")
    ]


@pytest.mark.parametrize(
    ("wide", "narrow"),
    [
        ("{text: refund}", "{text: [refund, billing]}"),  # narrow may match "billing" alone
        ("{label: negative}", "{label: [negative, neutral]}"),
        ("{~platform: reddit}", "{text: hi}"),
        ("{text (regex): 'a+b'}", "{text (regex): 'a+bc'}"),  # regexes compare only equal
        # "ACME" does not match "acme": reported as shadowed before.
        ("{text (case-sensitive): ACME}", "{text (case-sensitive): acme}"),
    ],
)
def test_reachable_rules_are_not_reported(tmp_path: Path, wide: str, narrow: str) -> None:
    text = (
        f"name: wide\nmatch: {wide}\nthen: {{ignore: true}}\n---\n"
        f"name: narrow\nmatch: {narrow}\nthen: {{tag: [b]}}\n"
    )
    assert problems(tmp_path, text) == []


def test_safety_rule_later_in_the_file_still_shadows(tmp_path: Path) -> None:
    text = (
        "name: acting\nmatch: {text: giveaway, label: positive}\nthen: {reply: Thanks!}\n---\n"
        "name: spam\nmatch: {text: giveaway}\nthen: {ignore: true}\n"
    )
    assert problems(tmp_path, text) == [
        "{dir}/rules.yaml:1:1: "
        + UNREACHABLE.format(narrow="acting", wide="spam", line=5, action="ignore")
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"business_hours": {"mon-fry": "09:00-17:00"}}, "unknown day 'mon-fry'"),
        ({"business_hours": {"fri-mon": "09:00-17:00"}}, "day range 'fri-mon' runs backwards"),
        ({"business_hours": {"mon": "9-5"}}, "mon: cannot read '9-5'"),
        ({"business_hours": {"sat": "22:00-02:00"}}, "split an overnight shift at midnight"),
        ({"holidays": ["2026-02-30"]}, "holidays.0"),
    ],
)
def test_bad_business_hours_are_config_errors(fields: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Team.model_validate({"name": "care", **fields})
    assert message in str(caught.value)


def test_opening_hours_from_settings() -> None:
    from datetime import UTC, datetime

    team = Team.model_validate(
        {
            "name": "care",
            "timezone": "America/New_York",
            "business_hours": {"mon-fri": "09:00-12:00, 13:00-17:00", "sat": "closed"},
            "holidays": ["2026-11-26"],
        }
    )
    hours = team.opening_hours()
    assert hours.is_open(datetime(2026, 11, 20, 14, 30, tzinfo=UTC))  # 09:30 in New York
    assert not hours.is_open(datetime(2026, 11, 20, 17, 30, tzinfo=UTC))  # lunch
    assert not hours.is_open(datetime(2026, 11, 21, 15, 0, tzinfo=UTC))  # Saturday
    assert not hours.is_open(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))  # Thanksgiving


def test_an_answer_rule_with_stop_shadows_nothing(tmp_path: Path) -> None:
    # It stops only when an entry fits; for any other question the next rules decide.
    text = (
        "name: faq\nmatch: {}\nthen: {answer: true, stop: true}\n---\n"
        'name: refunds\nmatch: {text: refund}\nthen: {reply: "Sorry, we are on it."}\n'
    )
    assert problems(tmp_path, text) == []


def test_a_source_no_config_names_is_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "rules" / "90-typo.yaml").write_text(
        "name: typo\nmatch:\n  any:\n    - source: [demo, x-mentons]\nthen: {tag: [seen]}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check-config", "--config", str(config / "inchannel.yaml")])
    assert result.exit_code == 0  # a rule may be written ahead for a source still off
    assert (
        f"{config / 'rules' / '90-typo.yaml'}:4:22: warning: rule 'typo': "
        "match.any[0].source[1]: no source is named 'x-mentons' (sources: demo)"
    ) in result.output
    assert "'demo'" not in result.output


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points


@pytest.mark.parametrize(
    ("platform", "template", "expected"),
    [
        # X weighs CJK 2 and Reddit 1: 5,001 of them fit a Reddit comment.
        ("reddit", "\u4e2d" * 5_001, []),
        # X counts an emoji sequence 2, Reddit every code point in it.
        (
            "reddit",
            FAMILY * 1_500,
            [
                "{dir}/rules.yaml:4:3: rule 'long': then.reply[0]: template can reach 10500 "
                "characters with the longest values; reddit allows 10000"
            ],
        ),
        (
            "x",
            "\u4e2d" * 141,
            [
                "{dir}/rules.yaml:4:3: rule 'long': then.reply[0]: template can reach 282 "
                "characters with the longest values; x allows 280"
            ],
        ),
    ],
)
def test_a_template_is_measured_as_its_rules_platform_counts(
    tmp_path: Path, platform: str, template: str, expected: list[str]
) -> None:
    text = f'name: long\nmatch: {{platform: {platform}}}\nthen:\n  reply: "{template}"\n'
    assert problems(tmp_path, text) == expected


def test_run_logs_the_rules_warnings_at_start(tmp_path: Path) -> None:
    # check-config and a hot reload told of an unreachable rule; a start did not, so a
    # worker started on it (a deploy that skipped check-config) never said so.
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rules.yaml").write_text(
        "name: wide\nmatch: {}\nthen: {tag: [a], stop: true}\n---\n"
        "name: narrow\nmatch: {label: negative}\nthen: {reply: Thanks for writing.}\n",
        encoding="utf-8",
    )
    config = tmp_path / "inchannel.yaml"
    config.write_text(
        f"brand: {{name: Acme}}\ndatabase: {{url: 'sqlite:///{tmp_path}/db'}}\n", encoding="utf-8"
    )
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(config)]).exit_code == 0
    result = runner.invoke(main, ["run", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    rules = tmp_path / "rules"
    expected = f"{rules}/rules.yaml:5:1: " + UNREACHABLE.format(
        narrow="narrow", wide="wide", line=1, action="stop"
    ).format(dir=rules)
    assert f"WARNING inchannel rules: {expected}\n" in result.output
