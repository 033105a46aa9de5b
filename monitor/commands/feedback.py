"""``inchannel feedback``: the sentiment corrections people made, scored again.

The dashboard's "Correct sentiment" stores each correction with the text as it was
scored (``sentiment_feedback``). This command closes the loop for whoever tunes
``scoring.lexicon`` in inchannel.yaml: it scores every corrected text again with the
scorer the config describes *now*, so an overlay change shows at once how many of the
corrections it fixes (and whether it breaks one that was right).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.commands.options import (
    config_option,
    json_line,
    table_console,
    terminal_text,
    utc_moment,
)
from monitor.domain import Label
from monitor.scoring import Scorer
from monitor.store.models import Message, case_ref
from monitor.store.web_models import SentimentFeedback


@dataclass(frozen=True, slots=True)
class Corrected:
    """A message's latest correction, and what the scorer says of its text today."""

    at: str
    user: str
    case: str
    message_id: int
    text: str
    scored_label: str | None
    corrected_label: str
    label_now: str
    compound_now: float | None

    @property
    def agreed_then(self) -> bool:
        return _same(self.scored_label, self.corrected_label)

    @property
    def agrees_now(self) -> bool:
        return _same(self.label_now, self.corrected_label)


def _same(scored: str | None, corrected: str) -> bool:
    # People correct to positive, neutral or negative; a text with no sentiment words at
    # all (unscored, no-signal) is what "neutral" means to them.
    return scored == corrected or (scored == Label.UNSCORED and corrected == Label.NEUTRAL)


@click.command("feedback")
@config_option
# As backfill reads it: the `at` this command's --json writes (an offset) and the APIs'
# timestamps (a Z) can be pasted back.
@click.option("--since", callback=utc_moment, help="Date/time, UTC unless an offset.")
@click.option("--wrong", is_flag=True, help="Only corrections the scorer still gets wrong.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per correction.")
def feedback_command(
    config_file: Path | None, since: datetime | None, wrong: bool, as_json: bool
) -> None:
    """The dashboard's sentiment corrections, each scored again with today's scorer."""
    from monitor.commands.loading import database_without_rules
    from monitor.store.db import session_factory

    settings, engine = database_without_rules(config_file)
    scorer = Scorer(settings.scoring)
    try:
        with session_factory(engine)() as session:
            found = list(corrections(session, scorer, since=since))
    finally:
        engine.dispose()
    shown = [c for c in found if not (wrong and c.agrees_now)]
    if as_json:
        for item in shown:
            click.echo(json_line(asdict(item)))
        return
    _print(shown, found)


def corrections(
    session: Session, scorer: Scorer, *, since: datetime | None = None
) -> Iterable[Corrected]:
    """The latest correction of each message (a person may change their mind), oldest
    first."""
    # The platform's language, as the pipeline passes it: without it a message the daemon
    # left unscored as German could be read as English now. An outer join, since the
    # feedback keeps its own copy of the text for a message that is gone.
    query = (
        select(SentimentFeedback, Message.lang)
        .outerjoin(Message, Message.id == SentimentFeedback.message_id)
        .order_by(SentimentFeedback.id)
    )
    if since is not None:
        query = query.where(SentimentFeedback.at >= since)
    latest = {row.message_id: (row, lang) for row, lang in session.execute(query)}
    for row, lang in sorted(latest.values(), key=lambda pair: pair[0].id):
        now = scorer.score(row.text, lang=lang)
        yield Corrected(
            at=row.at.isoformat(),
            user=row.user,
            case=case_ref(row.case_id),
            message_id=row.message_id,
            text=row.text,
            scored_label=row.scored_label,
            corrected_label=row.corrected_label,
            label_now=now.label.value,
            # An unscored text's 0.0 is no reading, not a neutral score.
            compound_now=None if now.label is Label.UNSCORED else round(now.compound, 4),
        )


def _print(shown: list[Corrected], found: list[Corrected]) -> None:
    table = Table("case", "text", "scored", "person", "now", "compound")
    for item in shown:
        table.add_row(
            item.case,
            Text(terminal_text(item.text[:160])),  # the customer wrote it: no markup, no ESC
            item.scored_label or "-",
            item.corrected_label,
            Text(item.label_now, style="green" if item.agrees_now else "red"),
            "-" if item.compound_now is None else f"{item.compound_now:+.4f}",
        )
    console = table_console()
    console.print(table)
    then = sum(c.agreed_then for c in found)
    now = sum(c.agrees_now for c in found)
    console.print(
        f"{len(found)} correction(s): the scorer agreed with {then} when they were made, "
        f"and agrees with {now} now"
    )
