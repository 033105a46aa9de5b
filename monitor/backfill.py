"""``inchannel backfill``: import history through the live pipeline, answering nothing.

The whole window is fetched first (``monitor.spool``), then imported oldest first, so a
thread's messages are decided in the order they were written, as the live daemon would
have decided them: X and Reddit return history newest first.

Each chunk of the import is stored and processed in one transaction, so the daemon
(which processes only committed, unprocessed rows) never sees a backfilled message half
done. Every message is decided as of its own creation time, so the rules' age guard,
business hours, reply cap and cooldowns judge it as they would have live. Then, in the
same transaction:

- the replies, drafts and escalation notices it queued become ``suppressed`` actions,
  which dispatch never claims: the case shows what the bot would have done;
- the cases it opened are tagged ``backfill`` and resolved, without SLA clocks or bot
  reply counts, so they fill no queue and raise no alert; a live mention in the same
  thread later reopens one like any resolved case. A later chunk of the same run
  resumes such a case where its decisions left it (``monitor.backfill_carry``);
- a message that belongs to a case opened before the backfill (by the live daemon) is
  linked and scored but not decided: an old message must not move a live case; nor
  does one written before its case was resolved (older history than an earlier run
  imported, a case a person took up and closed) reopen it;
- the authors' reply cooldowns are left as they were;
- a message written after the source's live poll last caught up is not history: it is
  stored unprocessed, for the daemon to decide and answer (its poll skips it as stored).

The source's live cursor and lease are never touched, and messages already stored are
skipped by their unique id, so a backfill can run next to the daemon and be rerun.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from monitor import cases
from monitor.alerting import Downtime, record_backfill
from monitor.backfill_carry import (
    ACTOR,
    Carry,
    Key,
    earlier_cooldowns,
    resume,
    settle,
)
from monitor.domain import ActionKind, ActionStatus, CaseState, Mention, MessageKind
from monitor.ingest import (
    known_authors,
    message_row,
    read_through,
    upsert_customers,
)  # the live ingest's rows, exactly
from monitor.metrics import decision_types
from monitor.processing import process_batch  # the live processing path, exactly
from monitor.runtime import Runtime
from monitor.sources.base import (
    Backfillable,
    BackfillRefused,
    FetchInterrupted,
    PollResult,
    SourceError,
    Window,
    rerun_from,
    window_flags,
)
from monitor.spool import Spool
from monitor.store.context import promote_context, store_context
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer, Message, SourceState
from monitor.store.queries import insert_new_ids, locked
from monitor.threads import BACKFILL_TAG

TAG = BACKFILL_TAG

log = logging.getLogger("inchannel.backfill")


@dataclass
class BackfillReport:
    fetched: int = 0  # mentions inside the window the source returned
    ingested: int = 0
    duplicates: int = 0  # already stored (by the daemon or an earlier backfill)
    cases_opened: int = 0
    joined_live: int = 0  # linked to a case opened before the backfill, not decided
    joined_resolved: int = 0  # linked to a case resolved after they were written, not decided
    left_to_daemon: int = 0  # written after the live poll last caught up: not history
    decisions: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0
    problems: list[str] = field(default_factory=list)
    failure: str | None = None  # why fetching stopped early; what was fetched is imported
    importing: bool = False  # False while fetching, True once importing
    to_import: int = 0  # fetched, less the repeats between pages
    imported: int = 0  # of ``to_import``, handled so far (new or duplicate)


def backfillable(rt: Runtime, name: str) -> Backfillable:
    """Source ``name``, if a backfill of it can run; BackfillRefused says why not."""
    if rt.rules is None:
        # The command's runtime loads the rules optionally (as case work does), and they
        # are first needed at the import: refused there, the whole window had been read
        # and billed for nothing.
        raise BackfillRefused(
            f"the rules are not loaded: {rt.rules_problem()}; "
            "fix them (inchannel check-config) and run the backfill again"
        )
    source = rt.sources.get(name)
    if source is None:
        known = ", ".join(sorted(rt.sources)) or "none"
        raise BackfillRefused(f"unknown source {name!r} (enabled sources: {known})")
    if not isinstance(source, Backfillable):
        kind = rt.settings.source(name).type
        raise BackfillRefused(
            f"source {name} ({kind}) cannot backfill; replay, x_mentions, x_search, "
            "reddit_inbox, reddit_subreddit and reddit_search sources can"
        )
    return source


def backfill(
    rt: Runtime,
    name: str,
    window: Window,
    *,
    on_page: Callable[[BackfillReport], None] | None = None,
) -> BackfillReport:
    """Fetch ``window`` from source ``name``, then import it oldest first.

    BackfillRefused propagates. A source failing part way (or Ctrl-C while fetching)
    stops the fetching with ``report.failure`` set; what was fetched is still imported.
    """
    source = backfillable(rt, name)
    report = BackfillReport()
    notify = on_page or (lambda _: None)
    with Spool() as spool:
        _fetch(rt, source, window, spool, report, notify)
        fetched_all = report.failure is None
        report.importing, report.to_import = True, len(spool)
        report = _import_all(rt, name, spool, window, report, notify)
        read = _read_span(rt, window, spool, report, fetched_all=fetched_all)
    if read is not None:
        with transaction(rt.sessions) as session:
            record_backfill(session, read)
    return report


def _read_span(
    rt: Runtime, window: Window, spool: Spool, report: BackfillReport, *, fetched_all: bool
) -> Downtime | None:
    """The part of ``window`` this run read and imported in full, for the spike baseline
    (monitor.spikes): its mentions are then no sign of when the daemon began watching,
    and its hours count only where they reach the hours the daemon watched.

    A run stopped part way records the part it finished: left unrecorded, an old
    range's mentions dated the history back to them, and the hours up to the daemon's
    first read (read by nobody) averaged in as quiet ones, a steady rate reported as a
    spike. The import runs oldest first, so a stopped import has everything before the
    first mention it did not import. A fetch that stopped read from the oldest mention
    it returned to the newest (X and Reddit read newest first, page after page, so the
    span has no hole); beyond them nothing is known."""
    now, imported, total = rt.clock.now(), report.imported, len(spool)
    if not fetched_all and total == 0:
        return None
    start = window.since if fetched_all else spool.created_at(0)
    if imported < total:
        end = spool.created_at(imported)
    elif fetched_all:
        end = now if window.until is None else window.until
    else:
        # Exclusive, and the newest mention fetched is inside it.
        end = spool.created_at(total - 1) + timedelta(microseconds=1)
    end = min(end, now)
    return Downtime(start, end) if start < end else None


def _import_all(
    rt: Runtime,
    name: str,
    spool: Spool,
    window: Window,
    report: BackfillReport,
    notify: Callable[[BackfillReport], None],
) -> BackfillReport:
    """Import the spool chunk by chunk, each in its own transaction. Ctrl-C or an error
    (the database locked, a deadlock with the daemon) stops at once: the chunk being
    imported rolls back, and the report counts what was committed, so the summary says
    what a rerun has left to do, and the --since it starts from."""
    committed, carry = copy.deepcopy(report), Carry()
    try:
        # Inside: Ctrl-C as the progress turns to importing is one while importing (the
        # summary, the --since to go on from), not a bare "Aborted!".
        notify(report)
        for chunk in spool.oldest_first(rt.settings.processing.batch_size):
            with transaction(rt.sessions) as session:
                _import(rt, session, name, chunk, report, carry)
            committed = copy.deepcopy(report)
            notify(report)
    except KeyboardInterrupt:
        return _stopped(committed, "interrupted while importing", spool, window)
    except Exception as exc:
        log.exception("backfill of %s: importing failed", name)
        why = f"importing failed ({type(exc).__name__}, logged above)"
        return _stopped(committed, why, spool, window)
    return report


def _stopped(committed: BackfillReport, why: str, spool: Spool, window: Window) -> BackfillReport:
    stopped = f"{why}, {committed.imported} of {committed.to_import} imported"
    if committed.imported < committed.to_import:
        stopped += f"; {rerun_from(spool.created_at(committed.imported), window)}"
    committed.failure = "; ".join(filter(None, [committed.failure, stopped]))
    return committed


def _fetch(
    rt: Runtime,
    source: Backfillable,
    window: Window,
    spool: Spool,
    report: BackfillReport,
    notify: Callable[[BackfillReport], None],
) -> None:
    pages = source.backfill(window, clock=rt.clock)

    def take(page: PollResult) -> None:
        _take(rt, source.name, page, spool, report)

    try:
        for page in pages:
            take(page)
            notify(report)
    # X bills every read: whatever stops the fetching, what was fetched is imported
    # rather than thrown away (the summary and exit 1 follow the import).
    except BackfillRefused:
        raise  # the window is out of the source's reach: nothing was fetched
    except SourceError as exc:
        report.failure = str(exc)
    except KeyboardInterrupt as exc:
        report.failure = _interrupted(pages, exc, take, window)
    except Exception as exc:  # a database error storing context, a bug in a source
        log.exception("backfill of %s: fetching failed", source.name)
        report.failure = (
            f"fetching failed ({type(exc).__name__}, logged above); "
            "what was fetched before was imported"
        )


def _take(rt: Runtime, name: str, page: PollResult, spool: Spool, report: BackfillReport) -> None:
    """Spool a page's mentions; store its thread context at once (it is never decided)."""
    repeats = spool.add(page.mentions)
    report.fetched += len(page.mentions)
    report.duplicates += repeats
    report.problems.extend(page.problems)
    if page.context:
        with transaction(rt.sessions) as session:
            store_context(session, page.context, name, rt.clock.now(), rt.own_handles)


def _interrupted(
    pages: Iterator[PollResult],
    exc: KeyboardInterrupt,
    take: Callable[[PollResult], None],
    window: Window,
) -> str:
    """What Ctrl-C while fetching leaves, and (X) the --until that goes on from there:
    a rerun of the window reads, and X bills, what was read again. Pressed between two
    pages, the source hears of it at its ``yield``, to say how far it read, and first
    hands over (to ``take``) what it held back: X's parents waiting for the listing to
    read past them, without which the mentions fetched lost their threads.

    A source that cannot say (X before it read a mention, a source raising a plain
    KeyboardInterrupt) gets the same window to rerun, the one command sure to leave
    nothing out: the message used to end with none."""
    if isinstance(pages, Generator):
        try:
            page = pages.throw(exc)
            while True:
                take(page)
                page = next(pages)
        except KeyboardInterrupt as said:
            exc = said
        except StopIteration:  # the source stopped without a word: the same window again
            pass
        except Exception:  # the source failing as it stops: the same window will do
            log.exception("backfill: the source failed on Ctrl-C")
    stopped = "interrupted while fetching; what was fetched before was imported"
    if isinstance(exc, FetchInterrupted):
        return f"{stopped}; {exc}"
    return (
        f"{stopped}; rerun the same window with {window_flags(window)} to fetch the rest "
        "(stored mentions are skipped)"
    )


def _import(
    rt: Runtime,
    session: Session,
    name: str,
    chunk: Sequence[Mention],
    report: BackfillReport,
    carry: Carry,
) -> None:
    now = rt.clock.now()
    messages = _store(rt, session, name, chunk, now)
    report.imported += len(chunk)
    report.ingested += len(messages)
    report.duplicates += len(chunk) - len(messages)
    messages = _history(session, name, messages, report, _overlap(rt, name))
    if not messages:
        return
    # The authors locked (on PostgreSQL) before the live cases are looked up: a worker
    # deciding on one of them then leaves their messages for after this chunk, or this
    # chunk waits for its batch and finds the case it opened. Looked up unlocked, a case
    # the daemon opened meanwhile was taken for the chunk's own, decided into and settled.
    authors = select(Customer).where(Customer.id.in_(_customer_ids(messages)))
    customers = list(session.scalars(locked(session, authors.order_by(Customer.id))))
    cooldowns = {c.id: c.last_bot_reply_at for c in customers}
    resumed = resume(session, carry, messages)
    before = set(session.scalars(select(Case.id).where(Case.customer_id.in_(cooldowns))))
    live, older = _latest_cases(session, list(cooldowns), resumed)
    history = [m for m in messages if not _joins(rt, session, m, live, older, now, report)]
    # The authors' cooldowns as this run's replies set them, for the batch only: put
    # back before anything flushes, the customer rows are never written (a live reply
    # committed meanwhile keeps its cooldown).
    with session.no_autoflush:
        first = _first_written(history)
        carry.lend_cooldowns(customers, first, earlier_cooldowns(session, carry, first))
        # The whole chunk in one batch, in creation order, each message decided as of
        # its own time; one message at a time ran about three times slower.
        decisions = process_batch(rt, session, history, now, backfill=True)
        carry.take_back_cooldowns(customers, cooldowns)
    for decision in decisions:
        report.decisions.update(decision_types(decision))
    # The brand's own posts join whatever case the thread has, possibly a live one. Only
    # the cases decided into are settled: one an old message merely joined stays as it
    # was (settled again, a person's resolution was rewritten as the backfill's).
    opened_here = {m.case_id for m in history if m.kind != MessageKind.OWN.value}
    touched = {i for i in opened_here if i is not None} - {c.id for c in live.values()}
    report.cases_opened += len(touched - before)
    report.suppressed += _suppress(session, messages, now)
    settle(session, touched | set(resumed), now, carry)


def _store(
    rt: Runtime, session: Session, name: str, chunk: Sequence[Mention], now: datetime
) -> list[Message]:
    chunk = known_authors(session, chunk)
    ids = upsert_customers(session, chunk, now)
    rows = [message_row(rt, m, name, ids[(m.platform.value, m.author.id)], now) for m in chunk]
    # A mention stored earlier as thread context becomes an inbound message, as in a poll.
    new = insert_new_ids(session, Message, rows) + promote_context(session, rows)
    query = select(Message).where(Message.id.in_(new)).order_by(Message.created_at, Message.id)
    return list(session.scalars(query))


def _history(
    session: Session,
    name: str,
    messages: Sequence[Message],
    report: BackfillReport,
    overlap: timedelta,
) -> list[Message]:
    """The messages the live poll has read past. The rest, written since it last caught
    up or within its overlap before that, are live: left unprocessed for the daemon to
    decide and answer, as its next poll would have (that poll now finds them stored and
    skips them)."""
    state = session.get(SourceState, name)
    through = read_through(state.details or {}) if state is not None else None
    if through is None:  # a source the daemon has not read: all of it is history
        return list(messages)
    # Items show up late (X's ids out of order, Reddit's search index and mod queue), so
    # the live poll re-reads its overlap below what it has read: one written there that
    # it has not stored yet is still coming to it, not history.
    history = [m for m in messages if m.created_at <= through - overlap]
    report.left_to_daemon += len(messages) - len(history)
    return history


def _overlap(rt: Runtime, name: str) -> timedelta:
    """How far back the source's live poll reads again (X and Reddit; none for replay)."""
    seconds = getattr(rt.settings.source(name), "overlap_seconds", 0.0)
    return timedelta(seconds=float(seconds))


def _first_written(messages: Sequence[Message]) -> dict[int, datetime]:
    """Each author's earliest message (the batch is in creation order)."""
    first: dict[int, datetime] = {}
    for message in messages:
        if message.customer_id is not None:
            first.setdefault(message.customer_id, message.created_at)
    return first


def _customer_ids(messages: Sequence[Message]) -> set[int]:
    return {m.customer_id for m in messages if m.customer_id is not None}


def _latest_cases(
    session: Session, customer_ids: list[int], resumed: dict[int, datetime | None]
) -> tuple[dict[Key, Case], dict[Key, tuple[Case, datetime, str]]]:
    """The latest case of each thread where that case is live (``_is_live``), and the
    others that an older message joins undecided (``_older_joins``)."""
    latest: dict[Key, Case] = {}
    # Locked: a person taking up a case meanwhile (reopening it) waits for the chunk, or
    # the chunk sees it taken up and leaves it alone.
    query = select(Case).where(Case.customer_id.in_(customer_ids)).order_by(Case.id)
    for case in session.scalars(locked(session, query)):
        latest[(case.platform, case.conversation_id, case.customer_id)] = case
    live = {key: case for key, case in latest.items() if _is_live(case, resumed)}
    rest = {key: case for key, case in latest.items() if key not in live}
    return live, _older_joins(rest, resumed)


def _older_joins(
    cases_by_key: dict[Key, Case], resumed: dict[int, datetime | None]
) -> dict[Key, tuple[Case, datetime, str]]:
    """Each case a message written before a moment joins undecided: (case, moment, why).

    A resolved case, before its resolution: by an earlier run that imported the
    thread's newer history (the rerun with the --until an X or Reddit fetch printed), or
    by a person who took the case up and closed it. A case this run goes on with, before
    its newest message (a rerun of a whole window, bringing older and newer history).
    Decided, the old message reopened the case as if the customer wrote again, counted
    the thread's replies from none and was resolved a second time, by the backfill: a
    person's resolution lost. ``resumed``: each with its newest message (``resume``)."""
    joins: dict[Key, tuple[Case, datetime, str]] = {}
    for key, case in cases_by_key.items():
        newest = resumed.get(case.id)
        if newest is not None:
            joins[key] = (case, newest, "written before the messages it holds")
        elif case.id not in resumed and case.resolved_at is not None:
            joins[key] = (case, case.resolved_at, "resolved after it was written")
    return joins


def _is_live(case: Case, resumed: dict[int, datetime | None]) -> bool:
    """A case a backfill did not open, or one it opened that people have taken up since:
    a backfill leaves its cases resolved, so one reopened, answered or handed to a team
    by a person is theirs, and a rerun resolving it would take it from under them. This
    run's own cases, put back as its decisions left them (``resumed``), are not live."""
    if TAG not in case.tags:
        return True
    return case.state != CaseState.RESOLVED.value and case.id not in resumed


def _joins(
    rt: Runtime,
    session: Session,
    message: Message,
    live: dict[Key, Case],
    older: dict[Key, tuple[Case, datetime, str]],
    now: datetime,
    report: BackfillReport,
) -> bool:
    if message.kind == MessageKind.OWN.value:
        return False
    key = (message.platform, message.conversation_id, message.customer_id or 0)
    case = live.get(key)
    if case is not None:
        _join(rt, session, message, case, now, "opened before the backfill")
        report.joined_live += 1
        return True
    if key in older and message.created_at < older[key][1]:
        case, _, why = older[key]
        _join(rt, session, message, case, now, why)
        report.joined_resolved += 1
        return True
    return False


def _join(
    rt: Runtime, session: Session, message: Message, case: Case, now: datetime, why: str
) -> None:
    score = rt.scorer.score(message.text, lang=message.lang)
    message.label, message.compound, message.score_reason = (
        score.label.value,
        score.compound,
        score.reason,
    )
    message.processed, message.case_id = True, case.id
    message.decision = {"backfill": f"joined {case.ref}, {why}; not decided"}
    cases.record(session, case, "backfill_joined", ACTOR, now, message=message.external_id)


def _suppress(session: Session, messages: Sequence[Message], now: datetime) -> int:
    """The replies, drafts and escalation notices queued for these messages."""
    waiting = [ActionStatus.PENDING.value, ActionStatus.DRAFT.value]
    notices = _escalation_notices(session, messages, waiting)
    result = session.execute(
        update(ActionRow)
        .where(
            ActionRow.status.in_(waiting),
            or_(ActionRow.message_id.in_([m.id for m in messages]), ActionRow.id.in_(notices)),
        )
        .values(status=ActionStatus.SUPPRESSED.value, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0))


def _escalation_notices(
    session: Session, messages: Sequence[Message], waiting: list[str]
) -> list[int]:
    # A notice has no message id, only its key (notifications.enqueue). Matched here,
    # not with one LIKE per message in SQL: SQLite refuses an expression of more than
    # 1,000 terms, and a chunk holds up to processing.batch_size messages.
    keys = {f"notify:escalation:{m.case_id}:{m.external_id}" for m in messages if m.case_id}
    query = select(ActionRow.id, ActionRow.idempotency_key, ActionRow.channel).where(
        ActionRow.kind == ActionKind.NOTIFY.value,
        ActionRow.status.in_(waiting),
        ActionRow.case_id.in_({m.case_id for m in messages if m.case_id}),
    )
    return [
        action_id
        for action_id, key, channel in session.execute(query)
        if key.removesuffix(f":{channel}") in keys
    ]
