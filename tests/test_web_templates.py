"""What the dashboard's templates put where: refused forms, boxes and their labels."""

from __future__ import annotations

import re

from tests.conftest import RuntimeFactory
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
