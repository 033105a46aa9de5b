"""Hot reload on SQLite and PostgreSQL: good changes swap the engine, bad ones keep it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event

from monitor.cli import main
from monitor.daemon import build_scheduler
from monitor.rules.reload import RULES_STATE, RuleReloader, read_rules_state
from monitor.rules.setup import RELOAD_ATTEMPTS, watched_version
from monitor.runtime import Runtime
from monitor.store.models import SourceState
from tests.conftest import REPO, RuntimeFactory
from tests.rulekit import write

NEW_RULE = "name: shipping-question\nmatch: {text: ship}\nthen: {draft: 'Hi {first_name}! '}\n"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(REPO / "config" / "rules", folder)
    return folder


def state(rt: Runtime) -> SourceState:
    with rt.sessions() as session:
        row = session.get(SourceState, RULES_STATE)
        assert row is not None
        session.expunge(row)
        return row


def test_reload_swaps_on_change_and_keeps_last_good_rules_on_error(
    make_runtime: RuntimeFactory, rules_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    first = rt.rules
    assert reloader.check() is False
    assert rt.rules is first
    assert state(rt).details == {
        "version": first.version,
        "rules": len(first.rules),
        "rejected_version": None,
    }

    write(rules_dir, NEW_RULE, "30-more.yaml")
    reloader.check()
    assert rt.rules is not first
    assert len(rt.rules.rules) == len(first.rules) + 1
    good = rt.rules

    write(rules_dir, "name: broken\nmatch: {label: negatve}\nthen: {tag: [x]}\n", "40-bad.yaml")
    with caplog.at_level(logging.ERROR, logger="inchannel.rules"):
        reloader.check()
        reloader.check()  # the same broken version is reported once
    assert rt.rules is good
    row = state(rt)
    message = (
        f"{rules_dir / '40-bad.yaml'}:2:9: rule 'broken': match.label: unknown label "
        "'negatve'; did you mean 'negative'?"
    )
    assert row.last_error == message
    assert row.consecutive_failures == 1
    assert row.details["version"] == good.version
    assert row.details["rejected_version"] not in (None, good.version)
    reported = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().splitlines()[-1] for r in reported] == [message]

    (rules_dir / "40-bad.yaml").unlink()
    reloader.check()
    assert rt.rules.version == good.version
    assert state(rt).last_error is None


def test_a_too_deeply_nested_file_is_rejected_like_any_bad_file(
    make_runtime: RuntimeFactory, rules_dir: Path
) -> None:
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    good = rt.rules
    deep = "name: deep\nmatch: {text: " + "[" * 1000 + "]" * 1000 + "}\nthen: {tag: [x]}\n"
    write(rules_dir, deep, "50-deep.yaml")
    reloader.check()  # raised RecursionError, so the job failed every 30 s
    assert rt.rules is good
    assert reloader.rejected_version is not None
    assert state(rt).last_error == (
        f"{rules_dir / '50-deep.yaml'}:1:1: YAML nested too deeply "
        "(more than 64 levels of lists and mappings)"
    )


def test_an_unquoted_yaml_tag_is_rejected_like_any_bad_file(
    make_runtime: RuntimeFactory, rules_dir: Path
) -> None:
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    good = rt.rules
    shouting = "name: shouting\nmatch:\n  text (includes): !!!\nthen: {tag: [shouting]}\n"
    write(rules_dir, shouting, "50-shouting.yaml")
    reloader.check()  # raised PyYAML's ConstructorError, so the job failed every 30 s
    assert rt.rules is good
    assert state(rt).last_error == (
        f"{rules_dir / '50-shouting.yaml'}:3:20: cannot read !!!: YAML tag '!!!' is not "
        'allowed; quote text that starts with "!"'
    )


def test_a_save_landing_while_the_rules_are_read_is_loaded_by_the_next_check(
    make_runtime: RuntimeFactory, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder is read again when it changed while it was read; when it keeps
    changing, the last read runs under the version hashed before it, so the next check
    loads what it missed."""
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    reloader.check()
    more = write(rules_dir, "name: a\nmatch: {text: aaa}\nthen: {tag: [a]}\n", "30-more.yaml")
    read_text = Path.read_text
    landed: list[Path] = []

    def another_save_lands_after_reading(path: Path, *args: Any, **kwargs: Any) -> str:
        text = read_text(path, *args, **kwargs)
        # Just after the last rule file is read: the folder was listed (the new file
        # is not read now) and hashed, the load goes on. And so at every read again.
        if path == more and len(landed) < RELOAD_ATTEMPTS:
            n = len(landed) + 1
            rule = NEW_RULE.replace("shipping-question", f"saved-{n}")
            landed.append(write(rules_dir, rule, f"31-more-{n}.yaml"))
        return text

    monkeypatch.setattr(Path, "read_text", another_save_lands_after_reading)
    reloader.check()
    monkeypatch.setattr(Path, "read_text", read_text)
    assert len(landed) == RELOAD_ATTEMPTS
    names = {r.name for r in rt.rules.rules}
    assert {"a"} | {f"saved-{n}" for n in range(1, RELOAD_ATTEMPTS)} <= names
    assert f"saved-{RELOAD_ATTEMPTS}" not in names
    reloader.check()
    assert f"saved-{RELOAD_ATTEMPTS}" in {r.name for r in rt.rules.rules}


def test_a_broken_save_landing_while_the_rules_are_read_is_rejected_once(
    make_runtime: RuntimeFactory,
    rules_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The read was tried again, failed again, and the rejection was stored under the
    version hashed before the first read: the next check saw another version, read
    the same broken files again, and logged and counted them a second time."""
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    reloader.check()
    good = rt.rules
    broken = "name: broken\nmatch: {label: negatve}\nthen: {tag: [x]}\n"
    bad = write(rules_dir, broken, "40-bad.yaml")
    read_text = Path.read_text
    landed: list[Path] = []

    def a_second_save_lands_after_reading(path: Path, *args: Any, **kwargs: Any) -> str:
        text = read_text(path, *args, **kwargs)
        if path == bad and not landed:  # still broken: only the tag changed
            landed.append(write(rules_dir, broken.replace("[x]", "[y]"), bad.name))
        return text

    monkeypatch.setattr(Path, "read_text", a_second_save_lands_after_reading)
    with caplog.at_level(logging.ERROR, logger="inchannel.rules"):
        reloader.check()
        monkeypatch.setattr(Path, "read_text", read_text)
        reloader.check()
    assert landed
    assert rt.rules is good
    row = state(rt)
    assert row.consecutive_failures == 1
    assert row.details["rejected_version"] == watched_version(rt.settings)
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_a_changed_list_file_is_a_change(make_runtime: RuntimeFactory, rules_dir: Path) -> None:
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    before = rt.rules.version
    with (rules_dir / "lists" / "vip.txt").open("a", encoding="utf-8") as handle:
        handle.write("new_vip\n")
    reloader.check()
    assert rt.rules.version != before


def test_editors_leftovers_change_neither_the_version_nor_the_rules(
    make_runtime: RuntimeFactory, rules_dir: Path
) -> None:
    """The version hashed every file in the folder: vim rewriting its swap file while a
    rule file was open, Emacs its auto-save, or a `git fetch` in a checkout of the folder
    reloaded the same rules (variants rotating from the first again) under a new
    version in `rules status`, though no rule had changed."""
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    reloader.check()
    running = rt.rules
    leftovers = [
        ".20-care.yaml.swp",
        "#20-care.yaml#",
        "20-care.yaml~",
        ".git/FETCH_HEAD",
        "lists/.vip.txt.swp",
        "._20-care.yaml",
    ]
    for round_ in ("first", "second"):
        for name in leftovers:
            (rules_dir / name).parent.mkdir(exist_ok=True)
            (rules_dir / name).write_bytes(f"{round_} \xff".encode("latin-1"))
        reloader.check()
        assert rt.rules is running
    assert state(rt).details["version"] == running.version
    write(rules_dir, NEW_RULE, "30-more.yaml")
    reloader.check()
    assert rt.rules.version != running.version


def test_daemon_schedules_the_reload_job(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    scheduler = build_scheduler(rt)
    job = scheduler.get_job("rules-reload")
    assert job is not None
    assert job.trigger.interval.total_seconds() == 30


def test_rules_status_shows_what_the_daemon_stored(
    make_runtime: RuntimeFactory, rules_dir: Path, tmp_path: Path, db_url: str
) -> None:
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    config = write(
        tmp_path,
        f"brand: {{name: Acme}}\ndatabase: {{url: '{db_url}'}}\nrules: {{path: rules}}\n",
        "inchannel.yaml",
    )
    runner = CliRunner()
    result = runner.invoke(main, ["rules", "status", "--config", str(config)])
    assert (result.exit_code, result.stdout) == (
        0, "no daemon has loaded rules into this database yet\n"
    )  # fmt: skip
    reloader.check()
    write(rules_dir, "name: [oops\n", "50-bad.yaml")
    reloader.check()
    result = runner.invoke(main, ["rules", "status", "--config", str(config)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    running = f"running rules version {rt.rules.version} ({len(rt.rules.rules)} rules, loaded "
    assert lines[0].startswith(running)
    with rt.sessions() as session:
        stored = read_rules_state(session)
    assert stored is not None
    assert lines[1] == f"rejected version {stored[0]['rejected_version']}:"
    assert lines[2].startswith(f"{rules_dir / '50-bad.yaml'}:2:1: invalid YAML")


def test_rules_status_prints_the_load_time_to_the_second(
    make_runtime: RuntimeFactory, rules_dir: Path, tmp_path: Path, db_url: str
) -> None:
    """The load time came out with microseconds (`loaded 2026-11-20T09:31:02.645238+00:00`),
    unlike every example in docs/rules.md."""
    rt = make_runtime(rules={"path": str(rules_dir)})
    rt.clock.set(datetime(2026, 11, 20, 9, 31, 2, 645238, tzinfo=UTC))  # type: ignore[attr-defined]
    RuleReloader(rt).check()
    config = write(
        tmp_path,
        f"brand: {{name: Acme}}\ndatabase: {{url: '{db_url}'}}\nrules: {{path: rules}}\n",
        "inchannel.yaml",
    )
    result = CliRunner().invoke(main, ["rules", "status", "--config", str(config)])
    assert (result.exit_code, result.stdout) == (
        0,
        f"running rules version {rt.rules.version} ({len(rt.rules.rules)} rules, loaded"
        " 2026-11-20T09:31:02+00:00)\n",
    )


def test_status_reports_a_rejected_reload_while_the_files_are_still_broken(
    make_runtime: RuntimeFactory, rules_dir: Path, tmp_path: Path, db_url: str
) -> None:
    # The health check must work exactly while the rule files do not validate: that is
    # when the daemon runs the previous rules and `status` is to say so (exit 1), not
    # refuse to start with the files' errors (exit 2) like `run` and `check-config`.
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    config = write(
        tmp_path,
        f"brand: {{name: Acme}}\ndatabase: {{url: '{db_url}'}}\nrules: {{path: rules}}\n",
        "inchannel.yaml",
    )
    reloader.check()
    write(rules_dir, "name: [oops\n", "50-bad.yaml")
    reloader.check()
    runner = CliRunner()
    assert runner.invoke(main, ["check-config", "--config", str(config)]).exit_code == 2
    result = runner.invoke(main, ["status", "--json", "--config", str(config)])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["healthy"] is False
    [problem] = document["problems"]
    assert problem.startswith("rules: last reload failed: ")
    assert "50-bad.yaml:2:1: invalid YAML" in problem
    text = runner.invoke(main, ["status", "--config", str(config)])
    assert text.exit_code == 1
    assert "unhealthy: rules: last reload failed" in text.stdout


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "name: broken\nmatch: {text (regex): 'order \\d{4294967296}'}\nthen: {tag: [x]}\n",
            "2:9: rule 'broken': match.text (regex): invalid regex: the repetition number is "
            "too large",
        ),
        (
            "name: broken\nmatch: {compound: 1" + "0" * 400 + "}\nthen: {tag: [x]}\n",
            "2:9: rule 'broken': match.compound: 1" + "0" * 39 + "…: the number is too large",
        ),
        (
            'name: broken\nmatch: {author: {handles_from: "vip\\0.txt"}}\nthen: {tag: [x]}\n',
            "2:18: rule 'broken': match.author.handles_from: cannot read list file "
            "'vip\\x00.txt': the name contains a NUL character",
        ),
    ],
)
def test_a_value_python_cannot_take_is_a_rejected_version_not_a_crash(
    make_runtime: RuntimeFactory, rules_dir: Path, rule: str, message: str
) -> None:
    # A repeat count, a number or a file name past what Python takes raised out of the
    # loader: a traceback every 30 s, nothing in `rules status`, and check-config, run
    # and serve stopped with a traceback instead of file:line:col.
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    good = rt.rules
    write(rules_dir, rule, "40-bad.yaml")
    reloader.check()
    assert rt.rules is good
    assert state(rt).last_error == f"{rules_dir / '40-bad.yaml'}:{message}"


def test_a_loader_crash_on_an_unforeseen_input_keeps_the_running_rules(
    make_runtime: RuntimeFactory,
    rules_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever input some future check fails to foresee, a hot reload must not stop
    the daemon's reload job nor leave it without rules: it is a rejected version."""
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    good = rt.rules
    rule = "name: new\nmatch: {text: refund}\nthen: {tag: [refund]}\n"
    new = write(rules_dir, rule, "40-new.yaml")
    read_text = Path.read_text

    def crashes_on_the_new_file(path: Path, *args: Any, **kwargs: Any) -> str:
        # The error no check of the loader foresees, from the one place files are read.
        if path == new:
            raise RecursionError("maximum recursion depth exceeded")
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", crashes_on_the_new_file)
    assert reloader.check() is False
    assert rt.rules is good
    assert state(rt).last_error == (
        "loading crashed (RecursionError: maximum recursion depth exceeded); see the log"
    )
    logged = caplog.text.count("loading crashed")
    assert logged > 0
    reloader.check()  # the same version is not tried (nor logged) again
    assert caplog.text.count("loading crashed") == logged


def test_two_workers_rejecting_at_once_both_count(
    make_runtime: RuntimeFactory, rules_dir: Path
) -> None:
    # Each read the row, then wrote its count + 1: on SQLite the read locked nothing,
    # and the second writer's count overwrote the first's.
    first = make_runtime(rules={"path": str(rules_dir)})
    second = make_runtime(rules={"path": str(rules_dir)})
    ours, theirs = RuleReloader(first), RuleReloader(second)
    ours.check()
    theirs.check()
    write(rules_dir, "name: broken\nmatch: {label: negatve}\nthen: {tag: [x]}\n", "40-bad.yaml")
    other: list[threading.Thread] = []

    def at_the_read(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if other or not statement.lstrip().upper().startswith("SELECT"):
            return
        if "source_state" in statement:
            other.append(threading.Thread(target=theirs.check))
            other[0].start()
            other[0].join(timeout=0.5)  # a locked read makes it wait for our commit

    event.listen(first.engine, "after_cursor_execute", at_the_read)
    try:
        ours.check()
    finally:
        event.remove(first.engine, "after_cursor_execute", at_the_read)
    other[0].join(timeout=30)
    assert state(first).consecutive_failures == 2


def _unreachable() -> Any:
    from sqlalchemy import create_engine

    return create_engine("sqlite:////nonexistent-dir/never.db")


def test_a_reload_the_database_missed_is_reported_once_it_is_back(
    make_runtime: RuntimeFactory, rules_dir: Path
) -> None:
    """A reload (good or rejected) while the database is away is stored when it is back:
    `rules status` named the old version, or no rejection, until the next change."""
    from sqlalchemy.exc import OperationalError

    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    reloader.check()
    shipped = len(rt.rules.rules)
    working = rt.sessions.kw["bind"]

    write(rules_dir, NEW_RULE, "30-more.yaml")
    rt.sessions.configure(bind=_unreachable())
    with pytest.raises(OperationalError):
        reloader.check()
    assert len(rt.rules.rules) == shipped + 1  # running, only not stored
    rt.sessions.configure(bind=working)
    reloader.check()
    assert state(rt).details["version"] == rt.rules.version

    write(rules_dir, "name: broken\nmatch: {label: negatve}\nthen: {tag: [x]}\n", "40-bad.yaml")
    rt.sessions.configure(bind=_unreachable())
    with pytest.raises(OperationalError):
        reloader.check()
    rt.sessions.configure(bind=working)
    reloader.check()
    row = state(rt)
    assert row.details["rejected_version"] not in (None, rt.rules.version)
    assert "'negatve'" in (row.last_error or "")
    assert row.consecutive_failures == 1


def test_a_rule_file_replaced_by_a_folder_is_rejected_not_dropped(
    make_runtime: RuntimeFactory, rules_dir: Path
) -> None:
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    good = rt.rules
    care = rules_dir / "20-care.yaml"
    text = care.read_text(encoding="utf-8")
    care.unlink()
    care.mkdir()  # a bad checkout or copy: its rules were silently no longer run
    (care / "20-care.yaml").write_text(text, encoding="utf-8")
    reloader.check()
    assert rt.rules is good
    assert state(rt).last_error == f"{care}:1:1: cannot read the file: Is a directory"


def test_an_unreadable_file_in_the_rules_folder_neither_stops_reloads_nor_crashes(
    make_runtime: RuntimeFactory, rules_dir: Path
) -> None:
    """The version hash read every file outside the reload's error handling: a file it
    could not read (a root-owned copy, one deleted while the folder was hashed) failed
    the reload job with a traceback every 30 s, and no edit was loaded again. Staged
    with a link to /proc/self/mem, a file whose reading fails even for root."""
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    (rules_dir / "notes.txt").symlink_to("/proc/self/mem")  # not a rule file: no matter
    write(rules_dir, NEW_RULE, "30-more.yaml")
    assert reloader.check() is False
    assert "shipping-question" in {r.name for r in rt.rules.rules}
    good = rt.rules
    bad = rules_dir / "40-bad.yaml"
    bad.symlink_to("/proc/self/mem")  # a rule file: rejected, the running rules stay
    reloader.check()
    assert rt.rules is good
    assert state(rt).last_error == f"{bad}:1:1: cannot read the file: Input/output error"


def test_a_file_name_that_is_not_utf8_neither_stops_reloads_nor_the_start(
    make_runtime: RuntimeFactory, rules_dir: Path, tmp_path: Path, db_url: str
) -> None:
    """The version hash encoded each name as UTF-8: one file named in Latin-1 anywhere
    in the folder (`café.txt` unpacked from an old archive) made `run` and
    `check-config` end in a traceback, and the reload job fail every 30 s."""
    (rules_dir / "lists" / os.fsdecode(b"caf\xe9.txt")).write_text("someone\n", encoding="utf-8")
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    config = write(
        tmp_path,
        f"brand: {{name: Acme}}\ndatabase: {{url: '{db_url}'}}\nrules: {{path: rules}}\n",
        "inchannel.yaml",
    )
    runner = CliRunner()
    write(rules_dir, NEW_RULE, "30-more.yaml")
    assert reloader.check() is False
    assert "shipping-question" in {r.name for r in rt.rules.rules}
    good = rt.rules
    write(rules_dir, "name: [oops\n", os.fsdecode(b"40-caf\xe9.yaml"))
    reloader.check()
    assert rt.rules is good
    assert state(rt).details["rejected_version"] not in (None, good.version)
    result = runner.invoke(main, ["rules", "status", "--config", str(config)])
    assert result.exit_code == 1, result.output
    assert "40-caf" in result.stdout


def test_a_huge_file_in_the_rules_folder_is_not_read_whole_at_every_check(
    rules_dir: Path,
) -> None:
    """The version hash read every file of the folder into memory every 30 s, twice
    over: a data export or a disk image left in `lists/` (the loader refuses anything
    over 10 MB unread) held gigabytes at every check, until the daemon was killed."""
    import tracemalloc

    from monitor.rules.loader import rules_version

    big = rules_dir / "lists" / "export.csv"
    with big.open("wb") as handle:
        handle.truncate(200_000_000)  # sparse: nothing is written to the disk
    tracemalloc.start()
    try:
        version = rules_version(rules_dir)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30_000_000
    with big.open("r+b") as handle:
        handle.truncate(200_000_001)  # its size is still what the load would report
    assert rules_version(rules_dir) != version


def test_a_commit_landing_while_the_rules_are_read_never_runs_half_of_it(
    make_runtime: RuntimeFactory, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `git pull` moving a rule from one file to another landed between the reads of
    the two files: the reload read the old file without it and the new file without
    it, and ran without the rule (a block list, say) until the next check; the other
    way round it read the rule twice and stored a 'duplicate rule name' nobody wrote."""
    one, two = rules_dir / "30-one.yaml", rules_dir / "40-two.yaml"
    blocked = "name: ignore-troll\nmatch: {author: {handle: troll}}\nthen: {ignore: true}\n"
    other = "name: other\nmatch: {text: other}\nthen: {tag: [other]}\n"
    write(rules_dir, other, one.name)
    write(rules_dir, blocked + "---\n" + other.replace("other", "more"), two.name)
    rt = make_runtime(rules={"path": str(rules_dir)})
    reloader = RuleReloader(rt)
    reloader.check()
    assert "ignore-troll" in {r.name for r in rt.rules.rules}
    write(rules_dir, NEW_RULE, "50-new.yaml")  # a change, so the next check loads
    read_text = Path.read_text
    landed: list[Path] = []

    def the_pull_lands_after_reading(path: Path, *args: Any, **kwargs: Any) -> str:
        text = read_text(path, *args, **kwargs)
        if path == one and not landed:  # the rule moves from 40-two to 30-one
            landed.append(write(rules_dir, other + "---\n" + blocked, one.name))
            write(rules_dir, other.replace("other", "more"), two.name)
        return text

    monkeypatch.setattr(Path, "read_text", the_pull_lands_after_reading)
    reloader.check()
    monkeypatch.setattr(Path, "read_text", read_text)
    assert landed
    names = {r.name for r in rt.rules.rules}
    assert "ignore-troll" in names
    assert "shipping-question" in names
    assert state(rt).last_error is None
