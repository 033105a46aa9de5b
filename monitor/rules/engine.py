"""Turn one inbound message into a Decision: which rules matched and what to do.

The guards at the end hold whatever the rules say (DESIGN rule 3): the brand's own
posts are never acted on, a thread gets at most N bot replies, an author at most one
per cooldown window, a post that forbids replies gets none, and a reply too long for
the platform goes to a person instead of being truncated.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from monitor.answers.answerer import Answerer, Proposal
from monitor.brand_accounts import BrandAccounts
from monitor.domain import (
    Decision,
    Escalation,
    Mention,
    MessageKind,
    PlannedReply,
    Platform,
    Score,
    unmentioned_reason,
    x_refuses_unmentioned,
)
from monitor.rules.context import Context, Facts
from monitor.rules.index import RuleIndex
from monitor.rules.model import RuleSet, evaluation_order
from monitor.rules.outcome import Outcome, RulePlan, Teams, plan
from monitor.rules.templates import PLATFORM_LIMITS, customer_names, fill, matched_text
from monitor.textlength import brand_text_length

__all__ = ["Context", "Guards", "RuleEngine", "Teams", "Turns"]

# Why a post takes no reply, in each platform's terms: on X its author limits who may
# reply; on Reddit a moderator locked the thread or comment, or Reddit archived it. One
# sentence for both sent the team looking for a setting a Reddit customer never made.
_NO_REPLY = {
    Platform.X: "the author does not allow replies to this post",
    Platform.REDDIT: "the thread is locked or archived: Reddit takes no reply in it",
}


@dataclass(frozen=True, slots=True)
class Guards:
    max_replies_per_thread: int = 2
    author_cooldown: timedelta = timedelta(minutes=30)
    # The bot answers fresh mentions only: on a first start, after an outage or in a
    # backfill, a cheerful reply to a week-old post does more harm than good.
    max_age: timedelta | None = timedelta(hours=24)


class Turns(Protocol):
    """Where each rule's reply variants are in their rotation."""

    def take(self, rule: str) -> int:
        """The turn of ``rule``'s next reply, counted as taken."""
        ...


class _TurnsInMemory:
    """This engine's own count: for a dry run, which writes nothing to count from."""

    def __init__(self) -> None:
        self._taken: dict[str, int] = {}

    def take(self, rule: str) -> int:
        turn = self._taken.get(rule, 0)
        self._taken[rule] = turn + 1
        return turn


class RuleEngine:
    def __init__(
        self,
        ruleset: RuleSet,
        *,
        brand: str = "",
        own_handles: Mapping[Platform, frozenset[str]] | None = None,
        accounts: BrandAccounts | None = None,
        guards: Guards | None = None,
        teams: Teams | None = None,
        limits: Mapping[Platform, int] = PLATFORM_LIMITS,
        answers: Answerer | None = None,
        indexed: bool = True,
    ) -> None:
        """``indexed=False`` evaluates every rule on every mention: the reference the
        index must agree with (tests/test_rules_index.py)."""
        self.ruleset = ruleset
        self.rules = evaluation_order(ruleset.rules)
        self.brand = brand
        # The brand's accounts (ids too, as ingest tells its posts), or just handles.
        self.accounts = accounts or BrandAccounts(handles=own_handles or {})
        self.guards = guards or Guards()
        self.teams = teams or Teams({})
        self.limits = limits
        self.answers = answers
        self._index = RuleIndex(self.rules) if indexed else None
        self._plans = [plan(rule, self.teams) for rule in self.rules]
        # Reply variants rotate per rule so consecutive replies differ: X rejects
        # duplicate text and suspends apps that post it. The daemon passes turns
        # counted from the outbox (``decide``): these reset with every reload.
        self._turns = _TurnsInMemory()

    @property
    def version(self) -> str:
        return self.ruleset.version

    def decide(
        self, mention: Mention, score: Score, context: Context, *, turns: Turns | None = None
    ) -> Decision:
        """``turns``: where the rules' reply variants stand (by default, this engine's
        count of its own decisions)."""
        if self._is_own(mention, context):
            return Decision(ignored=True, notes=("guard: the brand's own post is never acted on",))
        facts = Facts(mention, score, context)
        outcome = Outcome()
        for step in self._candidates(facts):
            if step.rule.matcher.find(facts) is None:
                continue
            answer = self._propose(step, facts, outcome)
            if step.answer is not None and answer is None:
                continue  # an answer rule matches only when it has an entry to offer
            if outcome.add(step, answer):
                break
            if step.tags:
                facts.tags = frozenset(outcome.tags)  # for the later rules' tagged:
        if outcome.ignored:
            return Decision(matched=tuple(outcome.matched), tags=tuple(outcome.tags), ignored=True)
        decision = Decision(
            matched=tuple(outcome.matched),
            reply=self._reply(outcome, facts, turns or self._turns),
            escalation=outcome.escalation,
            tags=tuple(outcome.tags),
            assignee=outcome.assignee,
            priority=outcome.priority,
        )
        return self._guard(decision, mention, context)

    def _propose(self, step: RulePlan, facts: Facts, outcome: Outcome) -> Proposal | None:
        """The knowledge-base entry for an ``answer`` rule. Looked up even when an earlier
        rule has claimed the reply: the entry decides whether the rule matches, and a
        matching rule's tags, escalation and the rest still apply."""
        action = step.answer
        if action is None or self.answers is None:
            return None
        reason = facts.unscored_reason
        lang = reason.removeprefix("language:") if reason.startswith("language:") else facts.lang
        return self.answers.propose(
            facts.text,
            now=facts.now,
            lang=lang,
            answer_at=action.min_confidence,
            draft_at=action.draft_at,
        )

    def _candidates(self, facts: Facts) -> list[RulePlan]:
        plans = self._plans
        if self._index is None:
            return plans
        return [plans[i] for i in self._index.candidates(facts)]

    def _is_own(self, mention: Mention, context: Context) -> bool:
        return context.own_post or self.is_own_post(mention)

    def is_own_post(self, mention: Mention) -> bool:
        """Written by one of the brand's accounts (``rules test`` tells the brand's
        answers in a sample file by this, as ingest stores them as `own`)."""
        return mention.kind is MessageKind.OWN or self.accounts.wrote(mention)

    def _reply(self, outcome: Outcome, facts: Facts, turns: Turns) -> PlannedReply | None:
        rule = outcome.reply_rule
        if rule is None:
            return None
        if outcome.answer is not None:
            return self._answer(rule.name, outcome.answer, facts)
        variants = rule.spec.then.templates
        # One template has no turn to take: its rule's count is left alone (a query).
        turn = turns.take(rule.name) if len(variants) > 1 else 0
        template = variants[turn % len(variants)]
        # {match} reads the rule's any: blocks again: with the tags the rule saw, so a
        # tag a later rule added does not pick another block than the one that matched.
        facts.tags = outcome.reply_tags
        values = {
            **self._placeholders(facts),
            "team": outcome.escalation.team if outcome.escalation else self.teams.default,
            # Checks match fast on lower-cased words; the reply shows the customer's own
            # spelling, found again only when a template asks for it.
            "match": matched_text(rule.matcher.matched_text(facts))
            if "{match}" in template
            else "",
        }
        text = fill(template, values, platform=facts.mention.platform)
        return PlannedReply(rule.name, text, draft=rule.spec.then.reply is None)

    def _answer(self, rule: str, answer: Proposal, facts: Facts) -> PlannedReply:
        platform = facts.mention.platform
        text = fill(answer.entry.texts[platform], self._placeholders(facts), platform=platform)
        return PlannedReply(rule, text, answer.draft, answer.entry.id, answer.confidence)

    def _placeholders(self, facts: Facts) -> dict[str, str]:
        """The values rule templates and answers share (answers.ANSWER_PLACEHOLDERS)."""
        mention = facts.mention
        author = mention.author
        return {
            **customer_names(mention.platform, author.id, author.handle, author.display_name),
            "case": facts.context.case_ref,
            "brand": self.brand,
        }

    def _guard(self, decision: Decision, mention: Mention, context: Context) -> Decision:
        reply = decision.reply
        if reply is None:
            return decision
        reason = self._blocked(reply, mention, context)
        if reason is None:
            return decision
        escalation = decision.escalation
        if escalation is None and reason.hands_over:
            escalation = Escalation(
                "guard",
                self.teams.default,
                reason=reason.text,
                sla_minutes=self.teams.sla_minutes.get(self.teams.default),
            )
        return replace(
            decision, reply=None, escalation=escalation, notes=(f"guard: {reason.text}",)
        )

    def _blocked(self, reply: PlannedReply, mention: Mention, context: Context) -> _Block | None:
        if not mention.reply_allowed:
            return _Block(self._no_reply(mention), hands_over=True)
        limit = self.limits[mention.platform]
        length = brand_text_length(mention.platform, reply.text)
        if length > limit:
            text = f"the filled reply has {length} characters, over the {limit} limit"
            return _Block(text, hands_over=True)
        if not _says_something(reply.text):
            # "{first_name}!" for an author X sent no profile for: posted, it said nothing.
            text = "the filled reply has no words (its placeholders were empty)"
            return _Block(text, hands_over=True)
        if reply.draft:
            return None  # a person approves drafts; the caps below are for the bot
        age = context.now - mention.created_at
        if self.guards.max_age is not None and age > self.guards.max_age:
            hours = int(age.total_seconds() // 3600)
            return _Block(f"the mention is {hours} h old; the bot answers fresh mentions only")
        if context.bot_replies_in_thread >= self.guards.max_replies_per_thread:
            return _Block(f"already {context.bot_replies_in_thread} bot replies in this thread")
        last = context.last_bot_reply_to_author_at
        if last is not None and context.now - last < self.guards.author_cooldown:
            return _Block("author cooldown: the bot replied to this author recently")
        return None

    def _no_reply(self, mention: Mention) -> str:
        """Why the platform takes no reply. A search hit on X that does not name the
        posting account: X's API refuses that reply whatever the author allows, and a
        person told "the author does not allow replies" would not try X's own app,
        which can answer."""
        kind = mention.kind.value
        if mention.platform is not Platform.X or not x_refuses_unmentioned(kind, False):
            return _NO_REPLY[mention.platform]
        return unmentioned_reason(self.accounts.handles.get(Platform.X, frozenset()), kind)


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    hands_over: bool = False  # the customer still needs an answer: escalate


def _says_something(text: str) -> bool:
    """Whether a filled reply has a word or a symbol in it: an emoji ("❤️" to praise) is
    a reply; punctuation and spaces alone are what empty placeholders leave."""
    return any(ch.isalnum() or unicodedata.category(ch).startswith("S") for ch in text)
