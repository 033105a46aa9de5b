"""`inchannel status`: what is unhealthy, and the exit code health checks rely on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import main
from monitor.pipeline import poll_source, process_pending
from monitor.status import collect
from tests.conftest import REPO, RuntimeFactory, mention


def test_healthy_after_a_clean_cycle(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    status = collect(rt)
    assert status.healthy
    assert [s.name for s in status.sources] == ["feed"]
    assert status.sources[0].items_total == 1


def test_failing_source_and_backlog_are_unhealthy(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    broken = [{"name": "feed", "type": "replay", "path": str(tmp_path / "missing.jsonl")}]
    rt = make_runtime(sources=broken)
    for _ in range(3):
        poll_source(rt, "feed")
        rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    status = collect(rt)
    assert not status.healthy
    assert status.problems[0].startswith("source feed: 3 failed polls in a row: cannot read")


def test_outbox_backlog_is_unhealthy(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme the site is down")])
    poll_source(rt, "feed")
    process_pending(rt)  # queued, never dispatched
    rt.clock.advance(minutes=16)  # type: ignore[attr-defined]
    assert collect(rt).problems == ["outbox: an action has been due for 16 min"]


def test_status_command_exit_codes(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    path = config / "inchannel.yaml"
    text = path.read_text(encoding="utf-8").replace("sqlite:///var/", f"sqlite:///{tmp_path}/")
    path.write_text(text, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(path)]).exit_code == 0
    assert runner.invoke(main, ["run", "--once", "--config", str(path)]).exit_code == 0
    result = runner.invoke(main, ["status", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["healthy"] is True
    assert document["sources"][0]["lease_owner"] is None  # --once released its lease
    assert document["outbox"]["sent"] > 0
