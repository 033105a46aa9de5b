"""What matched rules add up to. Each rule's actions are turned into a RulePlan once,
when the engine is built, so applying a matched rule is a few attribute reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.answers.answerer import Proposal
from monitor.domain import Escalation, Priority
from monitor.rules.model import AnswerAction, Rule


@dataclass(frozen=True, slots=True)
class Teams:
    """Team facts the engine needs: SLAs for escalations and where guards send cases."""

    sla_minutes: Mapping[str, int]
    default: str = "care"


@dataclass(frozen=True, slots=True)
class RulePlan:
    rule: Rule
    name: str
    tags: tuple[str, ...]
    ignore: bool
    stop: bool
    escalation: Escalation | None
    replies: bool
    assign: str | None
    priority: Priority | None
    answer: AnswerAction | None = None


def plan(rule: Rule, teams: Teams) -> RulePlan:
    then = rule.spec.then
    escalation = None
    if then.escalate is not None:
        spec = then.escalate
        sla = spec.sla_minutes or teams.sla_minutes.get(spec.team)
        escalation = Escalation(
            rule.name, spec.team, spec.priority, spec.reason, tuple(spec.channels), sla
        )
    return RulePlan(
        rule, rule.name, tuple(then.tag or ()), then.ignore, then.stop, escalation,
        bool(then.templates), then.assign, then.set_priority, then.answer,
    )  # fmt: skip


class Outcome:
    """The decision being built, in evaluation order. The first rule wins for every
    single-valued action (reply, escalation, assignee, priority); tags add up."""

    __slots__ = (
        "answer", "assignee", "escalation", "ignored", "matched", "priority", "reply_rule",
        "reply_tags", "tags",
    )  # fmt: skip

    def __init__(self) -> None:
        self.matched: list[str] = []
        self.tags: list[str] = []
        self.escalation: Escalation | None = None
        self.reply_rule: Rule | None = None
        self.reply_tags: frozenset[str] = frozenset()  # the tags the reply rule saw
        self.assignee: str | None = None
        self.priority: Priority | None = None
        self.ignored = False
        self.answer: Proposal | None = None

    def add(self, step: RulePlan, answer: Proposal | None = None) -> bool:
        """Apply one matched rule; return True when no later rule may run."""
        self.matched.append(step.name)
        seen = len(self.tags)
        for tag in step.tags:
            if tag not in self.tags:
                self.tags.append(tag)
        if step.ignore:
            self.ignored = True
            return True
        self.escalation = self.escalation or step.escalation
        if self.reply_rule is None and (step.replies or answer is not None):
            # An answer rule that found no entry leaves the reply to later rules.
            self.reply_rule, self.answer = step.rule, answer
            self.reply_tags = frozenset(self.tags[:seen])
        self.assignee = self.assignee or step.assign
        self.priority = self.priority or step.priority
        return step.stop
