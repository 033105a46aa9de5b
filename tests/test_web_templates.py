"""What the dashboard's templates put where: refused forms, boxes and their labels."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, update

from monitor.pipeline import run_cycle
from monitor.store.db import transaction
from monitor.store.models import ActionRow
from monitor.web.lockout import MAX_FAILURES
from monitor.web.users import LoginRefused, authenticate
from tests.conftest import RuntimeFactory, mention
from tests.webkit import client_for, seeded

BOX = re.compile(
    r'<form method="post" action="/cases/[^"/]+/(\w+)"'
    r'(?:(?!</form>).)*?<textarea name="text"[^>]*>([^<]*)</textarea>',
    re.DOTALL,
)


def _post(client, csrf: str, path: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)


def _boxes(html: str) -> dict[str, str]:
    """The text each form's box holds, by the operation the form sends."""
    return dict(BOX.findall(html))


def test_a_refused_note_stays_in_the_note_box_never_in_the_public_reply_box(
    make_runtime: RuntimeFactory,
) -> None:
    # Every text box's field is "text": a refused note came back as the reply box's text,
    # one click from being posted to the customer's thread, and the note box was empty.
    client, csrf = client_for(seeded(make_runtime), "alice")
    private = "Known troll, see C-1003; do not engage. " + "x" * 5000
    refused = _post(client, csrf, "/cases/C-1001/note", text=private)
    assert refused.status_code == 400
    assert "longer than 5000 characters" in refused.text
    boxes = _boxes(refused.text)
    assert boxes["reply"] == ""
    assert boxes["note"].startswith("Known troll, see C-1003")


def test_a_refused_draft_edit_stays_in_the_draft_box(make_runtime: RuntimeFactory) -> None:
    # The lead's edit went to the reply box, and the draft box showed the draft as drafted
    # again: fixed there and approved, the rule's text was posted, not the edit.
    client, csrf = client_for(seeded(make_runtime), "lena")
    page = client.get("/cases/C-1015").text
    draft = re.search(r'name="draft" value="(\d+)"', page)
    assert draft is not None
    edit = "Please DM us your order number and we will check Ireland."
    refused = _post(client, csrf, "/cases/C-1015/approve", text=edit, draft=draft.group(1))
    assert refused.status_code == 400
    assert "sends the customer elsewhere" in refused.text
    boxes = _boxes(refused.text)
    assert boxes["reply"] == ""
    assert boxes["approve"] == edit


def test_an_edit_of_a_draft_settled_meanwhile_is_kept_in_the_reply_box(
    make_runtime: RuntimeFactory,
) -> None:
    # A colleague rejected the draft while the lead edited it: its box is gone, and the
    # words the lead meant to post wait in the reply box instead of being dropped.
    client, csrf = client_for(seeded(make_runtime), "lena")
    page = client.get("/cases/C-1015").text
    draft = re.search(r'name="draft" value="(\d+)"', page)
    assert draft is not None
    assert _post(client, csrf, "/cases/C-1015/reject", draft=draft.group(1)).status_code == 303
    edit = "Yes, we ship to Ireland: 3-5 days."
    refused = _post(client, csrf, "/cases/C-1015/approve", text=edit, draft=draft.group(1))
    assert refused.status_code == 400
    assert _boxes(refused.text) == {"reply": edit, "note": ""}


class _Buttons(HTMLParser):
    """The accessible name of every button: its aria-label, else its text."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self._open: list[str] | None = None
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "button":
            self._open, self._label = [], dict(attrs).get("aria-label")

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._open is not None:
            self.names.append(self._label or " ".join("".join(self._open).split()))
            self._open = None


def _button_names(html: str) -> list[str]:
    parser = _Buttons()
    parser.feed(html)
    return parser.names


HOSTILE_HANDLE = 'jo"><b>x</b>\u202e'


def test_each_rows_button_is_named_for_its_row(make_runtime: RuntimeFactory) -> None:
    # A screen reader's list of buttons read "Correct, Correct", "Approve and post, Approve
    # and post", "Retry, Retry" and "Unlock, Unlock": nothing told which message, draft,
    # action or user each one acts on.
    first = mention(1, "@acme how do I change the delivery address on my order?")
    again = mention(
        2,
        "@acme hello? how can I change the address before it ships?",
        conversation_id="1001",
        in_reply_to="1001",
        created_at="2026-11-20T11:00:00Z",
    )
    for row in (first, again):
        row.update(author=HOSTILE_HANDLE, author_id="501")
    rt = seeded(make_runtime, [first])
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    rt.sources["feed"] = make_runtime([first, again]).sources["feed"]
    run_cycle(rt)
    with transaction(rt.sessions) as session:
        drafts = session.scalars(select(ActionRow.id).where(ActionRow.status == "draft")).all()
        assert len(drafts) == 2
    for name in ("alice", "bob"):
        for _ in range(MAX_FAILURES):
            with pytest.raises(LoginRefused):
                authenticate(rt, name, "wrong-wrong-wrong")
    client, _ = client_for(rt, "root")
    case = client.get("/cases/C-1001").text
    for draft in drafts:
        assert f"Approve and post draft {draft}" in _button_names(case)
        assert f"Reject draft {draft}" in _button_names(case)
    corrections = [n for n in _button_names(case) if n.startswith("Correct")]
    assert len(corrections) == 2
    assert all(HOSTILE_HANDLE in n for n in corrections), corrections
    assert "<b>x</b>" not in case
    with transaction(rt.sessions) as session:
        session.execute(update(ActionRow).where(ActionRow.id.in_(drafts)).values(status="dead"))
    health = _button_names(client.get("/health").text)
    assert sorted(n for n in health if n.startswith("Retry")) == [
        f"Retry action {a} of C-1001" for a in sorted(drafts)
    ]
    users = _button_names(client.get("/admin/users").text)
    assert [n for n in users if n.startswith("Unlock")] == ["Unlock alice", "Unlock bob"]
    for page in (case, client.get("/health").text):
        names = _button_names(page)
        assert len(names) == len(set(names)), names


class _Selects(HTMLParser):
    """Each sentiment select's accessible name (its aria-label) and selected option."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str | None, str | None]] = []
        self._open = self._selected = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "select" and found.get("name") == "label":
            self._open = True
            self.found.append((found.get("aria-label"), None))
        elif tag == "option" and self._open and "selected" in found:
            self._selected = True

    def handle_data(self, data: str) -> None:
        if self._selected:
            self.found[-1] = (self.found[-1][0], data)
            self._selected = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._open = False


def _sentiment_selects(html: str) -> list[tuple[str | None, str | None]]:
    parser = _Selects()
    parser.feed(html)
    return parser.found


def test_each_sentiment_select_is_named_for_its_message(make_runtime: RuntimeFactory) -> None:
    # Every select was named "Sentiment is really": a screen reader's list of form
    # fields read it once per message, nothing telling which message each one corrects.
    first = mention(1, "@acme how do I change the delivery address on my order?")
    again = mention(2, "@acme hello? still no answer, this is terrible", conversation_id="1001")
    for row in (first, again):
        row.update(author=HOSTILE_HANDLE, author_id="501")
    client, _ = client_for(seeded(make_runtime, [first, again]), "alice")
    case = client.get("/cases/C-1001").text
    names = [name for name, _ in _sentiment_selects(case)]
    assert len(names) == 2
    assert len(set(names)) == 2, names
    messages = re.findall(r'name="message_id" value="(\d+)"', case)
    for name, message in zip(names, messages, strict=True):
        assert name is not None
        # The words shown stay first: voice control users say what they see.
        assert name.startswith(f"Sentiment is really, for message {message} by {HOSTILE_HANDLE}")
    assert "<b>x</b>" not in case


def test_the_sentiment_select_shows_the_correction_made(make_runtime: RuntimeFactory) -> None:
    # The select showed the scorer's label, even next to "corrected to neutral": sent
    # again as shown, the person's correction was undone. An unscored message showed
    # "positive", the first option, as if the scorer had said so.
    # VADER reads "problem" as a complaint; a person says it is a question.
    cancel = mention(1, "@acme is it a problem if I return it without the box?")
    plain = mention(2, "@acme where is the shop in Berlin", conversation_id="1001")
    for row in (cancel, plain):
        row.update(author="jo", author_id="501")
    client, csrf = client_for(seeded(make_runtime, [cancel, plain]), "alice")
    case = client.get("/cases/C-1001").text
    assert [s for _, s in _sentiment_selects(case)] == ["negative", "neutral"]
    first = re.findall(r'name="message_id" value="(\d+)"', case)[0]
    done = _post(client, csrf, "/cases/C-1001/sentiment", message_id=first, label="neutral")
    assert done.status_code == 303
    case = client.get("/cases/C-1001").text
    assert "corrected to <strong>neutral</strong> by alice" in case
    assert [s for _, s in _sentiment_selects(case)] == ["neutral", "neutral"]


def test_the_case_page_tells_its_script_which_text_the_server_took(
    make_runtime: RuntimeFactory,
) -> None:
    # The script keeps what is typed in the browser tab until the server has it: a reply
    # sent twice is answered "queued already" on the page itself, with no "done" in the
    # address, and its kept copy must go then too, or it came back to be posted again.
    client, csrf = client_for(seeded(make_runtime), "alice")
    text = "Sorry Jane, a replacement ships today."
    assert _post(client, csrf, "/cases/C-1001/reply", text=text).status_code == 303
    done = client.get("/cases/C-1001?done=reply").text
    assert 'data-settled="reply"' in done
    again = _post(client, csrf, "/cases/C-1001/reply", text=text)
    assert "already" in again.text
    assert 'data-settled="reply"' in again.text
    # A refusal puts the text back in its own box, which the script's copy never replaces.
    refused = _post(client, csrf, "/cases/C-1001/note", text="x" * 5001)
    assert "data-settled" not in refused.text
    sent = re.findall(r'<textarea name="text"[^>]*data-keep="(\w+)"( data-sent)?', refused.text)
    assert sent == [("reply", ""), ("note", " data-sent")]
