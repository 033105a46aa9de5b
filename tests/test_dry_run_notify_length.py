"""Under --dry-run a notification is recorded as its channel would get it: cut to the
channel's ``max_chars`` (an SMS gateway's 160), as the real notifier cuts it, so a dry
run shows what the on-call phone would read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.domain import NOTIFY_CHARS, Action, ActionKind
from monitor.notifications import fit
from monitor.runtime import build_notifier
from tests.conftest import RuntimeFactory

TEXT = "\n".join(
    [
        "[high] C-1042 escalated: negative mention",
        "x · @jane_doe",
        "my order is late and nobody answers, " + "this is terrible " * 80,
        "http://127.0.0.1:8000/cases/C-1042",
    ]
)


def _alert(channel: str, action_id: int) -> Action:
    return Action(
        id=action_id,
        kind=ActionKind.NOTIFY,
        platform=None,
        case_ref="C-1042",
        target_external_id=channel,
        conversation_id="",
        text=TEXT,
        idempotency_key=f"notify:{channel}:{action_id}",
        channel=channel,
    )


def test_a_dry_run_records_a_notification_cut_to_its_channel(
    make_runtime: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels = {
        "oncall-sms": {"url": "json://127.0.0.1:9/sms", "max_chars": 160},
        "care-chat": {"url": "json://127.0.0.1:9/chat"},
    }
    rt = make_runtime(channels=channels)
    monkeypatch.chdir(tmp_path)  # the dry run records to var/recorded-posts.jsonl here
    notifier = build_notifier(rt.settings, dry_run=True)
    sms, chat = _alert("oncall-sms", 1), _alert("care-chat", 2)
    notifier.send(sms)
    notifier.send(chat)
    lines = (tmp_path / "var" / "recorded-posts.jsonl").read_text(encoding="utf-8").splitlines()
    recorded = {r["in_reply_to"]: r["text"] for r in map(json.loads, lines)}
    assert recorded["oncall-sms"] == fit(TEXT, 160)
    assert len(recorded["oncall-sms"]) <= 160
    assert recorded["oncall-sms"].endswith("\nhttp://127.0.0.1:8000/cases/C-1042")
    assert recorded["care-chat"] == fit(TEXT, NOTIFY_CHARS)
    # A retry after a crash finds the notification recorded, cut as it is: not twice.
    assert notifier.find_own_reply(sms) is not None
