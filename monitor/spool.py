"""Fetched history held on disk until the whole window is in, handed back oldest first.

X and Reddit return history newest first. Imported page by page in that order, a
thread's later messages were decided before its earlier ones: the case opened at the
newest message, and each older page reopened it ("customer wrote again") and decided
with reply counts and cooldowns from the future. ``inchannel backfill`` therefore reads
the whole window first, then imports it in creation order.

The mentions wait in an anonymous temporary file, not in memory: a busy brand's month
is a few hundred thousand mentions. Only a small index (time, id, offset) stays in
memory.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import IO

from monitor.domain import Mention


class Spool:
    """Mentions added in any order, unique by platform and id, read back by time."""

    def __init__(self) -> None:
        # Closed by __exit__; unlinked from the start, so nothing is left behind.
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="inchannel-backfill-")  # noqa: SIM115
        self._index: list[tuple[datetime, tuple[int, str], int]] = []  # time, id, offset
        self._seen: set[tuple[str, str]] = set()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self._index)

    def add(self, mentions: Iterable[Mention]) -> int:
        """Keep the mentions not seen before; return how many were repeats (listings
        overlap: a comment can be in a subreddit's listing and in the inbox).

        All or nothing: interrupted part way (Ctrl-C), the call leaves the spool as it
        was, never with an entry for a half-written record."""
        start, indexed = self._file.seek(0, 2), len(self._index)
        # The keys this call adds, to forget if it is interrupted: a copy of every key
        # seen, taken for each page, made a large window's fetch quadratic.
        added: list[tuple[str, str]] = []
        repeats = 0
        try:
            for mention in mentions:
                key = (mention.platform.value, mention.external_id)
                if key in self._seen:
                    repeats += 1
                    continue
                added.append(key)  # first: Ctrl-C between the two leaves no stray key
                self._seen.add(key)
                offset = self._file.tell()
                # Pickle is safe here: the file is private to this process (an unlinked
                # temporary file) and holds only what this process wrote.
                pickle.dump(mention, self._file, protocol=pickle.HIGHEST_PROTOCOL)
                self._index.append((mention.created_at, _id_order(mention), offset))
        except BaseException:
            self._file.truncate(start)
            del self._index[indexed:]
            self._seen.difference_update(added)
            raise
        return repeats

    def oldest_first(self, size: int) -> Iterator[Sequence[Mention]]:
        """Chunks of up to ``size`` mentions in creation order; equal times (X and
        Reddit give seconds) in the order of the platform's ids."""
        order = sorted(self._index)
        for start in range(0, len(order), size):
            yield [self._read(offset) for _, _, offset in order[start : start + size]]

    def created_at(self, rank: int) -> datetime:
        """The creation time of the ``rank``-th mention (from 0) in ``oldest_first``."""
        return sorted(self._index)[rank][0]

    def _read(self, offset: int) -> Mention:
        self._file.seek(offset)
        mention = pickle.load(self._file)  # noqa: S301 - our own file, see add()
        assert isinstance(mention, Mention)
        return mention


def _id_order(mention: Mention) -> tuple[int, str]:
    # X ids are numbers and Reddit's base 36 (0-9 before a-z), both handed out in
    # order: shorter first, then by character, is creation order on either platform.
    return len(mention.external_id), mention.external_id
