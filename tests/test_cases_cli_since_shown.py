"""`inchannel cases` and the case page's "since your page was shown" checks: `cases show`
prints the counts, and reply, approve, resolve and spam given them refuse (exit 1) when
a colleague answered or the customer wrote again since."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import main
from tests.test_cases_cli import cli, db, listed


def shown_counts(config: Path, ref: str) -> list[str]:
    """The options `cases show` prints to pass back: ["--replies", "N", "--messages", "M"]."""
    code, output = cli("cases", "show", ref, config=config)
    assert code == 0, output
    found = re.search(r"--replies (\d+) --messages (\d+)\)", output)
    assert found, output
    return ["--replies", found[1], "--messages", found[2]]


def case_id(ref: str) -> int:
    return int(ref.split("-")[1]) - 1000


def write_again(config: Path, ref: str, text: str) -> None:
    """The case's customer writes once more in the thread, ingested by `run --once`."""
    with db(config) as conn:
        (external_id,) = conn.execute(
            "SELECT external_id FROM messages WHERE case_id = ? AND direction = 'inbound' "
            "ORDER BY created_at DESC, id DESC LIMIT 1",
            (case_id(ref),),
        ).fetchone()
    samples = config.parent / "samples" / "mentions.jsonl"
    lines = samples.read_text(encoding="utf-8").splitlines()
    last = next(json.loads(line) for line in lines if json.loads(line)["id"] == external_id)
    again = last | {
        "id": f"{external_id}9",
        "text": text,
        "created_at": "2026-11-20T23:59:00Z",
        "in_reply_to": external_id,
    }
    with samples.open("a", encoding="utf-8") as out:
        out.write(json.dumps(again) + "\n")
    code, output = cli("run", "--once", config=config)
    assert code == 0, output


def replies_of(config: Path, ref: str) -> list[tuple[str, str]]:
    with db(config) as conn:
        return conn.execute(
            "SELECT actor, text FROM actions WHERE case_id = ? AND kind = 'reply' "
            "AND status IN ('pending', 'sending', 'sent', 'failed', 'dead') ORDER BY id",
            (case_id(ref),),
        ).fetchall()


def x_case(config: Path) -> str:
    return str(next(r for r in listed(config) if r["platform"] == "x")["ref"])


def test_a_reply_after_a_colleagues_answer_is_refused_with_the_counts_shown(demo: Path) -> None:
    ref = x_case(demo)
    counts = shown_counts(demo, ref)
    code, output = cli("cases", "reply", ref, "On it, Jane.", "--as", "maria", config=demo)
    assert code == 0, output
    code, output = cli(
        "cases", "reply", ref, "Sorted: a new one ships today.", "--as", "ana", *counts, config=demo
    )
    assert code == 1
    assert output.strip() == (
        f"error: {ref} was answered by maria after what you saw (--replies {counts[1]}); "
        f"your reply was not posted (read it with `inchannel cases show {ref}`, then reply "
        "again with its counts)"
    )
    assert [actor for actor, _ in replies_of(demo, ref)].count("ana") == 0
    # Repeated by the same person (a script after a timeout): queued once, no error.
    code, output = cli("cases", "reply", ref, "On it, Jane.", "--as", "maria", *counts, config=demo)
    assert code == 0, output
    assert "already queued" in output
    # With the counts shown now, and without any (as before), the reply goes out.
    code, output = cli(
        "cases", "reply", ref, "A new one ships today.", "--as", "ana",
        *shown_counts(demo, ref), config=demo,
    )  # fmt: skip
    assert code == 0, output
    code, output = cli("cases", "reply", ref, "Tracking is live.", "--as", "ana", config=demo)
    assert code == 0, output
    assert [actor for actor, _ in replies_of(demo, ref)].count("ana") == 2


def test_reply_approve_and_resolve_refuse_after_the_customer_wrote_again(demo: Path) -> None:
    drafted = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    with db(demo) as conn:
        (draft,) = conn.execute(
            "SELECT id FROM actions WHERE case_id = ? AND status = 'draft'", (case_id(drafted),)
        ).fetchone()
    counts = shown_counts(demo, drafted)
    write_again(demo, drafted, "@acme hello?? also the second one is broken now")
    after = f"after the {counts[3]} message{'' if counts[3] == '1' else 's'} you saw"
    for args, refused in (
        (("reply", drafted, "Thanks!", *counts), "your reply was not posted"),
        (
            ("approve", drafted, "--draft", str(draft), "--messages", counts[3]),
            "the draft was not approved",
        ),
        (("resolve", drafted, "--messages", counts[3]), "it was not resolved"),
    ):
        code, output = cli("cases", *args, config=demo)
        assert code == 1, (args, output)
        assert output.startswith("error: "), output
        assert f"wrote to {drafted} again at " in output, output
        assert f"{after} (--messages {counts[3]}); {refused} (read it with " in output, output
    assert replies_of(demo, drafted) == []
    with db(demo) as conn:
        (state,) = conn.execute(
            "SELECT state FROM cases WHERE id = ?", (case_id(drafted),)
        ).fetchone()
        (status,) = conn.execute("SELECT status FROM actions WHERE id = ?", (draft,)).fetchone()
    assert state != "resolved"
    assert status == "draft"
    # Read again, the new counts let it through.
    fresh = shown_counts(demo, drafted)
    assert fresh[3] == str(int(counts[3]) + 1)
    code, output = cli("cases", "resolve", drafted, "--messages", fresh[3], config=demo)
    assert code == 0, output


def test_spam_refuses_to_withdraw_a_reply_queued_since(demo: Path) -> None:
    ref = x_case(demo)
    counts = shown_counts(demo, ref)
    assert cli("cases", "reply", ref, "On it, Jane.", "--as", "maria", config=demo)[0] == 0
    code, output = cli("cases", "spam", ref, "--replies", counts[1], config=demo)
    assert code == 1
    assert "was answered by maria after what you saw " in output
    assert "it was not marked as spam (that would withdraw 1 reply not posted yet: " in output
    assert replies_of(demo, ref) == [("maria", "On it, Jane.")]


def test_a_reply_after_a_withdrawal_and_a_colleagues_answer_is_refused(demo: Path) -> None:
    # `cases show` listed 1 pending reply; the spam mark withdrew it (taken back at once),
    # and maria answered: the case had 1 reply again, so the --replies check compared 1
    # with 1 and let ana's reply, written without seeing maria's, go out beside it.
    ref = x_case(demo)
    assert cli("cases", "reply", ref, "On it, Jane.", "--as", "lena", config=demo)[0] == 0
    counts = shown_counts(demo, ref)
    assert cli("cases", "spam", ref, config=demo)[0] == 0
    assert cli("cases", "tag", ref, "--remove", "spam", config=demo)[0] == 0
    code, output = cli("cases", "reply", ref, "Refund sent.", "--as", "maria", config=demo)
    assert code == 0, output
    code, output = cli("cases", "reply", ref, "Checking now.", "--as", "ana", *counts, config=demo)
    assert code == 1
    assert f"error: {ref} was answered by maria after what you saw (--replies " in output
    assert replies_of(demo, ref) == [("maria", "Refund sent.")]
    # The withdrawn reply is not listed as one, but it keeps its place in --replies.
    code, output = cli("cases", "show", ref, config=demo)
    assert "Shown: 1 reply, " in output
    fresh = shown_counts(demo, ref)
    assert int(fresh[1]) == int(counts[1]) + 1
    # More than the case has is refused, not taken as "nothing since".
    too_many = str(int(fresh[1]) + 1)
    code, output = cli(
        "cases", "reply", ref, "Checking now.", "--as", "ana", "--replies", too_many, config=demo
    )
    assert code == 1
    assert f"replies must be at most {fresh[1]}, {ref}'s count now" in output
    code, output = cli("cases", "reply", ref, "Checking now.", "--as", "ana", *fresh, config=demo)
    assert code == 0, output


def test_show_marks_a_message_it_cuts(demo: Path) -> None:
    ref = x_case(demo)
    with db(demo) as conn:
        conn.execute(
            "UPDATE messages SET text = ? WHERE case_id = ? AND direction = 'inbound'",
            ("@acme " + "late " * 999 + "END", case_id(ref)),
        )
    result = CliRunner().invoke(main, ["cases", "show", ref, "--config", str(demo)])
    assert result.exit_code == 0, result.output
    assert "[... cut: 2,000 of 5,004 characters shown]" in result.output
    assert "END" not in result.output
