"""``inchannel rules test``: run mentions through scoring and rules, in memory only.

No database, no posting. A small in-memory history stands in for the cases table so
the thread cap, the author cooldown and "earlier cases" behave as they would live.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.case_transitions import (
    CLOSED_AS_SPAM,
    after_bot_reply,
    after_brand_answer,
    after_customer_wrote,
    after_draft,
    closed_as_spam,
    owes_answer,
)
from monitor.domain import CaseState, Decision, Label, Mention, Score, written_order
from monitor.rules.context import Context
from monitor.rules.engine import RuleEngine
from monitor.scoring import Scorer

DRY_RUN_CASE = "C-TEST"


CaseKey = tuple[str, str, str]  # platform, thread, customer id


@dataclass
class _History:
    source: str | None = None
    replies_in_thread: dict[tuple[str, str], int] = field(default_factory=dict)
    last_reply_in_thread: dict[tuple[str, str], Any] = field(default_factory=dict)
    # A case is one customer in one thread (as the daemon keys them): another customer
    # writing in a thread where the first was escalated opens a new case of their own.
    state_of_case: dict[CaseKey, CaseState] = field(default_factory=dict)
    last_reply_to_author: dict[tuple[str, str], Any] = field(default_factory=dict)
    threads_of_author: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    escalated_authors: set[tuple[str, str]] = field(default_factory=set)
    tags_of_case: dict[CaseKey, set[str]] = field(default_factory=dict)
    # The brand's answer on the platform settles only what was owed, and only when the
    # customer wrote nothing after the post it answers (a later one is still owed its
    # answer). "After" by created_at, as the daemon judges it (threads): a sample's
    # file order is not always the order the posts were written in.
    owed: set[CaseKey] = field(default_factory=set)
    last_written: dict[CaseKey, datetime] = field(default_factory=dict)
    case_of_post: dict[tuple[str, str], tuple[CaseKey, datetime]] = field(default_factory=dict)

    def context(self, mention: Mention) -> Context:
        author = (mention.platform.value, mention.author.id)
        thread = (mention.platform.value, mention.conversation_id)
        threads = self.threads_of_author.get(author, set())
        return Context(
            now=mention.created_at,
            case_ref=DRY_RUN_CASE,
            source=self.source,
            case_state=self.state_of_case.get(_case(mention), CaseState.NEW),
            bot_replies_in_thread=self.replies_in_thread.get(thread, 0),
            last_bot_reply_in_thread_at=self.last_reply_in_thread.get(thread),
            last_bot_reply_to_author_at=self.last_reply_to_author.get(author),
            earlier_cases=len(threads - {mention.conversation_id}),
            escalated_before=author in self.escalated_authors,
        )

    def closed_as_spam(self, mention: Mention) -> bool:
        """Whether the message's case is closed as spam: processing then decides it
        without the rules (CLOSED_AS_SPAM), and nothing reopens the case."""
        case = _case(mention)
        state = self.state_of_case.get(case, CaseState.NEW)
        return closed_as_spam(state, self.tags_of_case.get(case, set()))

    def record(self, mention: Mention, decision: Decision) -> None:
        """The customer's message and its decision, with the state changes processing
        makes (monitor.case_transitions): an ignored message that opened its case
        resolves it, any other reopens a resolved or waiting one before it is applied."""
        author = (mention.platform.value, mention.author.id)
        case = _case(mention)
        self.threads_of_author.setdefault(author, set()).add(mention.conversation_id)
        self.case_of_post[(mention.platform.value, mention.external_id)] = (
            case,
            mention.created_at,
        )
        opens = case not in self.state_of_case
        state = self.state_of_case.get(case, CaseState.NEW)
        tags = self.tags_of_case.setdefault(case, set())
        owed = owes_answer(tags, decision)
        tags.update(decision.tags)  # an ignore rule's too: its spam tag closes as spam
        if decision.ignored:
            self.state_of_case[case] = CaseState.RESOLVED if opens else state
            return  # nor is it written after a post the brand answers: it owes nothing
        last = self.last_written.get(case, mention.created_at)
        self.last_written[case] = max(last, mention.created_at)
        if owed:
            self.owed.add(case)
        state = after_customer_wrote(state)
        if decision.escalation is not None:
            self.escalated_authors.add(author)
            state = CaseState.AWAITING_HUMAN
        reply = decision.reply
        if reply is not None and reply.draft:
            state = after_draft(state)
        elif reply is not None:
            self._bot_replied(mention, case)
            state = after_bot_reply(state)
        self.state_of_case[case] = state

    def _bot_replied(self, mention: Mention, case: CaseKey) -> None:
        thread = (mention.platform.value, mention.conversation_id)
        author = (mention.platform.value, mention.author.id)
        self.replies_in_thread[thread] = self.replies_in_thread.get(thread, 0) + 1
        self.last_reply_in_thread[thread] = self.last_reply_to_author[author] = mention.created_at
        self.owed.discard(case)  # posted at once in the dry run: the answer owed is given

    def record_brand_post(self, mention: Mention) -> None:
        """The brand's own post answering a customer's (a person replying on the
        platform): their case waits on them, as processing moves it (threads)."""
        if mention.in_reply_to is None:
            return
        answered = self.case_of_post.get((mention.platform.value, mention.in_reply_to))
        if answered is None:
            return
        case, written_at = answered
        if self.last_written.get(case, written_at) > written_at:
            return  # the customer wrote again after the post it answers: that is owed
        if case in self.owed:
            self.owed.discard(case)
            self.state_of_case[case] = after_brand_answer(self.state_of_case[case])


def _case(mention: Mention) -> CaseKey:
    return (mention.platform.value, mention.conversation_id, mention.author.id)


def dry_run(
    engine: RuleEngine, scorer: Scorer, mentions: list[Mention], *, source: str | None = None
) -> Iterator[tuple[Mention, Score, Decision]]:
    """Decide every mention as the daemon would, without side effects: each thread's
    case state and bot replies follow the decisions before (as processing applies
    them), and ``source`` is the source name rules on ``source:`` see. Decided in the
    order written, as ingest stores a poll's posts (a sample's lines need not be: a
    customer's "thanks" was decided before the complaint it followed); yielded in the
    file's order, so the output still reads alongside the file."""
    history = _History(source=source)
    order = sorted(range(len(mentions)), key=lambda i: written_order(mentions[i]))
    decided = {i: _decide(engine, scorer, history, mentions[i]) for i in order}
    for i, mention in enumerate(mentions):
        yield (mention, *decided[i])


def _decide(
    engine: RuleEngine, scorer: Scorer, history: _History, mention: Mention
) -> tuple[Score, Decision]:
    score = scorer.score(mention.text, lang=mention.lang)
    own = engine.is_own_post(mention)
    if not own and history.closed_as_spam(mention):
        decision = CLOSED_AS_SPAM  # processing's guard: the rules are not asked
    else:
        decision = engine.decide(mention, score, history.context(mention))
    if own:
        history.record_brand_post(mention)
    else:
        history.record(mention, decision)
    return score, decision


def actions(decision: Decision) -> list[dict[str, Any]]:
    """The decision as the list of actions ``rules test --json`` prints."""
    out: list[dict[str, Any]] = []

    def add(
        kind: str, *, team: str | None = None, priority: str | None = None, text: str | None = None
    ) -> None:
        out.append({"type": kind, "team": team, "priority": priority, "text": text})

    if decision.ignored:
        add("ignore")
    if decision.reply is not None:
        add("draft" if decision.reply.draft else "reply", text=decision.reply.text)
        if decision.reply.answer is not None:
            add("answer", text=decision.reply.answer)
            out[-1]["confidence"] = decision.reply.confidence
    if decision.escalation is not None:
        escalation = decision.escalation
        add(
            "escalate",
            team=escalation.team,
            priority=escalation.priority.value,
            text=escalation.reason or None,
        )
    for tag in decision.tags:
        add("tag", text=tag)
    if decision.assignee is not None:
        add("assign", text=decision.assignee)
    if decision.priority is not None:
        add("set_priority", priority=decision.priority.value)
    for note in decision.notes:
        add("guard", text=note)
    return out


def as_json(mention: Mention, score: Score, decision: Decision) -> dict[str, Any]:
    return {
        "id": mention.external_id,
        "label": score.label.value,
        # An unscored mention's 0.0 is no reading: null, as the text output shows none.
        "compound": None if score.label is Label.UNSCORED else score.compound,
        "matched": list(decision.matched),
        "actions": actions(decision),
    }
