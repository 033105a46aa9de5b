"""The corpus of broken knowledge-base files: each must produce exactly its recorded
problems, and check-config reports them as file:line:col and exits 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.answers.loader import load_knowledge_base
from monitor.cli import main
from monitor.yamlpos import ConfigError
from tests.conftest import REPO

CORPUS = Path(__file__).parent / "data" / "bad_answers"
CASES = sorted(CORPUS.glob("*.yaml"))


def problems(folder: Path) -> list[str]:
    try:
        kb = load_knowledge_base(folder, brand="Acme")
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in kb.warnings]


def test_every_case_has_its_expected_messages() -> None:
    assert len(CASES) >= 15
    for case in CASES:
        assert case.with_suffix(".expected").is_file(), case.name


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_answers_file_gives_its_exact_message(tmp_path: Path, case: Path) -> None:
    folder = tmp_path / "answers"
    folder.mkdir()
    shutil.copy(case, folder / case.name)
    expected = case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    found = [p.replace(str(folder / case.name), "{file}") for p in problems(folder)]
    assert found == expected


def test_a_reddit_answer_sending_the_customer_to_a_subreddit_is_refused(
    tmp_path: Path,
) -> None:
    """A Reddit answer is markdown posted as written, where "/r/AcmeHelp" and
    "/u/AcmeCare" are links to another community or account; only "r/AcmeHelp" without
    the slash was caught."""
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "returns.yaml").write_text(
        "id: returns-help\n"
        'questions: ["How do I return an item?", "Can I send my kettle back?"]\n'
        "answer:\n"
        '  x: "Hi {first_name}! Returns are free within 30 days."\n'
        '  reddit: "Hi {first_name}! The mods in /r/AcmeHelp walk you through returns."\n',
        encoding="utf-8",
    )
    assert problems(folder) == [
        f"{folder}/returns.yaml:5:3: answer 'returns-help': answer.reddit: sends the "
        "customer elsewhere (another account: '/r/AcmeHelp'); the answer must be in the "
        "reply itself"
    ]


def test_a_two_megabyte_answers_file_is_refused_without_parsing(tmp_path: Path) -> None:
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "huge.yaml").write_text("# padding\n" * 200_000, encoding="utf-8")
    assert problems(folder) == [
        f"{folder}/huge.yaml:1:1: file is 2.0 MB; an answers file may be at most 1 MB"
    ]


def test_an_answers_file_with_an_upper_case_suffix_is_reported_not_skipped(
    tmp_path: Path,
) -> None:
    # Suffixes are case-sensitive: without a word, the entries in 70-gifts.YAML would
    # never answer and check-config would pass.
    folder = tmp_path / "answers"
    folder.mkdir()
    entry = 'id: gift-wrap\nquestions: ["Do you gift wrap?", "Can you wrap it?"]\nanswer: "Yes."\n'
    (folder / "10-shop.yaml").write_text(entry, encoding="utf-8")
    (folder / "70-gifts.YAML").write_text(entry.replace("gift-wrap", "gift-box"), "utf-8")
    assert problems(folder) == [
        f"{folder}/70-gifts.YAML:1:1: not read: answers files must end in .yaml or .yml, not .YAML"
    ]


def test_a_missing_folder_is_an_empty_knowledge_base(tmp_path: Path) -> None:
    kb = load_knowledge_base(tmp_path / "nowhere", brand="Acme")
    assert kb.entries == ()


def test_an_answers_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    # Read as no folder, a mistyped answers.path turned the knowledge base off silently.
    path = tmp_path / "answers.yaml"
    path.write_text("id: x\n", encoding="utf-8")
    assert problems(path) == [
        f"{path}:1:1: is a file, not a folder: answers.path names the folder of answers files"
    ]


def test_an_emptied_folder_is_an_error_not_an_empty_knowledge_base(tmp_path: Path) -> None:
    """An answers folder with no files (a half-finished checkout, files moved away)
    loaded as zero entries: hot reload took it, and the bot stopped answering with no
    more than a warning. As for rules, it is an error; no folder at all is still the
    feature switched off."""
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "README.md").write_text("Entries go here.\n", encoding="utf-8")
    assert problems(folder) == [
        f"{folder}:1:1: no answers files (*.yaml, *.yml) in this folder; remove the folder "
        "to run without a knowledge base"
    ]


def test_the_shipped_knowledge_base_loads_with_25_entries_or_more() -> None:
    kb = load_knowledge_base(REPO / "config" / "answers", brand="Acme")
    assert len(kb.entries) >= 25
    assert kb.warnings == ()


def _demo(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    return config


def test_check_config_reports_rule_and_answer_problems_together(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    shutil.copy(CORPUS / "deflecting.yaml", config / "answers" / "90-bad.yaml")
    (config / "rules" / "90-bad.yaml").write_text(
        "name: bad\nthen: {answer: {min_confidence: 2}}\n", encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["check-config", "--config", str(config / "inchannel.yaml")])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert f"{config / 'answers' / '90-bad.yaml'}:3:1: answer 'refund-help': answer: sends the " \
        "customer elsewhere (private message: 'DM us'); the answer must be in the reply itself" \
        in lines  # fmt: skip
    assert any(
        line.startswith(f"{config / 'rules' / '90-bad.yaml'}:2:")
        and "then.answer.min_confidence: Input should be less than or equal to 1" in line
        for line in lines
    )


def test_answer_with_reply_in_one_rule_is_refused(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    (config / "rules" / "90-bad.yaml").write_text(
        'name: both\nthen: {answer: true, reply: "Hi"}\n', encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["check-config", "--config", str(config / "inchannel.yaml")])
    assert result.exit_code == 2
    assert "answer posts a knowledge-base entry; remove reply/draft or answer" in result.output


def test_an_answer_rule_without_entries_is_a_warning(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    shutil.rmtree(config / "answers")
    result = CliRunner().invoke(main, ["check-config", "--config", str(config / "inchannel.yaml")])
    assert result.exit_code == 0
    assert "warning: rule 'answer-common-questions': then.answer: the knowledge base" in (
        result.output
    )
    assert "has no entries; this rule never answers" in result.output


def test_check_config_refuses_an_emptied_answers_folder(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    for path in (config / "answers").iterdir():
        path.unlink()
    result = CliRunner().invoke(main, ["check-config", "--config", str(config / "inchannel.yaml")])
    assert result.exit_code == 2
    assert f"{config / 'answers'}:1:1: no answers files (*.yaml, *.yml) in this folder" in (
        result.output
    )


def test_answers_test_says_draft_where_the_daemon_drafts(tmp_path: Path) -> None:
    """``answers test`` said "answer" for a text longer than the matcher reads and for
    two entries that fit alike, which the daemon only drafts."""
    config = _demo(tmp_path)
    (config / "answers" / "70-gifts.yaml").write_text(
        'id: gift-wrap\nquestions: ["Do you gift wrap?", "Can you wrap a present?"]\n'
        'answer: "Hi {first_name}! Gift wrap is £3 at checkout."\n---\n'
        'id: gift-bags\nquestions: ["Do you gift wrap?", "Do you sell gift bags?"]\n'
        'answer: "Hi {first_name}! Gift bags are £1 in store."\n',
        encoding="utf-8",
    )
    path = str(config / "inchannel.yaml")
    long = "@acme do you ship to Ireland? " + "Thanks so much, " * 70
    for text in ("@acme do you ship to Ireland?", long, "@acme do you gift wrap?"):
        tried = CliRunner().invoke(main, ["answers", "test", text, "--json", "--config", path])
        assert tried.exit_code == 0, tried.output
        outcome = json.loads(tried.output)["outcome"]
        assert outcome == ("answer" if text == "@acme do you ship to Ireland?" else "draft")


def test_answers_list_shows_tags_as_written(tmp_path: Path) -> None:
    """Tags went through rich's markup: "[promo]" vanished from the table and "[/]"
    ended ``answers list`` with a MarkupError traceback."""
    config = _demo(tmp_path)
    (config / "answers" / "70-gifts.yaml").write_text(
        'id: gift-wrap\nquestions: ["Do you gift wrap?", "Can you wrap a present?"]\n'
        'tags: ["[promo]"]\nanswer: "Hi {first_name}! Gift wrap is £3 at checkout."\n---\n'
        'id: gift-bags\nquestions: ["Do you sell gift bags?", "Any paper bags?"]\n'
        'tags: ["[/]"]\nanswer: "Hi {first_name}! Gift bags are £1 in store."\n',
        encoding="utf-8",
    )
    listed = CliRunner().invoke(
        main, ["answers", "list", "--config", str(config / "inchannel.yaml")]
    )
    assert listed.exit_code == 0, listed.output
    assert "[promo]" in listed.output
    assert "[/]" in listed.output


@pytest.mark.parametrize(
    ("at", "entry"),
    [
        ("2026-12-01", "store-hours-holidays"),
        ("2026-12-01T08:00", "store-hours-holidays"),  # no seconds, as backfill takes
        ("2026-12-01T00:30:00Z", "store-hours-holidays"),  # an API timestamp
        ("2026-12-01T00:30+01:00", "store-hours"),  # 23:30 UTC on 30 Nov: not yet
    ],
)
def test_answers_test_at_takes_the_times_other_commands_take(
    tmp_path: Path, at: str, entry: str
) -> None:
    """``--at`` refused "2026-12-01T08:00", a "Z" and an offset (click.DateTime), where
    ``backfill --since`` takes them all; validity days are UTC days."""
    path = str(_demo(tmp_path) / "inchannel.yaml")
    question = "@acme what time do you close on Saturday?"
    args = ["answers", "test", question, "--at", at, "--json", "--config", path]
    tried = CliRunner().invoke(main, args)
    assert tried.exit_code == 0, tried.output
    assert json.loads(tried.output)["answer"] == entry


def test_an_answer_asking_the_customer_to_try_dming_us_is_refused(tmp_path: Path) -> None:
    """ "DM us" and "our DMs" were refused, but the verb's other forms passed: an answer
    telling the customer to try DMing the brand would be posted in public."""
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "orders.yaml").write_text(
        "id: order-help\n"
        'questions: ["Where is my order?", "Has my parcel shipped?"]\n'
        "answer:\n"
        '  x: "Hi {first_name}! Try DMing us your order number and we\'ll look."\n'
        '  reddit: "Hi {first_name}! PMing the mods gets you an answer."\n',
        encoding="utf-8",
    )
    assert problems(folder) == [
        f"{folder}/orders.yaml:4:3: answer 'order-help': answer.x: sends the customer "
        "elsewhere (private message: 'DMing us'); the answer must be in the reply itself",
        f"{folder}/orders.yaml:5:3: answer 'order-help': answer.reddit: sends the customer "
        "elsewhere (private message: 'PMing'); the answer must be in the reply itself",
    ]
