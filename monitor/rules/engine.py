"""Turn one inbound message into a Decision: which rules matched and what to do."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.domain import Decision, Escalation, Mention, PlannedReply, Platform, Score
from monitor.rules.model import Rule, fill

DEFAULT_TEAM = "care"


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a rule may look at besides the mention and its score."""

    now: datetime
    case_ref: str
    own_post: bool = False
    bot_replies_in_thread: int = 0
    last_bot_reply_to_author_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Guards:
    max_replies_per_thread: int = 2
    author_cooldown: timedelta = timedelta(minutes=30)


class RuleEngine:
    def __init__(
        self, rules: Sequence[Rule], *, brand: str = "", guards: Guards | None = None
    ) -> None:
        # Safety rules (ignore/stop) run first, as AutoModerator runs removals first;
        # then by explicit priority (higher first), then file order.
        self.rules = sorted(
            rules,
            key=lambda r: (not (r.spec.then.ignore or r.spec.then.stop), -r.spec.priority, r.order),
        )
        self.brand = brand
        self.guards = guards or Guards()

    def decide(self, mention: Mention, score: Score, context: Context) -> Decision:
        if context.own_post:
            return Decision(ignored=True, notes=("guard: the brand's own post is never acted on",))
        matched: list[str] = []
        tags: list[str] = []
        reply: PlannedReply | None = None
        escalation: Escalation | None = None
        for rule in self.rules:
            hit = _match(rule, mention, score)
            if hit is None:
                continue
            matched.append(rule.name)
            then = rule.spec.then
            if then.ignore:
                return Decision(matched=tuple(matched), ignored=True, tags=tuple(tags))
            tags.extend(t for t in then.tag or [] if t not in tags)
            if escalation is None and then.escalate is not None:
                spec = then.escalate
                escalation = Escalation(rule.name, spec.team, spec.priority, spec.reason)
            if reply is None and (then.reply or then.draft):
                reply = self._reply(rule, mention, context, hit, escalation)
            if then.stop:
                break
        return self._guard(
            Decision(tuple(matched), reply, escalation, tuple(tags)), mention, context
        )

    def _reply(
        self,
        rule: Rule,
        mention: Mention,
        context: Context,
        hit: str,
        escalation: Escalation | None,
    ) -> PlannedReply:
        then = rule.spec.then
        variants = then.reply or then.draft or []
        # Rotate variants per mention so repeated replies differ: X rejects duplicate
        # text and suspends apps that post it.
        digest = hashlib.sha256(f"{rule.name}:{mention.external_id}".encode()).digest()
        template = variants[digest[0] % len(variants)]
        values = {
            "author": _display_handle(mention),
            "first_name": _first_name(mention),
            "case": context.case_ref,
            "team": escalation.team if escalation else DEFAULT_TEAM,
            "match": hit,
            "brand": self.brand,
        }
        return PlannedReply(rule.name, fill(template, values), draft=not then.reply)

    def _guard(self, decision: Decision, mention: Mention, context: Context) -> Decision:
        if decision.reply is None or decision.reply.draft:
            return decision
        reason = self._blocked(mention, context)
        if reason is None:
            return decision
        escalation = decision.escalation
        if escalation is None and not mention.reply_allowed:
            escalation = Escalation("guard", DEFAULT_TEAM, reason=reason)
        return Decision(
            decision.matched, None, escalation, decision.tags, notes=(f"guard: {reason}",)
        )

    def _blocked(self, mention: Mention, context: Context) -> str | None:
        if not mention.reply_allowed:
            return "the author does not allow replies to this post"
        if context.bot_replies_in_thread >= self.guards.max_replies_per_thread:
            return f"already {context.bot_replies_in_thread} bot replies in this thread"
        last = context.last_bot_reply_to_author_at
        if last is not None and context.now - last < self.guards.author_cooldown:
            return "author cooldown: the bot replied to this author recently"
        return None


def _match(rule: Rule, mention: Mention, score: Score) -> str | None:
    """The matched text ("" when the rule has no text check), or None for no match."""
    match = rule.spec.match
    if match.platform is not None and mention.platform.value not in match.platform:
        return None
    if match.kind is not None and mention.kind not in match.kind:
        return None
    if match.label is not None and score.label not in match.label:
        return None
    if match.compound_below is not None and not score.compound < match.compound_below:
        return None
    if match.compound_above is not None and not score.compound > match.compound_above:
        return None
    if rule.pattern is None:
        return ""
    found = rule.pattern.search(mention.text)
    return found.group(0) if found else None


def _display_handle(mention: Mention) -> str:
    prefix = "u/" if mention.platform is Platform.REDDIT else "@"
    return prefix + mention.author.handle


def _first_name(mention: Mention) -> str:
    name = mention.author.display_name.strip().split()
    return name[0] if name else mention.author.handle
