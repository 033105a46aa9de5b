"""The case page's "since your page was shown" reply check once a reply was withdrawn:
the page's ``replies`` marks a place in the case's replies that later changes (a reply
withdrawn by the spam mark or the thread cap) do not move."""

from __future__ import annotations

import re

from sqlalchemy import select

from monitor import casework_drafts, casework_replies, triage
from monitor.runtime import Runtime
from monitor.store.models import ActionRow
from tests.conftest import RuntimeFactory
from tests.webkit import api_client, client_for, seeded

REPLIES_SHOWN = re.compile(
    r'action="/cases/C-1001/reply"[^>]*>(?:(?!</form>).)*?name="replies" value="(\d+)"'
)
LENA = "Sorry Jane, the refund went out today."
ROOT = "Hi Jane, root here: the refund is on its way."
MINE = "Hi Jane, I'm checking your order now."


def _shown(page: str) -> str:
    found = REPLIES_SHOWN.search(page.replace("\n", " "))
    assert found is not None
    return found.group(1)


def _withdrawn_then_answered(rt: Runtime) -> None:
    """Steps 2 and 3: the reply the page showed is withdrawn (the spam mark, taken back
    at once), then a colleague answers."""
    triage.mark_spam(rt, "C-1001", user="lena")
    triage.tag(rt, "C-1001", user="lena", remove=("spam",))
    casework_replies.reply(rt, "C-1001", ROOT, user="root")


def _posted(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        query = select(ActionRow.actor).where(
            ActionRow.case_id == 1, ActionRow.kind == "reply", ActionRow.status == "pending"
        )
        return list(session.scalars(query.order_by(ActionRow.id)))


def test_a_reply_from_a_page_shown_before_a_withdrawal_and_a_colleagues_reply_is_refused(
    make_runtime: RuntimeFactory,
) -> None:
    # The page showed 1 pending reply; it was withdrawn, and a colleague answered: the
    # case still had 1 reply, so the check compared 1 with 1 and let Alice's reply, written
    # without seeing root's, go out beside it.
    rt = seeded(make_runtime)
    casework_replies.reply(rt, "C-1001", LENA, user="lena")
    alice, csrf = client_for(rt, "alice")
    shown = _shown(alice.get("/cases/C-1001").text)
    _withdrawn_then_answered(rt)
    form = {"csrf_token": csrf, "text": MINE, "replies": shown}
    refused = alice.post("/cases/C-1001/reply", data=form)
    assert refused.status_code == 400
    assert "C-1001 was answered by root after your page showed it" in refused.text
    assert _posted(rt) == ["root"]
    # From the page that shows root's reply, it is posted.
    again = alice.post(
        "/cases/C-1001/reply",
        data={**form, "replies": _shown(refused.text)},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert _posted(rt) == ["root", "alice"]


def test_the_api_refuses_a_reply_after_a_withdrawal_and_a_colleagues_reply(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    casework_replies.reply(rt, "C-1001", LENA, user="lena")
    alice = api_client(rt, "alice")
    shown = alice.get("/api/cases/C-1001").json()["replies"]
    _withdrawn_then_answered(rt)
    refused = alice.post("/api/cases/C-1001/reply", json={"text": MINE, "replies": shown})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("C-1001 was answered by root after your page")
    assert _posted(rt) == ["root"]


def test_marking_as_spam_after_a_withdrawal_and_a_colleagues_reply_is_refused(
    make_runtime: RuntimeFactory,
) -> None:
    # The spam mark would withdraw root's reply, which Alice's page never showed.
    rt = seeded(make_runtime)
    casework_replies.reply(rt, "C-1001", LENA, user="lena")
    alice, csrf = client_for(rt, "alice")
    shown = _shown(alice.get("/cases/C-1001").text)
    _withdrawn_then_answered(rt)
    refused = alice.post("/cases/C-1001/spam", data={"csrf_token": csrf, "replies": shown})
    assert refused.status_code == 400
    assert "C-1001 was answered by root after your page showed it" in refused.text
    assert _posted(rt) == ["root"]


def test_a_reply_from_a_page_shown_before_a_colleague_approved_the_draft_is_refused(
    make_runtime: RuntimeFactory,
) -> None:
    # The page showed the bot's draft waiting; a colleague approved it. The draft was
    # queued before the page, but it became an answer after: a reply written beside
    # it is a second answer, as one from a colleague would be.
    rt = seeded(make_runtime)
    root, csrf = client_for(rt, "root")
    ref = "C-1009"
    form_replies = re.compile(
        rf'action="/cases/{ref}/reply"[^>]*>(?:(?!</form>).)*?name="replies" value="(\d+)"'
    )
    found = form_replies.search(root.get(f"/cases/{ref}").text.replace("\n", " "))
    assert found is not None
    casework_drafts.approve(rt, ref, user="lena")
    refused = root.post(
        f"/cases/{ref}/reply", data={"csrf_token": csrf, "text": MINE, "replies": found[1]}
    )
    assert refused.status_code == 400
    assert f"{ref} was answered by lena after your page showed it" in refused.text
    # The approval holds its place: the page shown after it lets the reply through, also
    # once the bot has drafted, and a person turned down, another reply since.
    now = form_replies.search(refused.text.replace("\n", " "))
    assert now is not None
    again = root.post(
        f"/cases/{ref}/reply",
        data={"csrf_token": csrf, "text": MINE, "replies": now[1]},
        follow_redirects=False,
    )
    assert again.status_code == 303


def test_a_count_past_the_case_is_refused_not_taken_as_no_check(
    make_runtime: RuntimeFactory,
) -> None:
    # No page showed more replies than the case has: taken as it came, such a count
    # found nothing "since" and turned the check off for good.
    rt = seeded(make_runtime)
    alice = api_client(rt, "alice")
    shown = alice.get("/api/cases/C-1001").json()["replies"]
    casework_replies.reply(rt, "C-1001", LENA, user="lena")
    for operation, body in (("reply", {"text": MINE}), ("spam", {})):
        refused = alice.post(f"/api/cases/C-1001/{operation}", json={**body, "replies": shown + 2})
        assert refused.status_code == 400
        assert refused.json()["error"] == (
            f"replies must be at most {shown + 1}, C-1001's count now: no page showed "
            "more (read the case again for the count to send)"
        )
    assert _posted(rt) == ["lena"]
