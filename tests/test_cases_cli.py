"""`inchannel cases ...` over the demo data: every command, and its errors."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from monitor.cli import main
from monitor.store.scratch import scratch_postgres
from tests.conftest import PG_ADMIN_URL, PG_OK, demo_copy


def cli(*args: str, config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args[:2], "--config", str(config), *args[2:]])
    return result.exit_code, result.output


def listed(config: Path, *extra: str) -> list[dict[str, object]]:
    code, output = cli("cases", "list", "--json", *extra, config=config)
    assert code == 0, output
    return [json.loads(line) for line in output.splitlines()]


def test_list_filters_by_state_and_team(demo: Path) -> None:
    everything = listed(demo, "--all")
    assert len(everything) >= 25
    assert cli("cases", "resolve", str(everything[0]["ref"]), config=demo)[0] == 0
    everything = listed(demo, "--all")
    states = [row["state"] for row in everything]
    assert "resolved" in states
    assert states.index("resolved") == len(states) - states.count("resolved")  # open first
    opened = listed(demo)  # the default: open cases only
    assert [r["ref"] for r in opened] == [r["ref"] for r in everything if r["state"] != "resolved"]
    waiting = listed(demo, "--status", "awaiting_approval")
    assert waiting
    assert {row["state"] for row in waiting} == {"awaiting_approval"}
    international = listed(demo, "--team", "international")
    assert international
    assert {row["team"] for row in international} == {"international"}


def test_list_of_an_unknown_team_is_an_error_not_an_empty_list(demo: Path) -> None:
    code, output = cli("cases", "list", "--team", "biling", config=demo)
    assert (code, output) == (
        1,
        "error: unknown team 'biling' (teams: care, billing, tech, international)\n",
    )
    # A team taken out of the config still lists the cases that carry it.
    database = demo.parent.parent / "inchannel.db"
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE cases SET team = 'retired' WHERE id = (SELECT min(id) FROM cases)")
    assert [row["team"] for row in listed(demo, "--all", "--team", "retired")] == ["retired"]


def test_approve_with_edit_then_the_reply_is_sent(demo: Path) -> None:
    ref = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    code, output = cli(
        "cases", "approve", ref, "--as", "lena", "--text", "Yes, we do. Thanks!", config=demo
    )
    assert code == 0, output
    assert cli("run", "--once", config=demo)[0] == 0
    code, output = cli("cases", "show", ref, config=demo)
    assert code == 0
    assert "Yes, we do. Thanks!" in output
    assert "approved" in output
    assert "lena" in output
    code, output = cli("cases", "approve", ref, config=demo)
    assert (code, output.strip()) == (1, f"error: {ref} has no draft waiting for approval")
    code, output = cli("cases", "reject", ref, "--draft", "424242", config=demo)
    assert (code, output.strip()) == (1, f"error: {ref} has no draft 424242 waiting for approval")


def test_approving_a_named_draft_again_is_no_error_and_queues_nothing_more(demo: Path) -> None:
    # A script repeating `cases approve --draft N` after a timeout: the draft is
    # approved, as asked, so exit 0 (as the API's ok: true), and it is queued once.
    ref = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    case_id = int(ref.split("-")[1]) - 1000
    database = demo.parent.parent / "inchannel.db"
    with sqlite3.connect(database) as conn:
        (draft,) = conn.execute(
            "SELECT id FROM actions WHERE case_id = ? AND status = 'draft'", (case_id,)
        ).fetchone()
    args = ("cases", "approve", ref, "--as", "lena", "--draft", str(draft))
    assert cli(*args, config=demo) == (0, f"{ref}: draft approved, action {draft} queued\n")
    code, output = cli(*args, config=demo)
    assert code == 0, output
    assert output.startswith(f"{ref}: draft {draft} of {ref} was approved already by lena at ")
    assert output.endswith("; nothing was changed\n")
    assert [kind for kind, _, _ in audit(demo, ref)].count("approved") == 1


def test_reject_draft(demo: Path) -> None:
    ref = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    assert cli("cases", "reject", ref, "--reason", "wrong tone", config=demo)[0] == 0
    assert {r["ref"] for r in listed(demo, "--status", "awaiting_human")} >= {ref}


def test_a_rejection_reason_is_bounded_as_on_the_dashboard(demo: Path) -> None:
    # The dashboard takes 500 characters; the CLI stored any length in the audit trail,
    # which the case page then showed whole.
    ref = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    code, output = cli("cases", "reject", ref, "--reason", "x" * 501, config=demo)
    assert (code, output.strip()) == (1, "error: the reason is 501 characters; at most 500")
    assert ref in {r["ref"] for r in listed(demo, "--status", "awaiting_approval")}
    assert cli("cases", "reject", ref, "--reason", "x" * 500, config=demo)[0] == 0


def test_human_reply_goes_through_the_outbox_with_platform_limits(demo: Path) -> None:
    x_case = next(r for r in listed(demo) if r["platform"] == "x")
    ref = str(x_case["ref"])
    code, output = cli("cases", "reply", ref, "x" * 281, config=demo)
    assert (code, output.strip()) == (1, "error: 281 characters: x allows 280")
    code, output = cli("cases", "reply", ref, "   ", config=demo)
    assert (code, output.strip()) == (1, "error: the reply is empty")
    code, output = cli(
        "cases", "reply", ref, "Sorted: a new one ships today.", "--as", "ana", config=demo
    )
    assert code == 0, output
    assert cli("run", "--once", config=demo)[0] == 0
    _, shown = cli("cases", "show", ref, config=demo)
    assert "Sorted: a new one ships today." in shown
    assert "sent" in shown
    # Answered, it waits on the customer: off the open list, as off the dashboard's queue.
    assert ref not in [r["ref"] for r in listed(demo)]
    assert ref in [r["ref"] for r in listed(demo, "--status", "waiting_customer")]


def test_assign_resolve_note_and_link(demo: Path) -> None:
    rows = listed(demo)
    x_ref = str(next(r for r in rows if r["platform"] == "x")["ref"])
    reddit_ref = str(next(r for r in rows if r["platform"] == "reddit")["ref"])
    assert (
        cli("users", "add", "maria", "--role", "lead", "--generate-password", config=demo)[0] == 0
    )
    # As sign-in reads the name: "Maria" is maria.
    assert cli("cases", "assign", x_ref, "Maria", config=demo) == (
        0,
        f"{x_ref}: assigned to maria\n",
    )
    assert cli("cases", "note", x_ref, "VIP, be quick", "--as", "lead", config=demo)[0] == 0
    assert cli("cases", "resolve", x_ref, config=demo)[0] == 0
    code, output = cli("cases", "link", x_ref, reddit_ref, config=demo)
    assert code == 0, output
    _, shown = cli("cases", "show", reddit_ref, config=demo)
    assert "1 linked account(s)" in shown
    assert "VIP, be quick" in shown
    resolved = listed(demo, "--status", "resolved")
    assert [r["assignee"] for r in resolved if r["ref"] == x_ref] == ["maria"]


def test_confirmations_name_the_case_as_the_dashboard_does(demo: Path) -> None:
    code, output = cli("cases", "note", " c-01001 ", "checked", "--as", "lena", config=demo)
    assert (code, output.strip()) == (0, "C-1001: note added")


def test_the_actor_name_is_bounded(demo: Path) -> None:
    code, output = cli("cases", "note", "C-1001", "checked", "--as", "a" * 65, config=demo)
    assert code == 2
    assert "Invalid value for '--as': 1 to 64 characters, not 65" in output


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("ana\x1b[2J", "'\\x1b'"),
        ("ana\x9b2J", "'\\x9b'"),
        ("ana\u202eevil", "'\\u202e'"),
        ("ana\nroot", "'\\n'"),
    ],
)
def test_an_actor_name_with_a_control_character_is_refused(
    demo: Path, name: str, shown: str
) -> None:
    # Stored as the actor in the audit trail: a bidi override reversed the name on the
    # dashboard, and ESC, C1 codes and line breaks went into every export of it.
    code, output = cli("cases", "note", "C-1001", "checked", "--as", name, config=demo)
    assert code == 2
    assert f"Invalid value for '--as': contains the unprintable character {shown}" in output
    _, shown_case = cli("cases", "show", "C-1001", config=demo)
    assert "checked" not in shown_case


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cases", "show", "C-99999"), "error: no case C-99999"),
        (("cases", "show", "1042"), "error: not a case reference: '1042' (expected C-1042)"),
        (
            ("cases", "show", "C-99999999999999999999"),
            "error: not a case reference: 'C-99999999999999999999' (expected C-1042)",
        ),
        (("cases", "show", "C-1²"), "error: not a case reference: 'C-1²' (expected C-1042)"),
        (("cases", "note", "C-1001", " "), "error: the note is empty"),
        # Cut at 5,000 characters without a word, the end of a long note was lost.
        (
            ("cases", "note", "C-1001", "x" * 5001),
            "error: the note is 5001 characters; at most 5000",
        ),
        (
            ("cases", "link", "C-1001", "C-1001"),
            "error: both cases belong to the same account already",
        ),
    ],
)
def test_errors_are_clear(demo: Path, args: tuple[str, ...], message: str) -> None:
    code, output = cli(*args, config=demo)
    assert (code, output.strip()) == (1, message)


def test_assign_names_a_user_who_may_open_the_case(demo: Path) -> None:
    ref = str(next(r for r in listed(demo) if r["team"] == "tech")["ref"])
    for name, team in (("ana", "billing"), ("tomas", "tech")):
        added = cli(
            "users",
            "add",
            name,
            "--role",
            "agent",
            "--team",
            team,
            "--generate-password",
            config=demo,
        )
        assert added[0] == 0, added[1]
    refusals = {
        "mraia": "error: no active dashboard user 'mraia' (`inchannel users list` shows them)",
        "ana": "error: ana is an agent of billing and cannot open the cases of team tech",
    }
    for name, message in refusals.items():
        code, output = cli("cases", "assign", ref, name, config=demo)
        assert (code, output.strip()) == (1, message)
    assert cli("cases", "assign", ref, "tomas", config=demo)[0] == 0
    assert [r["assignee"] for r in listed(demo) if r["ref"] == ref] == ["tomas"]


def test_deflection_guard_applies_to_people_with_an_audited_override(demo: Path) -> None:
    ref = str(next(r for r in listed(demo) if r["platform"] == "x")["ref"])
    code, output = cli("cases", "reply", ref, "Please DM us your order number", config=demo)
    assert (code, output.strip()) == (
        1,
        "error: the reply sends the customer elsewhere (private message: 'DM us'); answer in "
        "the thread, or allow the redirect explicitly",
    )
    code, output = cli(
        "cases",
        "reply",
        ref,
        "Call 0800 123 4567 for the recall",
        "--allow-redirect",
        "--as",
        "lead",
        config=demo,
    )
    assert code == 0, output
    _, shown = cli("cases", "show", ref, config=demo)
    assert "redirect_allowed" in shown
    assert "lead" in shown


def test_a_person_may_name_the_customer_but_not_another_account(demo: Path) -> None:
    row = next(r for r in listed(demo) if r["platform"] == "x")
    ref, handle = str(row["ref"]), str(row["handle"])
    code, output = cli("cases", "reply", ref, "Tweet @AcmeReturns your order number", config=demo)
    assert (code, output.strip()) == (
        1,
        "error: the reply sends the customer elsewhere (another account: '@AcmeReturns'); "
        "answer in the thread, or allow the redirect explicitly",
    )
    code, output = cli("cases", "reply", ref, f"Thanks @{handle}, it ships today", config=demo)
    assert code == 0, output


def test_a_note_the_database_cannot_take_back_is_refused(demo: Path) -> None:
    # A byte that is no UTF-8 in an argument (a Latin-1 terminal's "é") reaches Python as
    # an unpaired surrogate. The dashboard refused it; the CLI stored it in the note's
    # event, and `cases show` (and the case's page) failed for that case from then on.
    ref = str(listed(demo)[0]["ref"])
    code, output = cli("cases", "note", ref, "caf\udce9 closed", "--as", "lena", config=demo)
    assert (code, output) == (1, "error: text contains a NUL character or an unpaired surrogate\n")
    assert cli("cases", "show", ref, config=demo)[0] == 0
    drafted = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    code, output = cli("cases", "reject", drafted, "--reason", "caf\udce9", config=demo)
    assert (code, output) == (
        1,
        "error: reason contains a NUL character or an unpaired surrogate\n",
    )
    assert cli("cases", "show", drafted, config=demo)[0] == 0


HOSTILE = {
    "platform": "x",
    "id": "1859000000000000901",
    "author": "esc_guy",
    "author_id": "9901",
    # ESC starts a sequence (clear the screen, retitle the window), so does U+009B (CSI);
    # U+202E reverses what follows.
    "text": "@acme my order \x1b[2J\x1b]0;pwned\x07 broke \x9b31m red \u202eevil\nline two",
    "created_at": "2026-11-20T10:40:00Z",
    "conversation_id": "1859000000000000901",
    "in_reply_to": None,
    "url": "https://x.com/esc_guy/status/1859000000000000901",
    "author_name": "Esc",
}


def test_terminal_controls_in_mentions_never_reach_the_terminal(tmp_path: Path) -> None:
    path = demo_copy(tmp_path)
    with (path.parent / "samples" / "mentions.jsonl").open("a", encoding="utf-8") as samples:
        samples.write(json.dumps(HOSTILE) + "\n")
    assert cli("db", "upgrade", config=path)[0] == 0
    assert cli("run", "--once", config=path)[0] == 0
    ref = next(str(r["ref"]) for r in listed(path) if r["handle"] == "esc_guy")
    assert cli("cases", "note", ref, "asked \x1b[8mhidden", "--as", "lena", config=path)[0] == 0
    for args in (("cases", "show", ref), ("cases", "list")):
        code, output = cli(*args, config=path)
        assert code == 0, output
        assert not {"\x1b", "\x9b", "\u202e"} & set(output), args
        assert "\\x1b" in output, args  # shown, spelled out
    _, shown = cli("cases", "show", ref, config=path)
    assert "\\u202eevil" in shown
    assert "line two" in shown
    code, output = cli("cases", "list", "--json", config=path)
    assert code == 0
    assert not {"\x1b", "\x9b", "\u202e"} & set(output)
    row = next(json.loads(line) for line in output.splitlines() if "esc_guy" in line)
    assert "\x1b[2J" in row["first_line"]
    assert "\u202eevil" in row["first_line"]


def test_names_the_database_cannot_take_are_refused_without_a_traceback(demo: Path) -> None:
    # A Latin-1 terminal's "é" in an argument arrives as an unpaired surrogate; the
    # driver cannot encode it, and --as, an assignee and a team filter met the database
    # unchecked: a UnicodeEncodeError traceback.
    code, output = cli("cases", "resolve", "C-1001", "--as", "caf\udce9", config=demo)
    assert code == 2
    assert "Invalid value for '--as': contains a NUL character or an unpaired surrogate" in (output)
    code, output = cli(
        "users",
        "add",
        "zed",
        "--role",
        "agent",
        "--generate-password",
        "--as",
        "caf\udce9",
        config=demo,
    )
    assert code == 2
    assert "Traceback" not in output
    code, output = cli("cases", "assign", "C-1001", "caf\udce9", config=demo)
    assert (code, output) == (
        1,
        "error: no active dashboard user 'caf\\udce9' (`inchannel users list` shows them)\n",
    )
    code, output = cli("cases", "list", "--team", "caf\udce9", config=demo)
    assert (code, output) == (1, "error: team contains a NUL character or an unpaired surrogate\n")


def test_linking_customers_linked_already_changes_nothing(demo: Path) -> None:
    rows = listed(demo)
    x_ref = str(next(r for r in rows if r["platform"] == "x")["ref"])
    reddit_ref = str(next(r for r in rows if r["platform"] == "reddit")["ref"])
    code, output = cli("cases", "link", x_ref, reddit_ref, config=demo)
    assert code == 0, output
    person = output.split()[-1]
    for pair in ((x_ref, reddit_ref), (reddit_ref, x_ref)):
        code, output = cli("cases", "link", *pair, config=demo)
        assert (code, output) == (
            1,
            f"error: the customers of {pair[0]} and {pair[1]} are linked already "
            f"(person {person}); nothing was changed\n",
        )
    _, shown = cli("cases", "show", x_ref, config=demo)
    assert shown.count("│ linked") == 1  # one audit event: one change


def test_approving_with_a_blank_text_posts_nothing(demo: Path) -> None:
    # A lead who empties the draft's text meant not to post it; the draft went out as
    # drafted all the same, audited as "edited".
    ref = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    code, output = cli("cases", "approve", ref, "--text", "  ", config=demo)
    assert (code, output) == (1, "error: the edited reply is empty\n")
    assert ref in {str(r["ref"]) for r in listed(demo, "--status", "awaiting_approval")}


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_a_draft_id_too_large_for_the_database_is_no_draft(demo: Path, command: str) -> None:
    # Past BIGINT the driver raised OverflowError: a traceback instead of an error line.
    ref = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    huge = "99999999999999999999"
    code, output = cli("cases", command, ref, "--draft", huge, config=demo)
    assert (code, output) == (1, f"error: {ref} has no draft {huge} waiting for approval\n")
    assert ref in {row["ref"] for row in listed(demo, "--status", "awaiting_approval")}


def audit(config: Path, ref: str) -> list[tuple[str, str, dict[str, object]]]:
    """The case's audit events (kind, actor, detail) in order, from the database itself."""
    case_id = int(ref.split("-")[1]) - 1000
    with sqlite3.connect(config.parent.parent / "inchannel.db") as conn:
        rows = conn.execute(
            "SELECT kind, actor, detail FROM events WHERE case_id = ? ORDER BY id", (case_id,)
        ).fetchall()
    return [(kind, actor, json.loads(detail)) for kind, actor, detail in rows]


def test_priority_team_tag_and_spam_do_what_the_dashboard_does_audited(demo: Path) -> None:
    # The dashboard's triage (priority, team, tags, spam) had no CLI counterpart.
    row = next(r for r in listed(demo) if r["team"] == "care")
    ref = str(row["ref"])
    before = len(audit(demo, ref))
    steps = [
        (("priority", ref, "urgent", "--as", "lena"), f"{ref}: priority set to urgent"),
        (("team", ref, "billing", "--as", "lee"), f"{ref}: handed to team billing"),
        (
            ("tag", ref, "--add", "VIP, refund", "--add", "late", "--as", "ana"),
            f"{ref}: tags " + ", ".join([*row["tags"], "vip", "refund", "late"]),
        ),
        (("tag", ref, "--remove", "late refund", "--as", "ana"), None),
    ]
    for args, message in steps:
        code, output = cli("cases", *args, config=demo)
        assert code == 0, output
        if message is not None:
            assert output.strip() == message
    after = next(r for r in listed(demo) if r["ref"] == ref)
    assert (after["priority"], after["team"]) == ("urgent", "billing")
    assert after["tags"] == [*row["tags"], "vip"]
    events = audit(demo, ref)[before:]
    assert [(kind, actor) for kind, actor, _ in events] == [
        ("priority", "lena"),
        ("team", "lee"),
        ("tags", "ana"),
        ("tags", "ana"),
    ]
    assert events[0][2] == {"old": row["priority"], "new": "urgent"}
    assert events[1][2] == {"old": "care", "new": "billing"}


def test_spam_closes_the_case_and_withdraws_its_draft_audited(demo: Path) -> None:
    ref = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    code, output = cli("cases", "spam", ref, "--as", "ana", config=demo)
    assert (code, output.strip()) == (0, f"{ref}: marked as spam and resolved")
    row = next(r for r in listed(demo, "--all") if r["ref"] == ref)
    assert row["state"] == "resolved"
    assert "spam" in row["tags"]
    kinds = [(kind, actor) for kind, actor, _ in audit(demo, ref)]
    assert ("spam", "ana") in kinds
    assert ("state", "ana") in kinds
    code, output = cli("cases", "approve", ref, config=demo)
    assert (code, output.strip()) == (1, f"error: {ref} has no draft waiting for approval")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("priority", "C-99999", "high"), "error: no case C-99999"),
        (("team", "C-99999", "billing"), "error: no case C-99999"),
        (("tag", "C-99999", "--add", "vip"), "error: no case C-99999"),
        (("spam", "C-99999"), "error: no case C-99999"),
        (("spam", "1042"), "error: not a case reference: '1042' (expected C-1042)"),
        (
            ("priority", "C-1001", "asap"),
            "error: unknown priority 'asap' (low, normal, high, urgent)",
        ),
        (
            ("priority", "C-1001", "caf\udce9"),
            "error: unknown priority 'caf\\udce9' (low, normal, high, urgent)",
        ),
        (
            ("team", "C-1001", "biling"),
            "error: unknown team 'biling' (teams: care, billing, tech, international)",
        ),
        (
            ("team", "C-1001", "caf\udce9"),
            "error: unknown team 'caf\\udce9' (teams: care, billing, tech, international)",
        ),
        (
            ("tag", "C-1001", "--add", "vip!"),
            "error: bad tag 'vip!': up to 32 of a-z 0-9 _ -, starting with a letter or digit",
        ),
        (
            ("tag", "C-1001", "--remove", "caf\udce9"),
            "error: bad tag 'caf\\udce9': up to 32 of a-z 0-9 _ -, starting with a letter or digit",
        ),
        (
            ("tag", "C-1001", "--add", " ".join(f"t{n}" for n in range(21))),
            "error: a case takes at most 20 tags",
        ),
    ],
)
def test_triage_commands_refuse_bad_input(demo: Path, args: tuple[str, ...], message: str) -> None:
    before = audit(demo, "C-1001")
    code, output = cli("cases", *args, config=demo)
    assert (code, output.strip()) == (1, message)
    assert audit(demo, "C-1001") == before  # nothing recorded, nothing changed


def test_tag_without_add_or_remove_is_a_usage_error(demo: Path) -> None:
    code, output = cli("cases", "tag", "C-1001", config=demo)
    assert code == 2
    assert "give --add TAG or --remove TAG" in output


def db(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent.parent / "inchannel.db")


def test_sentiment_correction_from_the_cli_is_audited_feedback(demo: Path) -> None:
    # The dashboard could correct a message's sentiment; the CLI could not, and
    # `cases show` gave no message ids to name one by.
    ref = str(listed(demo)[0]["ref"])
    case_id = int(ref.split("-")[1]) - 1000
    with db(demo) as conn:
        (message_id,) = conn.execute(
            "SELECT id FROM messages WHERE case_id = ? AND direction = 'inbound' "
            "AND kind != 'own' ORDER BY id LIMIT 1",
            (case_id,),
        ).fetchone()
    code, output = cli("cases", "show", ref, config=demo)
    assert code == 0
    assert f"│ {message_id} " in output
    code, output = cli(
        "cases", "sentiment", ref, str(message_id), "negative", "--as", "ana", config=demo
    )
    assert (code, output.strip()) == (0, f"{ref}: message {message_id} recorded as negative")
    assert ("sentiment_feedback", "ana") in [(k, a) for k, a, _ in audit(demo, ref)]
    with db(demo) as conn:
        stored = conn.execute(
            "SELECT corrected_label, user FROM sentiment_feedback WHERE message_id = ?",
            (message_id,),
        ).fetchall()
    assert stored == [("negative", "ana")]


def test_a_dead_action_is_retried_from_the_cli_audited(demo: Path) -> None:
    with db(demo) as conn:
        action_id, case_id = conn.execute(
            "SELECT id, case_id FROM actions WHERE kind = 'reply' AND case_id IS NOT NULL "
            "ORDER BY id LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE actions SET status = 'dead' WHERE id = ?", (action_id,))
    ref = f"C-{1000 + case_id}"
    code, output = cli("cases", "retry", str(action_id), "--as", "ana", config=demo)
    assert (code, output.strip()) == (0, f"action {action_id} ({ref}): queued to be sent again")
    with db(demo) as conn:
        (status,) = conn.execute("SELECT status FROM actions WHERE id = ?", (action_id,)).fetchone()
    assert status == "pending"
    assert audit(demo, ref)[-1][:2] == ("retried", "ana")
    # Repeated (a script after a timeout): retried, as asked, so no error; nothing more.
    code, output = cli("cases", "retry", str(action_id), config=demo)
    assert code == 0, output
    assert output.startswith(f"action {action_id} ({ref}): action {action_id} was retried ")
    assert "already by ana at " in output
    assert [kind for kind, _, _ in audit(demo, ref)].count("retried") == 1
    with db(demo) as conn:
        conn.execute("UPDATE actions SET status = 'pending' WHERE id = ?", (action_id + 1,))
    code, output = cli("cases", "retry", str(action_id + 1), config=demo)
    assert (code, output.strip()) == (1, f"error: action {action_id + 1} is pending, not dead")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("retry", "99999"), 1, "error: no action 99999"),
        (("retry", "99999999999999999999"), 1, "error: no action 99999999999999999999"),
        (("retry", "0"), 2, "Invalid value for 'ACTION_ID': 0 is not in the range x>=1."),
        (("retry", "seven"), 2, "Invalid value for 'ACTION_ID': 'seven' is not a valid integer"),
        (("sentiment", "C-99999", "1", "negative"), 1, "error: no case C-99999"),
        (
            ("sentiment", "C-1001", "1", "angry"),
            1,
            "error: label must be one of positive, neutral, negative",
        ),
        (
            ("sentiment", "C-1001", "99999999999999999999", "negative"),
            1,
            "error: message 99999999999999999999 is not part of C-1001",
        ),
    ],
)
def test_retry_and_sentiment_refuse_bad_input(
    demo: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    before = audit(demo, "C-1001")
    got, output = cli("cases", *args, config=demo)
    assert got == code, output
    assert message in output
    assert audit(demo, "C-1001") == before


def test_setting_the_priority_a_case_has_records_nothing(demo: Path) -> None:
    # As for a team: a form sent twice wrote a second "priority" event claiming a change.
    ref = str(listed(demo)[0]["ref"])
    assert cli("cases", "priority", ref, "urgent", config=demo)[0] == 0
    before = audit(demo, ref)
    code, output = cli("cases", "priority", ref, "urgent", config=demo)
    assert (code, output.strip()) == (0, f"{ref}: priority set to urgent")
    assert audit(demo, ref) == before


def test_marking_a_spam_case_as_spam_again_records_nothing(demo: Path) -> None:
    # A form sent twice wrote a second "spam" event and said it closed the case again.
    ref = str(listed(demo)[0]["ref"])
    assert cli("cases", "spam", ref, config=demo)[0] == 0
    before = audit(demo, ref)
    code, output = cli("cases", "spam", ref, config=demo)
    assert (code, output.strip()) == (
        1,
        f"error: {ref} is marked as spam already; nothing was changed",
    )
    assert audit(demo, ref) == before


def test_list_and_show_say_their_times_are_utc(demo: Path) -> None:
    # The dashboard, the alerts and `status` write "... UTC"; `cases list` showed
    # "SLA due 2026-11-20 09:00" and `cases show` "11-20 09:00", which a social team
    # outside UTC reads as its own local time.
    row = next(r for r in listed(demo) if r["sla_due_at"])
    due = str(row["sla_due_at"])
    assert due.endswith("+00:00")
    result = CliRunner().invoke(
        main, ["cases", "list", "--config", str(demo)], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if f" {row['ref']} " in line)
    assert f"{due[:10]} {due[11:16]} UTC" in line
    assert cli("cases", "note", str(row["ref"]), "called back", config=demo)[0] == 0
    result = CliRunner().invoke(
        main, ["cases", "show", str(row["ref"]), "--config", str(demo)], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("when (UTC)") == 2  # the thread and the audit trail
    note = next(line for line in result.output.splitlines() if "note by" in line)
    assert note.endswith("UTC: called back")


def test_list_json_names_the_sentiment_as_the_api_does(demo: Path) -> None:
    # GET /api/cases calls the newest message's label "sentiment"; `cases list --json`
    # called it only "latest_label", so one script could not read both.
    rows = listed(demo, "--all")
    assert any(row["sentiment"] for row in rows)
    assert all(row["sentiment"] == row["latest_label"] for row in rows)  # kept for scripts


def test_resolving_a_case_turns_down_its_waiting_draft(demo: Path) -> None:
    # Resolved with a draft waiting, the case left the queue but the draft stayed
    # approvable: approved later (or rejected), it reopened a case a person had closed,
    # and approved, it posted an answer to a conversation judged finished.
    ref = str(listed(demo, "--status", "awaiting_approval")[0]["ref"])
    assert cli("cases", "resolve", ref, "--as", "ana", config=demo)[0] == 0
    code, output = cli("cases", "approve", ref, config=demo)
    assert (code, output.strip()) == (1, f"error: {ref} has no draft waiting for approval")
    code, output = cli("cases", "reject", ref, config=demo)
    assert (code, output.strip()) == (1, f"error: {ref} has no draft waiting for approval")
    row = next(r for r in listed(demo, "--all") if r["ref"] == ref)
    assert row["state"] == "resolved"
    rejected = [d for kind, actor, d in audit(demo, ref) if (kind, actor) == ("rejected", "ana")]
    assert [d["reason"] for d in rejected] == ["the case was resolved"]


def test_a_team_name_with_square_brackets_is_shown_as_written(demo: Path) -> None:
    # Team names are free text in the config ("EMEA [de]"); the table and the case
    # header took them as Rich markup: "[de]" vanished as a style, and a closing tag
    # such as "[/de]" was a traceback.
    database = demo.parent.parent / "inchannel.db"
    for team in ("EMEA [de]", "EMEA [/de]"):
        with sqlite3.connect(database) as conn:
            conn.execute("UPDATE cases SET team = ? WHERE id = 1", (team,))
        for command in (["list", "--all", "--team", team], ["show", "C-1001"]):
            result = CliRunner().invoke(
                main, ["cases", *command, "--config", str(demo)], env={"COLUMNS": "300"}
            )
            assert result.exit_code == 0, (command, result.output, result.exception)
            assert team in result.output, (command, result.output)


def test_a_repeated_reply_is_queued_once_and_is_no_error(demo: Path) -> None:
    # As the API answers {"ok": true}: a script that repeats `cases reply` after a
    # timeout (the first did queue it) got exit 1, and took the reply for refused.
    ref = str(next(r for r in listed(demo) if r["platform"] == "x")["ref"])
    code, output = cli("cases", "reply", ref, "Sorted: a new one ships today.", config=demo)
    assert code == 0, output
    action = output.strip().rsplit(" ", 1)[1]
    code, output = cli("cases", "reply", ref, "Sorted: a new one ships today.", config=demo)
    assert (code, output.strip()) == (
        0,
        f"{ref}: this reply is already queued (action {action}); it was not queued again",
    )
    with db(demo) as conn:
        (queued,) = conn.execute(
            "SELECT count(*) FROM actions WHERE text = 'Sorted: a new one ships today.'"
        ).fetchone()
    assert queued == 1


def test_a_repeated_note_is_stored_once_and_is_no_error(demo: Path) -> None:
    code, output = cli("cases", "note", "C-1001", "checked the order", "--as", "lena", config=demo)
    assert (code, output.strip()) == (0, "C-1001: note added")
    code, output = cli("cases", "note", "C-1001", "checked the order", "--as", "lena", config=demo)
    assert code == 0, output
    assert output.startswith("C-1001: this note was added already by lena at ")
    assert output.strip().endswith("; it was not added again")
    with db(demo) as conn:
        (kept,) = conn.execute("SELECT count(*) FROM events WHERE kind = 'note'").fetchone()
    assert kept == 1


def test_show_writes_thread_and_audit_times_with_the_year(demo: Path) -> None:
    # "12-31 23:59" and "01-01 00:01": which New Year's Eve? Across the turn of the year
    # the thread read as if the reply came a year before the question.
    ref = str(listed(demo)[0]["ref"])
    case_id = int(ref[2:]) - 1000
    with db(demo) as conn:
        conn.execute(
            "UPDATE messages SET created_at = '2025-12-31 23:59:00.000000' WHERE case_id = ?",
            (case_id,),
        )
        conn.execute(
            "UPDATE events SET at = '2026-01-01 00:01:02.000000' WHERE case_id = ?", (case_id,)
        )
    result = CliRunner().invoke(
        main, ["cases", "show", ref, "--config", str(demo)], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    assert "2025-12-31 23:59" in result.output
    assert "2026-01-01 00:01:02" in result.output


def test_replying_to_a_case_closed_as_spam_is_refused(demo: Path) -> None:
    ref = str(listed(demo)[0]["ref"])
    assert cli("cases", "spam", ref, config=demo)[0] == 0
    before = audit(demo, ref)
    code, output = cli("cases", "reply", ref, "Thanks for reaching out!", config=demo)
    assert (code, output.strip()) == (
        1,
        f"error: {ref} was closed as spam: remove its spam tag to reply",
    )
    assert audit(demo, ref) == before


def test_a_terminal_not_in_utf_8_shows_every_case_and_valid_json(tmp_path: Path) -> None:
    # A server with a Latin-1 locale (LANG=de_DE.ISO-8859-1): an emoji, a euro sign or
    # rich's own "…" cannot be written in its encoding, which ended in a traceback.
    path = demo_copy(tmp_path)
    emoji = HOSTILE | {
        "id": "1859000000000000902",
        "author": "emoji_ella",
        "text": "@acme 😡 charged €49 twice",
    }
    with (path.parent / "samples" / "mentions.jsonl").open("a", encoding="utf-8") as samples:
        samples.write(json.dumps(emoji) + "\n")
    assert cli("db", "upgrade", config=path)[0] == 0
    assert cli("run", "--once", config=path)[0] == 0
    latin1 = CliRunner(charset="latin-1")
    result = latin1.invoke(main, ["cases", "list", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.exception
    rows = [json.loads(line) for line in result.output.splitlines()]
    row = next(r for r in rows if r["handle"] == "emoji_ella")
    assert row["first_line"] == "@acme 😡 charged €49 twice"
    assert "¿Hacen envíos" in result.output  # what the terminal can show is kept as it is
    for args in (["cases", "list"], ["answers", "list"], ["cases", "show", str(row["ref"])]):
        result = latin1.invoke(main, [*args, "--config", str(path)])
        assert result.exit_code == 0, (args, result.exception)
    assert "\\ud83d\\ude21 charged \\u20ac49 twice" in result.output  # spelled out


def test_tables_read_through_a_pipe_are_printed_whole(demo: Path) -> None:
    # `inchannel answers list | grep ship`, a case listing mailed by cron: rich takes a
    # pipe as 80 columns and cut ids, handles and texts to "shipping-coun…".
    code, output = cli("answers", "list", config=demo)
    assert code == 0, output
    assert "shipping-countries" in output
    assert str(demo.parent / "answers" / "10-shipping.yaml") in output
    code, output = cli("cases", "list", config=demo)
    assert code == 0, output
    for row in listed(demo):
        assert f"│ {row['handle']} " in output
        assert str(row["first_line"]).splitlines()[0] in output
    assert "…" not in output


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command", [("cases", "list", "--all"), ("cases", "show", "C-1"), ("users", "list")]
)
def test_a_command_closes_its_connections_when_it_ends(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """The case and user commands left their pool to the garbage collector: on
    PostgreSQL the session stayed open until it ran, and its ResourceWarning failed
    whichever test it ran in (CI failed test_db_copy for a `cases` test's leak)."""
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    config = demo_copy(tmp_path)
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_cli") as url:
        written = config.read_text(encoding="utf-8")
        config.write_text(written.replace(f"sqlite:///{tmp_path}/inchannel.db", url), "utf-8")
        assert cli("db", "upgrade", config=config)[0] == 0
        code, output = cli(*command, config=config)
        assert code in (0, 1), output  # C-1 need not exist: the error path closes too
        assert _sessions_on(url) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("command", [("run", "--once"), ("serve",)])
def test_a_refused_run_or_serve_closes_its_connections(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """`run` refused by the database's mode and `serve` refused its port exited after the
    schema check had connected: the pool was left to the garbage collector, as the case
    commands' was, and its ResourceWarning failed whichever test came next."""
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    config = demo_copy(tmp_path)
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_cli") as url, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        written = config.read_text(encoding="utf-8")
        written = written.replace(f"sqlite:///{tmp_path}/inchannel.db", url)
        written = written.replace("port: 8000", f"port: {taken.getsockname()[1]}")
        config.write_text(written, "utf-8")
        assert cli("db", "upgrade", config=config)[0] == 0
        _mark_live(url)  # the demo refuses a live database
        code, output = cli(*command, config=config)
        assert code in (1, 2), output
        assert output.startswith("error: "), output
        assert _sessions_on(url) == 0


def _mark_live(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO usage (key, day, count) VALUES ('run_mode', 'live', 0)"))
    finally:
        engine.dispose()


def _sessions_on(url: str) -> int:
    admin = create_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name")
            return int(conn.execute(query, {"name": url.rsplit("/", 1)[1]}).scalar_one())
    finally:
        admin.dispose()


def test_a_list_cut_at_its_limit_says_more_cases_match(demo: Path) -> None:
    """`cases list` stops at --limit (100 by default): a team with more flagged cases
    than that read the table as the whole queue. The rows are still the first ones;
    stderr says more match, so `--json` output stays one case a line."""
    everything = listed(demo)
    assert len(everything) > 3
    result = CliRunner().invoke(main, ["cases", "list", "--config", str(demo), "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert [
        line.split("│")[1].strip() for line in result.stdout.splitlines() if "│ C-" in line
    ] == [row["ref"] for row in everything[:3]]
    assert result.stderr == (
        f"3 of {len(everything)} cases shown: --limit {len(everything)} lists them all\n"
    )
    result = CliRunner().invoke(
        main, ["cases", "list", "--config", str(demo), "--limit", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["ref"] for line in result.stdout.splitlines()] == [
        row["ref"] for row in everything[:3]
    ]
    assert result.stderr.startswith("3 of ")
    # Nothing cut, nothing said.
    result = CliRunner().invoke(
        main, ["cases", "list", "--config", str(demo), "--limit", str(len(everything))]
    )
    assert result.exit_code == 0
    assert result.stderr == ""
