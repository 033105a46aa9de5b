"""Where a case's state goes when the bot replies, a rule drafts, the brand answers on
the platform or the customer writes again.

Pure and in one place: processing and ``rules test`` (monitor.rules.dryrun) both ask
here, so a ``case: {state}`` rule cannot match one way in the daemon and another in
the dry run (it did, when the dry run kept its own copy of the transitions).
"""

from __future__ import annotations

from collections.abc import Collection

from monitor.domain import SPAM_TAG, CaseState, Decision

# The states the brand's own answer on the platform moves on to waiting_customer, as a
# reply from the dashboard does once posted: not a draft waiting on a person (they
# settle it), nor a person's reply still in the outbox (dispatch moves that case).
ANSWERABLE = frozenset({CaseState.NEW, CaseState.AUTO_REPLIED, CaseState.AWAITING_HUMAN})
# The states a customer's message (one the rules do not ignore) opens again.
REOPENABLE = frozenset({CaseState.RESOLVED, CaseState.WAITING_CUSTOMER})
# What processing decides, without asking the rules, for a message in a case closed as
# spam; the dry run gives the same, or it reopened the case and answered the spammer.
CLOSED_AS_SPAM = Decision(ignored=True, notes=("guard: the case was closed as spam",))


def closed_as_spam(state: CaseState, tags: Collection[str]) -> bool:
    """Closed by "Mark as spam" (or an ignore rule's spam tag on the case it closed): the
    spammer writing again neither reopens the case nor gets an answer (a person who
    removes the tag takes it back)."""
    return state is CaseState.RESOLVED and SPAM_TAG in tags


def owes_answer(tags: Collection[str], decision: Decision) -> bool:
    """Whether a customer message with this decision, in a case with these tags, can be
    owed an answer: not one the rules ignore (blocklisted authors, giveaway spam, a case
    closed as spam), nor spam."""
    spam = SPAM_TAG in tags or SPAM_TAG in decision.tags
    return not decision.ignored and not spam


def after_bot_reply(state: CaseState) -> CaseState:
    """Only a case nobody has taken up is the bot's: one a rule escalated, a draft waits
    on or a person answered keeps its state (the reply is still sent). Moved to
    auto_replied, an escalated case left the team's queue unlooked-at."""
    return CaseState.AUTO_REPLIED if state is CaseState.NEW else state


def after_draft(state: CaseState) -> CaseState:
    """A draft waits on a person, except in a case escalated to a team: a person must act
    either way, and the team's queue is where they look (the draft is on its page)."""
    return state if state is CaseState.AWAITING_HUMAN else CaseState.AWAITING_APPROVAL


def after_brand_answer(state: CaseState) -> CaseState:
    """The brand answered what was owed on the platform itself: the case waits on the
    customer, as after a person's reply from the dashboard."""
    return CaseState.WAITING_CUSTOMER if state in ANSWERABLE else state


def after_customer_wrote(state: CaseState) -> CaseState:
    """The customer wrote again in a resolved or waiting case: it is open again."""
    return CaseState.NEW if state in REOPENABLE else state
