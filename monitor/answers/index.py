"""Whether any knowledge-base entry can answer a question at all, found with a few set
lookups before the question is ranked.

An entry is a hit only when the question shares a word with one of its example
questions (BM25 scores every other example 0, and Retriever.search drops those) and,
where the entry has them, with its keywords and its requires words (Entry.admits, which
Answerer.assess applies to every hit). Each entry is filed under the shortest of those
lists, as monitor/rules/index.py files rules under the words they need; the others are
checked for the few entries a question's words reach. Most questions name no entry's
keyword, and ranking them cost more than the rest of the lookup
(tests/test_answers_index.py checks assessments are unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.answers.model import Entry


class EntryIndex:
    def __init__(self, entries: Sequence[Entry], examples: Mapping[str, frozenset[str]]) -> None:
        """``examples``: each entry's words of its example questions (stemmed), by id; an
        entry without any is never a hit, so it is left out."""
        self._by_word: dict[str, list[tuple[Entry, frozenset[str]]]] = {}
        for entry in entries:
            words = examples.get(entry.id, frozenset())
            if not words:
                continue
            # The shortest list is usually the rarest: fewer questions reach the entry.
            lists = [found for found in (entry.keywords, entry.requires, words) if found]
            for word in min(lists, key=len):
                self._by_word.setdefault(word, []).append((entry, words))

    def may_match(self, words: set[str] | frozenset[str]) -> bool:
        """Whether some entry can be a hit for a question of these (stemmed) words."""
        for word in words & self._by_word.keys():
            for entry, examples in self._by_word[word]:
                if entry.admits(words) and not examples.isdisjoint(words):
                    return True
        return False
