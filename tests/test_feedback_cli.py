"""``inchannel feedback``: people's sentiment corrections, scored again with today's config."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from monitor import triage
from monitor.cli import main
from monitor.runtime import build_runtime
from monitor.settings import load_settings
from monitor.store.models import Message, case_ref
from tests.conftest import demo_copy

OK = "u/acme_official ok"
THANKS = "@acme thanks for sorting out my return so quickly, really great service!"


def cli(*args: str, config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--config", str(config)])
    return result.exit_code, result.output


def correct(config: Path, text: str, label: str) -> None:
    rt = build_runtime(load_settings(config))
    with rt.sessions() as session:
        message = session.scalars(select(Message).where(Message.text == text)).one()
    triage.correct_sentiment(rt, case_ref(message.case_id), message.id, label, user="lena")
    rt.engine.dispose()


def records(config: Path, *options: str) -> list[dict[str, object]]:
    code, output = cli("feedback", "--json", *options, config=config)
    assert code == 0, output
    return [json.loads(line) for line in output.splitlines()]


def test_corrections_are_scored_again_with_the_configs_lexicon(demo: Path) -> None:
    # VADER reads "ok" as praise (+0.30); a person sets it right.
    correct(demo, OK, "positive")  # a slip, changed a moment later:
    correct(demo, OK, "neutral")  # the latest correction is the one that counts
    correct(demo, THANKS, "positive")
    found = records(demo)
    assert [(r["text"], r["scored_label"], r["corrected_label"]) for r in found] == [
        (OK, "positive", "neutral"),
        (THANKS, "positive", "positive"),
    ]
    assert [r["label_now"] for r in found] == ["positive", "positive"]
    assert [r["text"] for r in records(demo, "--wrong")] == [OK]
    code, table = cli("feedback", config=demo)
    assert code == 0
    assert "2 correction(s): the scorer agreed with 1 when they were made, and agrees with 1" in (
        table.replace("\n", " ")
    )
    # Whoever tunes the overlay sees at once what the change fixes.
    text = demo.read_text(encoding="utf-8")
    tuned = text.replace(
        "  negative_threshold: -0.05\n",
        "  negative_threshold: -0.05\n  lexicon:\n    ok: 0\n",
    )
    demo.write_text(tuned, encoding="utf-8")
    # No sentiment word left: unscored, which is what the person's "neutral" means.
    assert [r["label_now"] for r in records(demo)] == ["unscored", "positive"]
    assert [r["compound_now"] is None for r in records(demo)] == [True, False]
    code, table = cli("feedback", config=demo)
    assert code == 0, table
    assert "+0.0000" not in table  # no score to show, not a neutral one
    assert records(demo, "--wrong") == []


def test_no_corrections_and_since(demo: Path) -> None:
    code, output = cli("feedback", config=demo)
    assert code == 0
    assert "0 correction(s)" in output
    correct(demo, OK, "neutral")
    assert records(demo, "--since", "2999-01-01") == []
    assert len(records(demo, "--since", "2000-01-01")) == 1


def test_since_reads_dates_as_backfill_does(demo: Path) -> None:
    # `feedback --json` writes `at` with an offset and the APIs write `Z`; pasted back
    # into --since, both were refused ("does not match the formats"), which
    # `backfill --since` takes.
    correct(demo, OK, "neutral")
    (found,) = records(demo)
    at = str(found["at"])
    assert at.endswith("+00:00")
    assert len(records(demo, "--since", at)) == 1
    assert len(records(demo, "--since", "2000-01-01T00:00:00Z")) == 1
    assert records(demo, "--since", "2999-01-01T09:00+01:00") == []


def test_a_date_it_cannot_read_is_a_usage_error(demo: Path) -> None:
    code, output = cli("feedback", "--since", "last tuesday", config=demo)
    assert code == 2
    assert "Invalid value for '--since': 'last tuesday' is not a date: use 2026-11-01" in output


def test_a_message_the_platform_called_non_english_stays_unscored(tmp_path: Path) -> None:
    # X tagged it German; the daemon left it unscored. Re-scored without that language,
    # the gate would read English sentiment words and the person's label would look wrong.
    text = "@acme Lieferung: terrible, horrible, awful!"
    config = demo_copy(tmp_path)
    feed = config.parent / "samples" / "mentions.jsonl"
    row = {**json.loads(feed.read_text(encoding="utf-8").splitlines()[0]), "lang": "de"}
    row.update(id="1859000000000000999", conversation_id="1859000000000000999", text=text)
    with feed.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
    for command in (["db", "upgrade"], ["run", "--once"]):
        code, output = cli(*command, config=config)
        assert code == 0, output
    correct(config, text, "negative")
    found = records(config)
    assert [(r["scored_label"], r["label_now"]) for r in found] == [("unscored", "unscored")]
    assert found[0]["compound_now"] is None  # no reading, not a neutral 0.0


def test_json_lines_stay_one_record_a_line_whatever_the_customer_wrote(tmp_path: Path) -> None:
    # U+2028 and U+2029 are valid raw inside a JSON string, but Python's splitlines()
    # (and many line readers) end a line at them: one record came out as two halves,
    # neither of them JSON.
    text = "@acme refund?\u2028{not json}\u2029 please"
    config = demo_copy(tmp_path)
    feed = config.parent / "samples" / "mentions.jsonl"
    row = json.loads(feed.read_text(encoding="utf-8").splitlines()[0])
    row.update(id="1859000000000000998", conversation_id="1859000000000000998", text=text)
    with feed.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
    for command in (["db", "upgrade"], ["run", "--once"]):
        code, output = cli(*command, config=config)
        assert code == 0, output
    correct(config, text, "negative")
    code, output = cli("feedback", "--json", config=config)
    assert code == 0, output
    assert not {"\u2028", "\u2029"} & set(output)
    assert [r["text"] for r in records(config)] == [text]  # escaped, read back as written
