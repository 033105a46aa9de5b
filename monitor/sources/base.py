"""The Source protocol every platform adapter implements."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from monitor.clock import Clock
from monitor.domain import Mention


@dataclass(frozen=True, slots=True)
class PollResult:
    """One page from a source.

    ``cursor`` is stored in the same transaction as ``mentions``; ``more`` says another
    page is ready now. ``problems`` are items the source skipped, with the reason.
    ``details`` (optional) is merged into source_state.details in that transaction.
    """

    mentions: Sequence[Mention]
    cursor: str | None
    more: bool = False
    problems: Sequence[str] = field(default=())
    rate_limit_reset_at: datetime | None = None
    # Merged into source_state.details (shown in status): rate limits, disabled parts.
    details: Mapping[str, Any] | None = None
    # Thread context for the mentions (parents, the submission): stored, never acted on.
    context: Sequence[Mention] = field(default=())
    # Whether everything there was has been read (the cursor lag counts from this poll).
    # None: when no more pages are ready. A page that waits on a rate limit is not ready
    # now (``more`` is false) and yet not read either: X's sweep cut short says False.
    caught_up: bool | None = None
    # The order pages come in while pages wait, which says where the unread mentions
    # are (the cursor lag): X and Reddit answer newest first, so the oldest are unread;
    # a replay file is served oldest first, so the newest are.
    newest_first: bool = True
    # The poll failed after reading part of what it reads (one Reddit listing of
    # several): ``mentions`` and ``cursor`` hold the part read, stored as any page is,
    # and the poll still counts as failed (back-off, status, metrics).
    error: SourceError | None = None
    # The kinds of failed reads in a poll that still succeeded (a Reddit listing that
    # failed after the others were read): not a failed poll, and still counted in
    # inchannel_source_errors_total, or a listing failing for hours showed there as 0.
    read_errors: Sequence[str] = ()


class SourceError(Exception):
    """A poll failed. ``permanent`` stops the source until an operator acts.

    ``kind`` names the failure for the metrics (``inchannel_source_errors_total``):
    rate_limited, auth, forbidden, bad_request, server, transport, ... Left empty it is
    derived: ``permanent``, ``rate_limited`` (a retry time) or ``temporary``.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_at: datetime | None = None,
        kind: str = "",
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_at = retry_at
        derived = "permanent" if permanent else "rate_limited" if retry_at else "temporary"
        self.kind = kind or derived


class Source(Protocol):
    name: str

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        """Return mentions newer than ``cursor`` (None: from the start)."""
        ...


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of history to import: ``since`` inclusive, ``until`` exclusive (None: now)."""

    since: datetime
    until: datetime | None = None

    def __contains__(self, moment: object) -> bool:
        if not isinstance(moment, datetime):
            return False
        return self.since <= moment and (self.until is None or moment < self.until)


def rerun_from(first: datetime, window: Window) -> str:
    """The rerun that imports the rest of ``window`` from ``first``, the earliest of its
    mentions not imported (the import runs oldest first; a replay file is read in its
    own order).

    Everything written before it is stored: rerun as it was, the window was read again
    from its newest post, and on X billed again. A
    parent fetched for a thread may predate --since: the rerun fetches it again with its
    thread, and a wider window would read (and X bill) more than was asked for. The
    second is rounded down (--since is inclusive): the mentions of that second already
    imported are skipped as stored."""
    since = max(first, window.since).astimezone(UTC).replace(microsecond=0)
    command = window_flags(Window(since, window.until))
    return (
        f"the rest was written from {since:%Y-%m-%d %H:%M:%S} UTC on: rerun with {command} "
        "to import it (stored mentions are skipped)"
    )


def rerun_until(what: str, oldest: datetime) -> str:
    """How to read the rest of ``what``, read newest first back to ``oldest``: everything
    newer was read. --until is exclusive, so the second after it (the posts of that
    second that were read are skipped as stored; none is missed)."""
    until = oldest.replace(microsecond=0) + timedelta(seconds=1)
    return (
        f"{what} was read back to {oldest:%Y-%m-%d %H:%M:%S} UTC: to go on from there, "
        f"rerun with --until {until:%Y-%m-%dT%H:%M:%S}"
    )


def window_flags(window: Window) -> str:
    """``window`` as the command's --since and --until, in UTC."""
    flags = f"--since {_moment(window.since)}"
    # --until is exclusive: never rounded, or the rest of its last second was left out.
    return flags if window.until is None else f"{flags} --until {_moment(window.until)}"


def _moment(at: datetime) -> str:
    at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="seconds" if at.microsecond == 0 else "microseconds")


class FetchInterrupted(KeyboardInterrupt):
    """Ctrl-C while a source read history; the message says how to go on from there."""


class BackfillRefused(Exception):
    """A source cannot serve this window (or any): the message says why and what works."""


@runtime_checkable
class Backfillable(Protocol):
    """A source that can also read history by time, for ``inchannel backfill``."""

    name: str

    def backfill(self, window: Window, *, clock: Clock) -> Iterator[PollResult]:
        """Pages of the mentions created inside ``window``; ``cursor`` is unused.
        ``clock``, not a moment: a run can take hours (and cross midnight), and each
        request is budgeted and billed as of when it is made.

        Raise BackfillRefused before the first request when the window is out of the
        platform's reach, SourceError when a request fails."""
        ...
