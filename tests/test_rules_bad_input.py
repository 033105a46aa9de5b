"""The corpus of broken rule files: each must produce exactly its recorded problems.

Each ``tests/data/bad_rules/<case>.yaml`` is loaded alone from a rules folder; the
problems check-config would print must equal ``<case>.expected`` line for line
(``{file}`` stands for the rule file's path).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.rulekit import engine, problems, write

CORPUS = Path(__file__).parent / "data" / "bad_rules"
CASES = sorted(CORPUS.glob("*.yaml"))


def test_every_case_has_its_expected_messages() -> None:
    assert len(CASES) >= 30
    for case in CASES:
        assert case.with_suffix(".expected").is_file(), case.name


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_rule_file_gives_its_exact_message(tmp_path: Path, case: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(case, folder / case.name)
    expected = case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    found = [p.replace(f"{{dir}}/{case.name}", "{file}") for p in problems(folder)]
    assert found == expected


def test_ten_megabyte_file_is_refused_without_parsing(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    line = "# padding padding padding padding padding padding padding padding padding\n"
    write(folder, line * (10_500_000 // len(line)), "huge.yaml")
    assert problems(folder) == [
        "{dir}/huge.yaml:1:1: file is 10.5 MB; a rule file may be at most 1 MB"
    ]


def test_a_list_file_over_ten_megabytes_is_refused_unread(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write(folder, "name: vip\nmatch: {author: {handles_from: vip.txt}}\nthen: {tag: [vip]}\n")
    with (folder / "vip.txt").open("wb") as handle:
        handle.truncate(10_500_000)  # sparse: the size is checked before any read
    assert problems(folder) == [
        "{dir}/rules.yaml:2:18: rule 'vip': match.author.handles_from: "
        "list file 'vip.txt' is 10.5 MB; list files may be at most 10 MB"
    ]


@contextmanager
def a_writer_at(pipe: Path) -> Iterator[None]:
    """A writer that opens ``pipe`` and writes nothing: should the load open the pipe,
    it reads an empty file instead of waiting for ever (the test would hang)."""
    writer = threading.Thread(target=lambda: pipe.open("wb").close())
    writer.start()
    try:
        yield
    finally:
        # Should the load never open the pipe, a reader here lets the writer's open
        # return, whenever it comes: opened and closed at once, it could come before the
        # writer's open, which then waited for ever (the whole suite hung).
        reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
        try:
            writer.join()
        finally:
            os.close(reader)


def test_a_list_file_that_is_a_pipe_is_refused_unopened(tmp_path: Path) -> None:
    """Opening a named pipe waits for a writer: check-config hung, and the hot-reload
    job with it, on a `vip.txt` made with mkfifo (or a socket left in the folder)."""
    folder = tmp_path / "rules"
    write(folder, "name: vip\nmatch: {author: {handles_from: vip.txt}}\nthen: {tag: [vip]}\n")
    pipe = folder / "vip.txt"
    os.mkfifo(pipe)
    with a_writer_at(pipe):
        found = problems(folder)
    assert found == [
        "{dir}/rules.yaml:2:18: rule 'vip': match.author.handles_from: list file 'vip.txt'"
        " is a named pipe, not a regular file"
    ]


def test_a_rule_file_that_is_a_pipe_is_refused_unopened(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write(folder, "name: ok\nmatch: {text: hi}\nthen: {tag: [hi]}\n", "10-a.yaml")
    pipe = folder / "20-b.yaml"
    os.mkfifo(pipe)
    with a_writer_at(pipe):
        found = problems(folder)
    assert found == ["{dir}/20-b.yaml:1:1: is a named pipe, not a regular file"]


def test_a_utf16_list_file_is_named_utf16(tmp_path: Path) -> None:
    # Excel's "Unicode Text" export is UTF-16: "'utf-8' codec can't decode byte 0xff in
    # position 0: invalid start byte" said nothing of what to do.
    folder = tmp_path / "rules"
    write(folder, "name: vip\nmatch: {author: {handles_from: vip.txt}}\nthen: {tag: [vip]}\n")
    (folder / "vip.txt").write_bytes("vip_anna\r\n".encode("utf-32"))
    assert problems(folder) == [
        "{dir}/rules.yaml:2:18: rule 'vip': match.author.handles_from: cannot read list file"
        " 'vip.txt': not UTF-8 text: the file is UTF-32 (it starts with UTF-32's byte order"
        " mark); save it as UTF-8"
    ]


def test_errors_in_several_files_are_all_reported_in_file_order(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("unknown_team.yaml", "deflecting_template.yaml", "empty.yaml"):
        shutil.copy(CORPUS / name, folder / name)
    found = problems(folder)
    assert [line.split(":")[0] for line in found] == [
        "{dir}/deflecting_template.yaml",
        "{dir}/empty.yaml",
        "{dir}/unknown_team.yaml",
    ]


def test_a_good_rule_next_to_a_bad_one_does_not_load_either(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write(folder, "name: ok\nmatch: {text: hi}\nthen: {tag: [hi]}\n", "a.yaml")
    shutil.copy(CORPUS / "bad_regex.yaml", folder / "b.yaml")
    from monitor.yamlpos import ConfigError

    with pytest.raises(ConfigError):
        engine(folder)


def test_an_emptied_rules_folder_is_an_error(tmp_path: Path) -> None:
    # It loaded as zero rules, and the daemon silently stopped doing anything.
    folder = tmp_path / "rules"
    write(folder / "lists", "someone\n", "vip.txt")
    assert problems(folder) == ["{dir}:1:1: no rule files (*.yaml, *.yml) in this folder"]


def test_a_rule_file_with_an_upper_case_suffix_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write(folder, "name: ok\nmatch: {text: hi}\nthen: {tag: [hi]}\n", "10-ok.yaml")
    write(folder, "name: care\nmatch: {text: late}\nthen: {tag: [late]}\n", "20-care.YAML")
    assert problems(folder) == [
        "{dir}/20-care.YAML:1:1: not read: rule files must end in .yaml or .yml, not .YAML"
    ]


def test_a_rule_file_that_cannot_be_read_is_a_problem_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unreadable, or removed between the folder's listing and its reading (a `git
    # pull` under a starting daemon). Tests run as root, where chmod blocks nothing:
    # the read itself says no, at the one place files are read.
    folder = tmp_path / "rules"
    write(folder, "name: a\nmatch: {text: [x]}\nthen: {tag: [x]}\n")
    read_text = Path.read_text

    def refused(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.name == "rules.yaml":
            raise PermissionError(13, "Permission denied")
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refused)
    assert problems(folder) == ["{dir}/rules.yaml:1:1: cannot read the file: Permission denied"]


def test_the_forms_the_clearer_messages_did_not_take_away(tmp_path: Path) -> None:
    # The list and priority checks refuse what pydantic refused, and `yes`; no more.
    rule = (
        "name: {name}\npriority: {priority}\nmatch: {{text: late}}\n"
        "then: {{draft: Hi, tag: late, escalate: {{team: care, channels: pager}}}}\n"
    )
    write(tmp_path / "rules", rule.format(name="quoted", priority="'-5'"), "a.yaml")
    write(tmp_path / "rules", rule.format(name="float", priority="3.0"), "b.yaml")
    loaded = engine(tmp_path / "rules").ruleset.rules
    assert [(r.spec.priority, r.spec.then.tag) for r in loaded] == [(-5, ["late"]), (3, ["late"])]
    empty_tag = "name: x\nmatch: {text: a}\nthen: {tag: , stop: true}\n"
    assert problems(tmp_path / "tag", empty_tag) == []


def test_a_rule_file_linked_to_a_missing_file_is_an_error_not_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write(folder, "name: ok\nmatch: {text: hi}\nthen: {tag: [hi]}\n", "10-a.yaml")
    (folder / "20-b.yaml").symlink_to(tmp_path / "shared" / "20-b.yaml")
    assert problems(folder) == [
        "{dir}/20-b.yaml:1:1: cannot read the file: No such file or directory"
    ]


def test_an_editors_lock_file_beside_a_rule_file_is_not_a_rule_file(tmp_path: Path) -> None:
    # Emacs marks a rule file being edited with a link `.#20-b.yaml` to no file. Since
    # folders and dangling links named *.yaml are reported, that lock failed
    # check-config, the start and every reload while the file was open in Emacs.
    folder = tmp_path / "rules"
    write(folder, "name: ok\nmatch: {text: hi}\nthen: {tag: [hi]}\n", "20-b.yaml")
    (folder / ".#20-b.yaml").symlink_to("lena@care-host.4242:1764844800")
    assert problems(folder) == []


def test_macos_metadata_beside_a_rule_file_is_not_a_rule_file(tmp_path: Path) -> None:
    # A folder copied from a Mac (tar, zip, a network share) has `._20-b.yaml` beside
    # each file: binary, so it failed check-config, the start and every reload.
    folder = tmp_path / "rules"
    write(folder, "name: ok\nmatch: {text: hi}\nthen: {tag: [hi]}\n", "20-b.yaml")
    (folder / "._20-b.yaml").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X  \xff")
    (folder / "._20-b.YAML").write_bytes(b"\x00\x05\x16\x07")
    assert problems(folder) == []


def test_a_list_file_hot_reload_does_not_watch_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write(folder / ".private", "vip_anna\n", "vip.txt")
    rule = "name: vip\nmatch: {author: {handles_from: .private/vip.txt}}\nthen: {tag: [vip]}\n"
    assert problems(folder, rule) == [
        "{dir}/rules.yaml:2:18: rule 'vip': match.author.handles_from: list file "
        "'.private/vip.txt' is hidden or an editor's backup: hot reload does not watch it"
    ]


def test_a_rules_path_that_is_a_file_is_named_a_file(tmp_path: Path) -> None:
    # `rules.path: rules/10-care.yaml` (one file, not its folder) was reported as
    # `rules folder does not exist`, sending the operator to look for a missing folder.
    path = write(tmp_path, "name: ok\nmatch: {text: hi}\nthen: {tag: [hi]}\n", "10-care.yaml")
    assert problems(path) == [
        "{dir}:1:1: is a file, not a folder: rules.path names the folder of rule files"
    ]


def test_a_missing_rules_folder_is_still_named_missing(tmp_path: Path) -> None:
    assert problems(tmp_path / "rules") == ["{dir}:1:1: rules folder does not exist"]


def test_an_anchor_nothing_refers_to_is_allowed(tmp_path: Path) -> None:
    """Only aliases are refused (they are what repeats a value); the docs said anchors
    were too, and refusing them now would stop a daemon whose files load today."""
    folder = tmp_path / "rules"
    write(folder, "name: anchored\nmatch: {text: &words [a, b]}\nthen: {tag: [x]}\n")
    assert [r.name for r in engine(folder).rules] == ["anchored"]
