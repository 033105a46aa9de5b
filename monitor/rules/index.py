"""Which rules can match a mention at all, found with a few set operations.

Rules are indexed by the sentiment labels they allow and by words (whole) or literals
(anywhere) their text conditions cannot match without, any: blocks included
(checks.Needs). Per mention only the rules the index returns are evaluated; with a
hundred rules that is usually under ten (bench/rules.py; tests/test_rules_index.py
checks decisions are unchanged).
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
        self._by_label = {label.value: _LabelIndex([], {}, {}) for label in Label}
        for position, rule in enumerate(rules):
            for label, entry in self._by_label.items():
                # Per label: an any: block whose other branches need a word can leave a
                # label-only branch (label: negative) unindexed for that label alone.
                needs = rule.matcher.needs(label)
                if needs is None:
                    entry.always.append(position)
                    continue
                for word in needs.words:
                    entry.by_word.setdefault(word, []).append(position)
                for literal in needs.literals:
                    entry.by_literal.setdefault(literal, []).append(position)

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
