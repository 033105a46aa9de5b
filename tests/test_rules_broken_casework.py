"""A broken rule file stops the daemon, not the people: `serve`, `cases` and `users`
start, and only what needs the rules (knowledge-base answers) is refused, with the reason.
`run` and `check-config` still exit 2, and so does every command on a broken config file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from markupsafe import escape

from monitor.cli import main
from monitor.clock import FakeClock
from monitor.rules.reload import RuleReloader
from monitor.runtime import Runtime, build_runtime
from monitor.settings import load_settings
from tests.conftest import REPO, demo_copy
from tests.webkit import PASSWORD, client_for

BAD_FILE = "90-bad.yaml"


def cli(*args: str, config: Path, text: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args[:2], "--config", str(config), *args[2:]], input=text)
    return result.exit_code, result.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo config with cases from one cycle and a dashboard user, rules still good."""
    path = demo_copy(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("port: 8000", f"port: {free_port()}"), encoding="utf-8")
    assert cli("db", "upgrade", config=path)[0] == 0
    assert cli("run", "--once", config=path)[0] == 0
    add = ("users", "add", "lena", "--role", "lead")
    assert cli(*add, config=path, text=f"{PASSWORD}\n{PASSWORD}\n")[0] == 0
    return path


def break_rules(config: Path) -> str:
    """Add a rule file that does not parse; returns its error line as check-config prints it."""
    (config.parent / "rules" / BAD_FILE).write_text("name: [oops\n", encoding="utf-8")
    code, output = cli("check-config", config=config)
    assert code == 2
    problem = output.splitlines()[0]
    assert problem.startswith(f"{config.parent / 'rules' / BAD_FILE}:2:1: invalid YAML")
    return problem


def open_refs(config: Path) -> list[str]:
    code, output = cli("cases", "list", "--json", config=config)
    assert code == 0, output
    return [str(json.loads(line)["ref"]) for line in output.splitlines()]


def test_cases_can_be_worked_while_a_rule_file_is_broken(demo: Path) -> None:
    problem = break_rules(demo)
    refs = open_refs(demo)
    assert refs
    ref = refs[0]
    code, output = cli("cases", "show", ref, config=demo)
    assert code == 0, output
    assert cli("cases", "note", ref, "rules are down, answering by hand", config=demo)[0] == 0
    code, output = cli("cases", "reply", ref, "Sorry about that, it ships today.", config=demo)
    assert (code, output.strip()) == (0, f"{ref}: reply queued as action {output.split()[-1]}")
    # The knowledge base is loaded with the rules: only this reply is refused, and why.
    code, output = cli("cases", "reply", ref, "--answer", "shipping-countries", config=demo)
    refused = f"error: knowledge-base answers are unavailable: {problem}"
    assert (code, output.strip()) == (1, refused)
    assert cli("cases", "resolve", ref, config=demo)[0] == 0


def test_users_can_be_managed_while_a_rule_file_is_broken(demo: Path) -> None:
    break_rules(demo)
    code, output = cli("users", "add", "sam", "--role", "agent", "--team", "care", config=demo,
                       text="another horse battery\nanother horse battery\n")  # fmt: skip
    assert code == 0, output
    code, output = cli("users", "list", config=demo)
    assert code == 0, output
    assert output.splitlines() == ["lena\tlead\t-\tok", "sam\tagent\tcare\tok"]


def test_run_and_check_config_still_refuse_broken_rules(demo: Path) -> None:
    problem = break_rules(demo)
    code, output = cli("run", "--once", config=demo)
    assert code == 2
    assert output.splitlines()[0] == problem


def test_a_broken_config_file_still_stops_every_command(demo: Path) -> None:
    demo.write_text(demo.read_text(encoding="utf-8") + "\nbogus_key: 1\n", encoding="utf-8")
    for command in (("cases", "list"), ("users", "list"), ("serve",)):
        code, output = cli(*command, config=demo)
        assert code == 2, (command, output)
        assert "bogus_key" in output


def dashboard(config: Path) -> Runtime:
    """The runtime `inchannel serve` builds (its app is create_app's, as in client_for)."""
    return build_runtime(load_settings(config), rules_optional=True)


def test_the_dashboard_serves_the_queue_and_says_the_rules_are_broken(demo: Path) -> None:
    problem = str(escape(break_rules(demo)))  # as the page shows it
    rt = dashboard(demo)
    client, _ = client_for(rt, "lena")
    page = client.get("/")
    assert page.status_code == 200
    refs = open_refs(demo)
    assert all(ref in page.text for ref in refs[:10])
    assert (
        "The rule files did not load when this dashboard started: "
        f"{problem}. Cases can be worked as usual" in page.text
    )
    assert "The daemon rejected" not in page.text  # no daemon has seen the broken file
    case = client.get(f"/cases/{refs[0]}")
    assert case.status_code == 200
    assert f"Knowledge-base answers are unavailable: {problem}</p>" in case.text
    assert "Start from an answer" not in case.text
    picked = client.get(f"/cases/{refs[0]}", params={"answer": "shipping-countries"})
    assert picked.status_code == 400
    assert f"knowledge-base answers are unavailable: {problem}" in picked.text
    rt.engine.dispose()


def test_the_dashboard_loads_the_rules_once_they_are_fixed(demo: Path) -> None:
    break_rules(demo)
    clock = FakeClock()
    rt = build_runtime(load_settings(demo), rules_optional=True, clock=clock)
    client, _ = client_for(rt, "lena")
    assert "did not load when this dashboard started" in client.get("/").text
    (demo.parent / "rules" / BAD_FILE).unlink()
    clock.advance(seconds=31)  # the dashboard looks at the files at most every 30 s
    assert "did not load" not in client.get("/").text
    assert rt.rules is not None
    assert rt.rules_error is None
    case = client.get(f"/cases/{open_refs(demo)[0]}")
    assert "Start from an answer" in case.text
    rt.engine.dispose()


def test_the_queue_shows_the_daemons_rejected_reload(demo: Path) -> None:
    # The dashboard started while the rules were good; then a broken commit reached the
    # daemon, which keeps its last good rules and stores the error in the database.
    rt, daemon = (build_runtime(load_settings(demo)) for _ in range(2))
    reloader = RuleReloader(daemon)
    reloader.check()
    client, _ = client_for(rt, "lena")
    assert "rules-broken" not in client.get("/").text
    problem = str(escape(break_rules(demo)))
    reloader.check()
    page = client.get("/").text
    notice = f"The daemon rejected the changed rule files and runs its last good rules: {problem}"
    assert notice in page
    assert "did not load when this dashboard started" not in page
    assert "Start from an answer" in client.get(f"/cases/{open_refs(demo)[0]}").text
    for built in (rt, daemon):
        built.engine.dispose()


def test_serve_starts_with_a_warning_naming_the_broken_file(demo: Path, tmp_path: Path) -> None:
    problem = break_rules(demo)
    log = tmp_path / "serve.log"
    port = load_settings(demo).web.port
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        serving = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "serve", "--config", str(demo)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", serving, log)
    finally:
        serving.terminate()
        serving.wait(timeout=30)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert f"warning: rules not loaded, serving without them: {problem}" in lines


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                assert answer.status == 200
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"serve did not answer on {url}:\n{log.read_text()}")


def test_a_broken_rule_file_whose_name_is_not_utf8_still_shows_the_queue(demo: Path) -> None:
    # The name's byte 0xe9 is a lone surrogate in Python's str: quoted on the page, the
    # queue and every case page failed to encode as UTF-8, a 500 for everybody.
    bad = demo.parent / "rules" / os.fsdecode(b"90-caf\xe9.yaml")
    bad.write_text("name: [oops\n", encoding="utf-8")
    rt = dashboard(demo)
    client, _ = client_for(rt, "lena")
    page = client.get("/")
    assert page.status_code == 200
    assert "The rule files did not load when this dashboard started: " in page.text
    assert "90-caf\ufffd.yaml" in page.text
    case = client.get(f"/cases/{open_refs(demo)[0]}")
    assert case.status_code == 200
    rt.engine.dispose()
