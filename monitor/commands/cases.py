"""``inchannel cases ...``: the social team's work from the terminal."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.markup import escape
from rich.table import Table

from monitor import (
    cases,
    casework,
    casework_actions,
    casework_drafts,
    casework_links,
    casework_listing,
    casework_replies,
    triage,
)
from monitor.casework import CaseworkError
from monitor.commands import since_shown
from monitor.commands.options import config_option, json_line, table_console, terminal_text
from monitor.domain import CaseState
from monitor.runtime import Runtime
from monitor.store.models import case_ref
from monitor.web.users import login_name

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def common(func: F) -> F:
    return config_option(func)


def user_option(func: F) -> F:
    return click.option(
        "--as",
        "user",
        default=_default_user,
        show_default="login name",
        callback=_actor_name,
        help="Who is acting (recorded in the audit trail).",
    )(func)


def _actor_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # As long as a dashboard user's name: the audit trail's column holds no more, and
    # PostgreSQL refuses (SQLite stores) a longer one, which `db copy` would then trip on.
    name = value.strip()
    if not 1 <= len(name) <= MAX_ACTOR:
        raise click.BadParameter(f"1 to {MAX_ACTOR} characters, not {len(name)}")
    # A byte that is no UTF-8 (a Latin-1 terminal's "é") arrives as an unpaired
    # surrogate, which the driver cannot send: refused here, not as a traceback.
    if not casework.storable(name):
        raise click.BadParameter(casework.UNSTORABLE)
    return name


MAX_ACTOR = 64


def runtime(config_file: Path | None) -> Runtime:
    """Broken rule files do not stop case work; what needs the rules refuses on its own."""
    from monitor.commands.loading import config_or_exit, migrated_or_exit
    from monitor.runtime import build_runtime

    rt = build_runtime(config_or_exit(config_file), rules_optional=True)
    migrated_or_exit(rt.engine, config_file)
    return rt


def _shown(text: str) -> str:
    """Stored text (mentions, handles, notes, errors) as a table cell shows it: no
    markup, and nothing a terminal would act on (an escape sequence in a mention)."""
    return escape(terminal_text(text))


def run(action: Callable[[], T]) -> T:
    try:
        return action()
    except CaseworkError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.group("cases")
def cases_group() -> None:
    """List, read and work cases."""


@cases_group.command("list")
@common
@click.option("--status", "states", multiple=True, type=click.Choice([s.value for s in CaseState]))
@click.option("--team")
@click.option("--all", "every_state", is_flag=True, help="Resolved cases too.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per case.")
def list_command(
    config_file: Path | None,
    states: tuple[str, ...],
    every_state: bool,
    team: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Open cases by SLA deadline, then priority and age, as on the dashboard's queue
    (--status or --all for others)."""
    if not states and not every_state:
        # The queue's open states: a case waiting on the customer needs nobody yet.
        states = tuple(sorted(cases.OPEN_STATES))
    rt = runtime(config_file)
    rows = run(lambda: casework_listing.list_cases(rt, states=states, team=team, limit=limit))
    if as_json:
        for row in rows:
            # "sentiment" as GET /api/cases names it; "latest_label" kept for scripts.
            out = _jsonable(row.__class__.__dataclass_fields__, row)
            click.echo(json_line(out | {"sentiment": row.latest_label}))
        return
    table = Table(
        "case",
        "platform",
        "author",
        "state",
        "priority",
        "team",
        "sentiment",
        "SLA due",
        "first message",
    )
    for row in rows:
        # As the dashboard and the alerts write it: a team outside UTC reads a bare time
        # as its own.
        due = f"{row.sla_due_at:%Y-%m-%d %H:%M} UTC" if row.sla_due_at else ""
        table.add_row(
            row.ref,
            row.platform,
            _shown(row.handle),
            row.state,
            row.priority,
            _shown(row.team or ""),  # config text, not markup: "EMEA [de]"
            row.latest_label or "",
            due,
            _shown(row.first_line),
        )
    table_console().print(table)


def _jsonable(fields: Any, row: Any) -> dict[str, Any]:
    out = {}
    for name in fields:
        value = getattr(row, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


# How much of a message, and of a reply or an audit entry, a table cell shows: a mention
# may be 40,000 characters, which drowned the rest of the case.
MESSAGE_SHOWN = 2000
ACTION_SHOWN = 300


def _cut(text: str, limit: int) -> str:
    """``text`` to ``limit`` characters, saying so when it was longer: cut silently, the
    customer's message read as if it ended there (the dashboard shows it whole)."""
    if len(text) <= limit:
        return text
    # ASCII only: a terminal that cannot show "…" would get it spelled out.
    return f"{text[:limit]} [... cut: {limit:,} of {len(text):,} characters shown]"


@cases_group.command("show")
@common
@click.argument("ref")
def show_command(config_file: Path | None, ref: str) -> None:
    """The thread, outbox, audit trail and customer history of a case, and how many
    replies and customer messages it showed (for reply, approve, resolve and spam)."""
    rt = runtime(config_file)
    # Counted before the rest is read: a reply landing in between is then shown but not
    # counted, and the next command refuses needlessly, never the other way round.
    answers, replies, messages = run(lambda: since_shown.counts(rt, ref))
    detail: Any = run(lambda: casework_listing.case_detail(rt, ref))
    console = table_console()
    row = detail["case"]
    # A team name is free text in the config ("EMEA [de]"), read as markup it lost its
    # "[de]" or, as "[/de]", was a traceback; tags from before they were checked too.
    console.print(
        f"[bold]{row.ref}[/bold] {row.platform} {_shown(row.handle)} · {row.state} · "
        f"{row.priority} · team {_shown(row.team or '-')} · "
        f"tags {_shown(', '.join(row.tags) or '-')}"
    )
    thread = Table("id", "when (UTC)", "who", "text", "sentiment", title="Thread")
    for m in detail["messages"]:
        who = "bot/team" if m.direction == "outbound" else m.author_handle
        thread.add_row(
            str(m.id),
            # With the year: "12-31" and "01-01" alone read a reply as a year older
            # than the question it answered.
            f"{m.created_at:%Y-%m-%d %H:%M}",
            _shown(who),
            _shown(_cut(m.text, MESSAGE_SHOWN)),
            _shown(f"{m.label or ''} {m.score_reason or ''}".strip()),
        )
    console.print(thread)
    outbox = Table("id", "kind", "status", "by", "text", "error", title="Outbox")
    for a in detail["actions"]:
        outbox.add_row(
            str(a.id),
            a.kind,
            a.status,
            _shown((a.actor or a.rule or "") + (f"\nanswer {a.answer_id}" if a.answer_id else "")),
            _shown(_cut(a.text, ACTION_SHOWN)),
            _shown(a.last_error or ""),
        )
    console.print(outbox)
    trail = Table("when (UTC)", "what", "who", "detail", title="Audit trail")
    for e in detail["events"]:
        trail.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.kind,
            _shown(e.actor),
            _shown(_cut(json.dumps(e.detail, ensure_ascii=False), ACTION_SHOWN)),
        )
    console.print(trail)
    history = detail["history"]
    console.print(
        f"Customer history: {len(history['cases'])} case(s), "
        f"{history['escalations']} escalation(s), {len(history['notes'])} note(s), "
        f"{history['linked_accounts']} linked account(s)"
    )
    for note_actor, at, text in history["notes"]:
        console.print(f"  note by {_shown(note_actor)} at {at:%Y-%m-%d %H:%M} UTC: {_shown(text)}")
    console.print(since_shown.counts_line(answers, replies, messages))


@cases_group.command("reply")
@common
@user_option
@click.argument("ref")
@click.argument("text", default="")
@click.option(
    "--allow-redirect",
    is_flag=True,
    help="Post even if the text sends the customer elsewhere (audited).",
)
@click.option(
    "--answer",
    "answer_id",
    default=None,
    help="Start from this knowledge-base entry (its text when TEXT is empty).",
)
@since_shown.replies_option
@since_shown.messages_option
def reply_command(
    config_file: Path | None,
    user: str,
    ref: str,
    text: str,
    allow_redirect: bool,
    answer_id: str | None,
    replies: int | None,
    messages: int | None,
) -> None:
    """Answer in the customer's thread, through the outbox. With --replies and --messages
    (`cases show` prints them) nothing is posted when someone answered or the customer
    wrote again since; without them it is posted regardless."""
    rt = runtime(config_file)

    def queue() -> str:
        since_shown.check_replies(rt, ref, replies, text, user, answer_id)
        # The reply answers the customer's newest message, read or not.
        since_shown.check_messages(rt, ref, messages, "your reply was not posted", "reply")
        try:
            action = casework_replies.reply(
                rt, ref, text, user=user, allow_redirect=allow_redirect, answer_id=answer_id
            )
        except casework.AlreadyQueued as exc:
            # The reply will be posted once, as asked: a script repeating the command
            # after a timeout must not read it as refused (the API answers ok: true).
            return str(exc)
        return f"reply queued as action {action}"

    click.echo(f"{_canonical(ref)}: {run(queue)}")


# A case can hold two drafts (the customer wrote again while one waited).
DRAFT_OPTION = click.option(
    "--draft",
    type=click.IntRange(1),
    help="The draft's action id (`cases show` lists it); needed when several drafts wait.",
)


@cases_group.command("approve")
@common
@user_option
@click.argument("ref")
@click.option("--text", help="Post this instead of the drafted text.")
@DRAFT_OPTION
@since_shown.messages_option
def approve_command(
    config_file: Path | None,
    user: str,
    ref: str,
    text: str | None,
    draft: int | None,
    messages: int | None,
) -> None:
    """Approve (optionally edit) the case's draft; it is posted through the outbox. With
    --messages (`cases show` prints it) nothing is posted when the customer wrote again
    since; without it the draft is posted regardless."""
    rt = runtime(config_file)

    def settle() -> str:
        # The draft answers the message it was written for, not a follow-up after it.
        since_shown.check_messages(rt, ref, messages, "the draft was not approved", "approve")
        try:
            action = casework_drafts.approve(rt, ref, user=user, text=text, draft_id=draft)
        except casework.AlreadyApproved as exc:
            # Approved once, as asked: a script repeating the command after a timeout
            # must not read it as refused (the API answers ok: true).
            return str(exc)
        return f"draft approved, action {action} queued"

    click.echo(f"{_canonical(ref)}: {run(settle)}")


@cases_group.command("reject")
@common
@user_option
@click.argument("ref")
@click.option("--reason", default="")
@DRAFT_OPTION
def reject_command(
    config_file: Path | None, user: str, ref: str, reason: str, draft: int | None
) -> None:
    """Reject the case's draft; the case waits for a human answer."""
    rt = runtime(config_file)
    run(lambda: casework_drafts.reject(rt, ref, user=user, reason=reason, draft_id=draft))
    click.echo(f"{_canonical(ref)}: draft rejected")


@cases_group.command("assign")
@common
@user_option
@click.argument("ref")
@click.argument("assignee")
def assign_command(config_file: Path | None, user: str, ref: str, assignee: str) -> None:
    """Assign the case to a person."""
    assignee = login_name(assignee)  # as sign-in and the dashboard read it: Maria is maria
    run(lambda: casework_actions.assign(runtime(config_file), ref, assignee, user=user))
    click.echo(f"{_canonical(ref)}: assigned to {assignee}")


@cases_group.command("resolve")
@common
@user_option
@click.argument("ref")
@since_shown.messages_option
def resolve_command(config_file: Path | None, user: str, ref: str, messages: int | None) -> None:
    """Mark the case resolved (a new message from the customer reopens it). With
    --messages (`cases show` prints it) the case stays open when the customer wrote again
    since; without it it is resolved regardless."""
    rt = runtime(config_file)

    def settle() -> None:
        # Resolved, a follow-up nobody read would leave the queue with the case.
        since_shown.check_messages(rt, ref, messages, "it was not resolved", "resolve")
        casework_actions.resolve(rt, ref, user=user)

    run(settle)
    click.echo(f"{_canonical(ref)}: resolved")


@cases_group.command("note")
@common
@user_option
@click.argument("ref")
@click.argument("text")
def note_command(config_file: Path | None, user: str, ref: str, text: str) -> None:
    """Add an internal note (never posted)."""

    def add() -> str:
        try:
            casework_actions.add_note(runtime(config_file), ref, text, user=user)
        except casework.AlreadyNoted as exc:
            # Stored once, as asked: a script repeating the command after a timeout must
            # not read it as refused (the API answers ok: true).
            return str(exc)
        return "note added"

    click.echo(f"{_canonical(ref)}: {run(add)}")


@cases_group.command("link")
@common
@user_option
@click.argument("ref")
@click.argument("other_ref")
def link_command(config_file: Path | None, user: str, ref: str, other_ref: str) -> None:
    """Record that the customers of two cases are the same person."""
    person = run(
        lambda: casework_links.link_customers(runtime(config_file), ref, other_ref, user=user)
    )
    click.echo(
        f"{_canonical(ref)} and {_canonical(other_ref)}: customers linked as person {person}"
    )


@cases_group.command("priority")
@common
@user_option
@click.argument("ref")
@click.argument("priority")
def priority_command(config_file: Path | None, user: str, ref: str, priority: str) -> None:
    """Change the priority: low, normal, high or urgent."""
    # Checked by triage, not click.Choice: the dashboard's words and exit 1, as for a team.
    run(lambda: triage.set_priority(runtime(config_file), ref, priority, user=user))
    click.echo(f"{_canonical(ref)}: priority set to {priority}")


@cases_group.command("team")
@common
@user_option
@click.argument("ref")
@click.argument("team")
def team_command(config_file: Path | None, user: str, ref: str, team: str) -> None:
    """Hand the case to another configured team (an answer still owed takes its SLA)."""
    run(lambda: triage.set_team(runtime(config_file), ref, team, user=user))
    click.echo(f"{_canonical(ref)}: handed to team {team}")


@cases_group.command("tag")
@common
@user_option
@click.argument("ref")
@click.option("--add", "add", multiple=True, help="Tags to add (spaces or commas between).")
@click.option("--remove", "remove", multiple=True, help="Tags to remove (spaces or commas).")
def tag_command(
    config_file: Path | None, user: str, ref: str, add: tuple[str, ...], remove: tuple[str, ...]
) -> None:
    """Add and remove tags (lower-cased; at most 20 per case)."""
    adding, removing = triage.split_tags(*add), triage.split_tags(*remove)
    if not adding and not removing:
        raise click.UsageError("nothing to change: give --add TAG or --remove TAG")
    rt = runtime(config_file)
    tags = run(lambda: triage.tag(rt, ref, user=user, add=adding, remove=removing))
    click.echo(f"{_canonical(ref)}: tags {', '.join(tags) or 'none'}")


@cases_group.command("spam")
@common
@user_option
@click.argument("ref")
@since_shown.replies_option
def spam_command(config_file: Path | None, user: str, ref: str, replies: int | None) -> None:
    """Close the case as spam: tag it, withdraw its unsent replies and drafts, resolve it.
    With --replies (`cases show` prints it) nothing changes when a reply queued since
    would be withdrawn unseen; without it the case is closed regardless."""
    rt = runtime(config_file)

    def close() -> None:
        since_shown.check_spam(rt, ref, replies)
        triage.mark_spam(rt, ref, user=user)

    run(close)
    click.echo(f"{_canonical(ref)}: marked as spam and resolved")


@cases_group.command("retry")
@common
@user_option
@click.argument("action_id", type=click.IntRange(min=1))
def retry_command(config_file: Path | None, user: str, action_id: int) -> None:
    """Send a dead reply or notification again (its id: `cases show`'s outbox, or status)."""

    def queue() -> str:
        try:
            case = triage.retry_action(runtime(config_file), action_id, user=user)
        except triage.AlreadyRetried as exc:
            # Retried, as asked: a script repeating the command must not read a refusal.
            ref, done = exc.ref, str(exc)
        else:
            ref, done = (case.ref if case is not None else None), "queued to be sent again"
        return f"action {action_id} ({ref or 'an operations alert'}): {done}"

    click.echo(run(queue))


@cases_group.command("sentiment")
@common
@user_option
@click.argument("ref")
@click.argument("message_id", type=click.IntRange(min=1))
@click.argument("label")
def sentiment_command(
    config_file: Path | None, user: str, ref: str, message_id: int, label: str
) -> None:
    """Correct a customer message's sentiment (positive, neutral or negative): kept as
    feedback for the lexicon (`inchannel feedback`); the case itself is not changed."""
    # Checked by triage, not click.Choice: the dashboard's words and exit 1.
    rt = runtime(config_file)
    run(lambda: triage.correct_sentiment(rt, ref, message_id, label, user=user))
    click.echo(f"{_canonical(ref)}: message {message_id} recorded as {label}")


def _canonical(ref: str) -> str:
    """The case reference as the dashboard writes it (" c-01001 " is C-1001)."""
    return case_ref(casework.parse_ref(ref))
