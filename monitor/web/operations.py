"""What a person can do to a case, once, for both the HTML forms and the JSON API.

Each operation names the least role it needs and its fields (monitor.web.operation_spec);
the work itself is done by monitor.casework_* and monitor.triage, never here, and the
checks against a page shown before a colleague's change by monitor.web.since_shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor import casework_actions, casework_drafts, casework_replies, triage
from monitor.casework import CaseworkError
from monitor.runtime import Runtime
from monitor.web.access import check_access
from monitor.web.operation_spec import Field, Operation, Params
from monitor.web.since_shown import (
    NothingChanged,
    reassigned_since_shown,
    resolved_by,
    unanswered_since_shown,
    unchanged_since_shown,
    unread_since_shown,
    unwithdrawn_since_shown,
)
from monitor.web.users import User, login_name


def _reply(rt: Runtime, ref: str, user: User, p: Params) -> str:
    if "replies" in p:
        unanswered_since_shown(rt, ref, p["replies"], p["text"], user.name)
    if "messages" in p:
        # casework_replies.reply addresses the customer's newest message: one that came
        # after the page was shown got an answer written to the earlier ones, as if read.
        unread_since_shown(
            rt, ref, p["messages"], "your reply was not posted (read the message, then post again)"
        )
    answer = p.get("answer") or None  # the knowledge-base entry the person started from
    action = casework_replies.reply(rt, ref, p["text"], user=user.name, answer_id=answer)
    return f"Reply queued for posting (action {action})."


def _approve(rt: Runtime, ref: str, user: User, p: Params) -> str:
    if "messages" in p:
        # The draft answers the message it was written for: approved after the customer
        # wrote again, it went out as if the follow-up had been read.
        refused = "the draft was not approved (read the message, then approve again)"
        unread_since_shown(rt, ref, p["messages"], refused)
    action = casework_drafts.approve(
        rt, ref, user=user.name, text=p.get("text"), draft_id=p.get("draft")
    )
    return f"Draft approved and queued for posting (action {action})."


def _reject(rt: Runtime, ref: str, user: User, p: Params) -> str:
    casework_drafts.reject(
        rt, ref, user=user.name, reason=p.get("reason", ""), draft_id=p.get("draft")
    )
    return "Draft rejected; the case waits for a person."


def _assign(rt: Runtime, ref: str, user: User, p: Params) -> str:
    # Checked apart from casework_actions.assign: a colleague's assignment racing this
    # read still lands, the check only keeps a page loaded earlier from undoing one
    # unknowingly.
    # As sign-in and the queue's assignee filter read a name: "Maria" is maria.
    assignee = login_name(p["assignee"])
    reassigned_since_shown(rt, ref, assignee, p.get("was"))
    casework_actions.assign(rt, ref, assignee, user=user.name)
    return f"Assigned to {assignee}."


def _priority(rt: Runtime, ref: str, user: User, p: Params) -> str:
    unchanged_since_shown(rt, ref, "priority", p["priority"], p.get("was"))
    triage.set_priority(rt, ref, p["priority"], user=user.name)
    return f"Priority set to {p['priority']}."


def _team(rt: Runtime, ref: str, user: User, p: Params) -> str:
    unchanged_since_shown(rt, ref, "team", p["team"], p.get("was"))
    triage.set_team(rt, ref, p["team"], user=user.name)
    return f"Handed to team {p['team']}."


def _tag(rt: Runtime, ref: str, user: User, p: Params) -> str:
    tags = triage.tag(
        rt,
        ref,
        user=user.name,
        add=triage.split_tags(p.get("add")),
        remove=triage.split_tags(p.get("remove")),
    )
    return f"Tags: {', '.join(tags) or 'none'}."


def _note(rt: Runtime, ref: str, user: User, p: Params) -> str:
    casework_actions.add_note(rt, ref, p["text"], user=user.name)
    return "Note added."


def _resolve(rt: Runtime, ref: str, user: User, p: Params) -> str:
    # Read before casework_actions.resolve, to name who resolved it: a resolution racing
    # this read is refused under the case lock there, with less said.
    already = resolved_by(rt, ref)
    if already is not None:
        raise NothingChanged(f"{already}; nothing was changed")
    if "messages" in p:
        unread_since_shown(
            rt, ref, p["messages"], "it was not resolved (read the message, then resolve again)"
        )
    casework_actions.resolve(rt, ref, user=user.name)
    return "Case resolved."


def _spam(rt: Runtime, ref: str, user: User, p: Params) -> str:
    if "replies" in p:
        unwithdrawn_since_shown(rt, ref, p["replies"])
    triage.mark_spam(rt, ref, user=user.name)
    return "Marked as spam and closed."


def _sentiment(rt: Runtime, ref: str, user: User, p: Params) -> str:
    triage.correct_sentiment(rt, ref, p["message_id"], p["label"], user=user.name)
    return f"Thank you: the message is recorded as {p['label']} for lexicon tuning."


TEXT = Field(required=True, max_length=10_000)
COUNT = Field(kind="count")  # a number of things the page showed: 0 and up
DRAFT = Field(kind="integer")  # the draft's action id, as the case's actions list it
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "reply",
            "agent",
            "Reply publicly in the case's thread",
            "Reply queued for posting",
            _reply,
            # replies: how many replies the person's page showed, to refuse a second
            # answer written without seeing a colleague's; messages: how many of the
            # customer's messages it showed, to refuse an answer written without their
            # latest. Scripts may leave both out.
            {"text": TEXT, "answer": Field(max_length=64), "replies": COUNT, "messages": COUNT},
        ),
        Operation(
            "approve",
            "lead",
            "Approve the draft (optionally edited)",
            "Draft approved and queued for posting",
            _approve,
            # messages: how many of the customer's messages the page showed (as reply).
            {"text": Field(max_length=10_000), "draft": DRAFT, "messages": COUNT},
        ),
        Operation(
            "reject",
            "lead",
            "Reject the draft",
            "Draft rejected; the case waits for a person",
            _reject,
            {"reason": Field(max_length=casework_drafts.MAX_REASON), "draft": DRAFT},
        ),
        Operation(
            "assign",
            "lead",
            "Assign to a person",
            "Case assigned",
            _assign,
            # was: the assignee the person's page showed ("-": none), to refuse undoing a
            # colleague's assignment made since; scripts may leave it out.
            {"assignee": Field(required=True, max_length=64), "was": Field(max_length=64)},
        ),
        Operation(
            "priority",
            "agent",
            "Change the priority",
            "Priority changed",
            _priority,
            # was: the priority the person's page showed (as assign's): scripts may leave
            # it out.
            {
                "priority": Field(required=True, choices=triage.PRIORITIES),
                "was": Field(max_length=64),
            },
        ),
        Operation(
            "team",
            "lead",
            "Hand to another team",
            "Case handed to the team",
            _team,
            # was: the team the person's page showed ("-": none), as assign's.
            {"team": Field(required=True, max_length=64), "was": Field(max_length=64)},
        ),
        Operation(
            "tag",
            "agent",
            "Add and remove tags (space or comma separated)",
            "Tags changed",
            _tag,
            {"add": Field(max_length=500), "remove": Field(max_length=500)},
        ),
        Operation(
            "note",
            "agent",
            "Add an internal note",
            "Note added",
            _note,
            {"text": Field(required=True, max_length=5000)},
        ),
        Operation(
            "resolve",
            "agent",
            "Resolve the case",
            "Case resolved",
            _resolve,
            # messages: how many of the customer's messages the person's page showed, to
            # refuse closing a case on a follow-up nobody read; scripts may leave it out.
            {"messages": COUNT},
        ),
        Operation(
            "spam",
            "agent",
            "Mark as spam and close",
            "Marked as spam and closed",
            _spam,
            # replies: how many replies the person's page showed, to refuse withdrawing
            # one queued since unknowingly; scripts may leave it out.
            {"replies": COUNT},
        ),
        Operation(
            "sentiment",
            "agent",
            "Correct a message's sentiment label",
            "Correction recorded for lexicon tuning",
            _sentiment,
            {
                "message_id": Field(kind="integer", required=True),
                "label": Field(required=True, choices=triage.CORRECTABLE),
            },
        ),
    )
}


def perform(rt: Runtime, user: User, name: str, ref: str, raw: Mapping[str, Any]) -> str:
    """Run one operation for a user; returns the message to show."""
    operation = OPERATIONS.get(name)
    if operation is None:
        raise CaseworkError(f"unknown operation {name[:40]!r}")
    check_access(rt, user, ref, operation.role)
    return operation.run(rt, ref, user, operation.parse(raw))
