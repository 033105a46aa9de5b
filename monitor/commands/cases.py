"""``inchannel cases ...``: the social team's work from the terminal. Reading cases
(`list`, `show`) is in case_views; this module has the commands that act on them."""

from __future__ import annotations

from pathlib import Path

import click

from monitor import (
    casework,
    casework_actions,
    casework_drafts,
    casework_links,
    casework_replies,
    triage,
)
from monitor.commands import since_shown
from monitor.commands.case_options import common, run, runtime, user_option
from monitor.commands.case_views import list_command, show_command
from monitor.store.models import case_ref
from monitor.web.users import login_name


@click.group("cases")
def cases_group() -> None:
    """List, read and work cases."""


cases_group.add_command(list_command)
cases_group.add_command(show_command)


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
