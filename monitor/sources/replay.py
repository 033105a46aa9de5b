"""A source that serves mentions from a JSONL file, page by page, as a platform would.

The demo, ``--dry-run``, ``rules test``, the benchmarks and the tests all use it. The
cursor is the number of lines already served, so a restart resumes where it stopped.

With ``shift_to_now`` (the demo's), every time a mention carries is moved by one offset,
fixed at the source's first read: the file's newest mention lands at that moment and the
gaps between mentions (and to their authors' account creation) stay as written. Fixed
sample dates otherwise aged with the calendar: replies posted weeks after the messages
they answered, absurd SLA ages, and an empty 30-day report a month on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from monitor.clock import Clock
from monitor.domain import MAX_FOLLOWERS, Author, Mention, MessageKind, Platform, utc
from monitor.sources.base import FetchInterrupted, PollResult, SourceError, Window, rerun_from

log = logging.getLogger(__name__)

REQUIRED = ("platform", "id", "author", "author_id", "text", "created_at", "conversation_id")
KINDS = {k.value for k in MessageKind}
# The widths of the columns these values are stored in (monitor/store/models.py). A
# longer value makes PostgreSQL refuse the whole page, and the source would fail on that
# page at every poll without ever passing it: such a line is a bad line instead.
WIDTHS = {
    "id": 64,
    "author_id": 64,
    "conversation_id": 64,
    "in_reply_to": 64,
    "author": 128,
    "author_name": 256,
    "url": 512,
    "lang": 16,
}
# Platforms' ids are numbers written as text; a file may write them as JSON numbers.
NUMBERED = frozenset({"id", "author_id", "conversation_id", "in_reply_to"})
UNFINISHED = "(the last line, without a newline yet: read again at the next poll)"


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def parse_mention(obj: Any) -> Mention:
    """Build a Mention from one replay object; raise ValueError with a clear reason."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    missing = [key for key in REQUIRED if obj.get(key) in (None, "") and key != "text"]
    if "text" not in obj:
        missing.append("text")
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    try:
        platform = Platform(obj["platform"])
    except ValueError:
        raise ValueError(f"platform must be 'x' or 'reddit', not {obj['platform']!r}") from None
    if not isinstance(obj["text"], str):
        raise ValueError("text must be a string")
    kind = obj.get("kind", "mention")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, not {kind!r}")
    author = Author(
        id=_text(obj, "author_id"),
        handle=_text(obj, "author").lstrip("@"),
        display_name=_text(obj, "author_name"),
        followers=_optional_int(obj, "author_followers"),
        verified=_flag(obj, "author_verified", default=False),
        account_created_at=(
            None
            if obj.get("author_created_at") is None
            else _timestamp(obj["author_created_at"], "author_created_at")
        ),
    )
    return Mention(
        platform=platform,
        external_id=_text(obj, "id"),
        author=author,
        text=obj["text"],
        created_at=_timestamp(obj["created_at"], "created_at"),
        conversation_id=_text(obj, "conversation_id"),
        in_reply_to=_text(obj, "in_reply_to") or None,
        url=_text(obj, "url") or None,
        lang=_text(obj, "lang") or None,
        reply_allowed=_flag(obj, "reply_allowed", default=True),
        kind=MessageKind(kind),
    )


def _text(obj: dict[str, Any], key: str) -> str:
    """``obj[key]`` as text ("" when absent or null), no wider than its column."""
    value = obj.get(key)
    if value is None:
        return ""
    # str() of a list or an object made an id such as "['x']": stored, never matched.
    if isinstance(value, int) and not isinstance(value, bool) and key in NUMBERED:
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        kind = "a string or a whole number" if key in NUMBERED else "a string"
        raise ValueError(f"{key} must be {kind}, not {_shown(value)}")
    width = WIDTHS[key]
    if len(text) > width:
        raise ValueError(f"{key} is longer than {width} characters ({len(text)})")
    return text


def _flag(obj: dict[str, Any], key: str, *, default: bool) -> bool:
    """``obj[key]``, a JSON true or false: bool("false") is True, so a line's
    "reply_allowed": "false" let the daemon answer where the platform allows no reply."""
    if key not in obj:
        return default
    value = obj[key]
    if value is None:
        return False  # as it always read: null must not turn into a reply allowed
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, not {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A JSON value for a message: its kind for a list or an object, else the value."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value[:40] if isinstance(value, str) else value)


def _optional_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer")
    if not 0 <= value <= MAX_FOLLOWERS:
        raise ValueError(f"{key} must be between 0 and {MAX_FOLLOWERS}")
    return value


def _timestamp(value: Any, key: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO 8601 string")
    try:
        # In UTC here, as Mention stores it: an offset that pushes a time out of
        # datetime's range (year 1 or 9999) raises OverflowError, not ValueError.
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        raise ValueError(f"{key} is not an ISO 8601 time: {value[:40]!r}") from None


def read_jsonl(lines: Iterable[str], *, first: int = 1) -> Iterator[Mention | LineProblem]:
    """Yield a Mention per good line and a LineProblem per bad one; blank lines are skipped.

    ``first`` is the line number of the first line, for the messages."""
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            yield parse_mention(json.loads(line))
        except json.JSONDecodeError as exc:
            # Some of json's messages end in "at" already ("Invalid control character at").
            reason = exc.msg.removesuffix(" at")
            yield LineProblem(number, f"invalid JSON: {reason} at column {exc.colno}")
        except RecursionError:
            # json's decoder recurses per nesting level; a hostile line must not stop
            # the file (the source would fail on it at every poll).
            yield LineProblem(number, "invalid JSON: nested too deeply")
        except (ValueError, TypeError) as exc:
            yield LineProblem(number, str(exc))


def load_jsonl(path: Path) -> tuple[list[Mention], list[LineProblem]]:
    mentions: list[Mention] = []
    problems: list[LineProblem] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for item in read_jsonl(handle):
            (problems if isinstance(item, LineProblem) else mentions).append(item)  # type: ignore[arg-type]
    return mentions, problems


@dataclass(frozen=True, slots=True)
class _Place:
    """Where the file stands after ``served`` mentions: its byte offset and line number."""

    served: int
    offset: int
    line: int


class ReplaySource:
    """Serves a JSONL file in pages; the cursor is the count of mentions served.

    The file is streamed, never loaded whole, so a 100,000-line backfill costs one
    page of memory. The place after the last page is remembered, so the next poll
    seeks straight to it; only a restart (or a cursor from elsewhere) re-reads the
    file from the top to count mentions.
    """

    def __init__(
        self, name: str, path: Path, *, page_size: int = 20, shift_to_now: bool = False
    ) -> None:
        self.name = name
        self.path = path
        self.page_size = page_size
        self.shift_to_now = shift_to_now
        self._next = _Place(0, 0, 0)
        # The offset of shift_to_now, fixed at the first read so that a thread's parent
        # and its replies (served in different pages) move together.
        self._shift: timedelta | None = None

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        start = _offset(cursor)
        try:
            with self.path.open("rb") as handle:
                place = self._seek(handle, start)
                page, problems, place = _read_page(handle, place, self.page_size)
                more = _another_mention(handle, place.line)
            page = self._moved(page, now)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from None
        for problem in problems:
            log.warning("replay %s: %s:%s", self.name, self.path, problem)
        self._next = place
        return PollResult(
            page,
            str(place.served),
            more=more,
            problems=[str(p) for p in problems],
            # In the file's order, which a replay file keeps oldest first as posts
            # arrive: the cursor lag counts a backlog from the newest mention read.
            newest_first=False,
        )

    def backfill(self, window: Window, *, clock: Clock) -> Iterator[PollResult]:
        """The file's mentions created inside ``window``, in pages, streamed. Ctrl-C
        raises FetchInterrupted with the --since that imports the rest."""
        now = clock.now()
        # The file's items (mentions and bad lines) read, and those handed over in pages.
        read = handed = 0
        try:
            # Shifted before the window is applied: the window is in the times the
            # daemon stores for these mentions, not the file's.
            self._shift_for(now)
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                page: list[Mention] = []
                problems: list[str] = []
                for read, item in enumerate(read_jsonl(handle), start=1):
                    if isinstance(item, LineProblem):
                        problems.append(str(item))
                        continue
                    (item,) = self._moved([item], now)
                    if item.created_at in window:
                        page.append(item)
                    if len(page) == self.page_size:
                        handed = read
                        yield PollResult(page, None, more=True, problems=problems)
                        page, problems = [], []
            handed = read
            yield PollResult(page, None, more=False, problems=problems)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from None
        except KeyboardInterrupt:
            raise FetchInterrupted(self._rest(window, now, handed)) from None

    def _rest(self, window: Window, now: datetime, handed: int) -> str:
        """How to import what the file holds for ``window`` past its first ``handed``
        items. The earliest of them, not the last one fetched: nothing keeps a file in
        time order, and a --since past an older line left it out for good. A local file,
        so reading it again is quick next to the import that follows."""
        first: datetime | None = None
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for item in islice(read_jsonl(handle), handed, None):
                if isinstance(item, LineProblem):
                    continue
                (item,) = self._moved([item], now)
                if item.created_at in window and (first is None or item.created_at < first):
                    first = item.created_at
        if first is None:
            return "the rest of the file holds nothing inside the window: nothing is left"
        return rerun_from(first, window)

    def _shift_for(self, now: datetime) -> timedelta:
        """The shift_to_now offset, computed at the first call (zero when off or the
        file has no mention). Reads the whole file once, streamed."""
        if self._shift is None:
            newest: datetime | None = None
            if self.shift_to_now:
                with self.path.open(encoding="utf-8", errors="replace") as handle:
                    for item in read_jsonl(handle):
                        if isinstance(item, Mention) and (
                            newest is None or item.created_at > newest
                        ):
                            newest = item.created_at
            self._shift = timedelta(0) if newest is None else now - newest
        return self._shift

    def _moved(self, page: list[Mention], now: datetime) -> list[Mention]:
        """``page`` with shift_to_now applied; unchanged when it is off."""
        if not self.shift_to_now or not page:
            return page
        shift = self._shift_for(now)
        # A line appended after the offset was fixed, dated after the file's newest
        # then, would land in the future: no post is written later than it is read.
        return [
            replace(
                m,
                created_at=_shifted(m.created_at, shift, now),
                author=_moved_author(m.author, shift),
            )
            for m in page
        ]

    def _seek(self, handle: BinaryIO, start: int) -> _Place:
        if self._next.served != start or start == 0:
            self._next = _Place(0, 0, 0)
            if start:
                _, _, self._next = _read_page(handle, self._next, start)
        handle.seek(self._next.offset)
        return self._next


def _shifted(at: datetime, shift: timedelta, now: datetime) -> datetime:
    """``at`` moved by ``shift``, never after ``now``."""
    try:
        return min(at + shift, now)
    except OverflowError:
        # Past year 9999 only moving forward (then it is clamped to now anyway); moving
        # back, past year 1: the earliest time there is.
        return now if shift > timedelta(0) else datetime.min.replace(tzinfo=UTC)


def _moved_author(author: Author, shift: timedelta) -> Author:
    """The author with the account's creation moved as its mentions are, so rules on
    account age see the age the file describes."""
    if author.account_created_at is None:
        return author
    try:
        return replace(author, account_created_at=author.account_created_at + shift)
    except OverflowError:
        # A creation date near year 1 with a large shift back: unknown, never matched.
        return replace(author, account_created_at=None)


def _read_page(
    handle: BinaryIO, place: _Place, size: int
) -> tuple[list[Mention], list[LineProblem], _Place]:
    """Up to ``size`` mentions from ``place`` on, the bad lines among them, and where
    the file stands after the last mention read."""
    page: list[Mention] = []
    problems: list[LineProblem] = []
    handle.seek(place.offset)
    line_number, offset = place.line, place.offset
    while len(page) < size:
        raw = handle.readline()
        if not raw:
            break
        items = list(read_jsonl([raw.decode("utf-8", errors="replace")], first=line_number + 1))
        if not raw.endswith(b"\n") and any(isinstance(i, LineProblem) for i in items):
            # The writer may not have finished it (a script's write in pieces, an editor
            # saving): passed now, it would be lost once complete.
            problems.extend(
                LineProblem(i.line, f"{i.message} {UNFINISHED}")
                for i in items
                if isinstance(i, LineProblem)
            )
            break
        line_number, offset = line_number + 1, offset + len(raw)
        for item in items:
            (problems if isinstance(item, LineProblem) else page).append(item)  # type: ignore[arg-type]
    return page, problems, _Place(place.served + len(page), offset, line_number)


def _another_mention(handle: BinaryIO, line_number: int) -> bool:
    """Whether a good mention follows (the file position is left where it was)."""
    for raw in handle:
        line_number += 1
        if any(
            isinstance(item, Mention)
            for item in read_jsonl([raw.decode("utf-8", errors="replace")], first=line_number)
        ):
            return True
    return False


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        return max(0, int(cursor))
    except ValueError:
        raise SourceError(f"replay cursor must be a number, not {cursor[:40]!r}") from None
