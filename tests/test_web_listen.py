"""A dashboard that cannot listen stops the command before it starts work: the demo
daemon went on without one, after printing a sign-in line for an address some other
program held (where the demo password would then be typed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.web.server import CannotListen, listen
from tests.conftest import demo_copy


def busy_port() -> socket.socket:
    """A port another program holds (the test's own listening socket)."""
    return socket.create_server(("127.0.0.1", 0))


def demo_on(tmp_path: Path, port: int) -> Path:
    config = demo_copy(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("port: 8000", f"port: {port}"), encoding="utf-8")
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return config


def test_run_refuses_to_start_when_the_dashboard_port_is_taken(tmp_path: Path) -> None:
    with busy_port() as holder:
        port = holder.getsockname()[1]
        config = demo_on(tmp_path, port)
        # A process of its own: before the fix the daemon ran on for ever.
        done = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
    assert done.returncode == 1, done.stderr
    assert f"error: the dashboard cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "password" not in done.stderr
    assert "daemon started" not in done.stderr


def test_serve_says_why_it_cannot_listen(tmp_path: Path) -> None:
    with busy_port() as holder:
        port = holder.getsockname()[1]
        config = demo_on(tmp_path, port)
        result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert f"error: the dashboard cannot listen on 127.0.0.1:{port}" in result.output
    assert "password" not in result.output


def test_run_says_why_when_its_metrics_port_is_taken(tmp_path: Path) -> None:
    # Two workers on one host from one config: the second's metrics.port is the first's.
    with busy_port() as holder:
        port = holder.getsockname()[1]
        config = demo_on(tmp_path, 8000)
        with config.open("a", encoding="utf-8") as out:
            out.write(f"\nmetrics: {{port: {port}, host: 127.0.0.1}}\n")
        done = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "run", "--no-serve", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
    assert done.returncode == 1, done.stderr
    assert f"error: metrics.port: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    assert "daemon started" not in done.stderr


def test_the_dashboard_says_why_it_cannot_listen_on_a_host_that_does_not_resolve() -> None:
    # A typo in web.host: the lookup's error number is negative (a gaierror), which
    # os.strerror read as "Unknown error -2"; its own text is the reason, said once.
    with pytest.raises(CannotListen) as refused:
        listen("no-such-host.invalid", 8123)
    message = str(refused.value)
    assert message.startswith("the dashboard cannot listen on no-such-host.invalid:8123: ")
    assert "Unknown error" not in message
    assert "while attempting to bind" not in message  # the address is not repeated


def test_the_dashboard_names_a_taken_port_once() -> None:
    with busy_port() as holder:
        port = holder.getsockname()[1]
        with pytest.raises(CannotListen) as refused:
            listen("127.0.0.1", port)
    assert str(refused.value) == (
        f"the dashboard cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another program has this port: set web.port in the config to another)"
    )


def test_serve_on_a_taken_port_names_the_setting_that_changes_it(tmp_path: Path) -> None:
    # `make run` with something else on 8000: the error gave no word of web.port.
    with busy_port() as holder:
        port = holder.getsockname()[1]
        config = demo_on(tmp_path, port)
        result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: the dashboard cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another program has this port: set web.port in the config to another)\n"
    )
