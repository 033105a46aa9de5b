"""Which rules can match a mention at all, found with a few set operations.

Rules are indexed by the sentiment labels they allow and by a word (whole) or literal
(anywhere) their text condition cannot match without. Per mention only the rules the
index returns are evaluated; with a hundred rules that is usually under ten
(bench/rules.py; tests/test_rules_index.py checks decisions are unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.domain import Label
from monitor.rules.context import Facts
from monitor.rules.model import Rule


@dataclass(frozen=True, slots=True)
class _LabelIndex:
    always: list[int]  # rules to try on every mention with this label
    by_word: dict[str, list[int]]  # ... only when the word occurs as a whole word
    by_literal: dict[str, list[int]]  # ... only when the literal occurs anywhere


class RuleIndex:
    def __init__(self, rules: list[Rule]) -> None:
        labels = frozenset(label.value for label in Label)
        self._by_label = {label: _LabelIndex([], {}, {}) for label in labels}
        for position, rule in enumerate(rules):
            words = rule.matcher.required_tokens()
            literals = () if words is not None else rule.matcher.required_literals()
            for label in rule.matcher.allowed_values("label", labels):
                entry = self._by_label[label]
                for word in words or ():
                    entry.by_word.setdefault(word, []).append(position)
                for literal in literals:
                    entry.by_literal.setdefault(literal, []).append(position)
                if words is None and not literals:
                    entry.always.append(position)

    def candidates(self, facts: Facts) -> list[int]:
        """Positions (in evaluation order) of the rules that can match."""
        index = self._by_label[facts.label]
        positions = set(index.always)
        for word in facts.words & index.by_word.keys():
            positions.update(index.by_word[word])
        lowered = facts.lowered
        for literal, found in index.by_literal.items():
            if literal in lowered:
                positions.update(found)
        return sorted(positions)
