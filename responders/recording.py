"""A responder that records what would have been posted instead of posting it.

Used by the demo, by ``--dry-run`` and by tests. With a path, records are appended as
JSON lines and survive a restart, so ``find_own_reply`` works across processes too.
Standing in for the notifier (``--dry-run``), it is given the channels' ``max_chars``
and records each notification cut as that channel would get it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from monitor.domain import NOTIFY_CHARS, Action
from monitor.notifications import fit
from responders.base import SendResult


@dataclass(frozen=True, slots=True)
class RecordedPost:
    action_id: int
    idempotency_key: str
    platform: str
    case_ref: str
    in_reply_to: str
    text: str
    external_id: str


class RecordingResponder:
    def __init__(
        self, path: Path | None = None, max_chars: Mapping[str, int] | None = None
    ) -> None:
        self.path = path
        # Given (the notifier's stand-in): each channel's `max_chars`, NOTIFY_CHARS for
        # the others, as responders.notify.Notifier cuts. Recorded whole, a dry run
        # showed an SMS channel the 700 characters its gateway would refuse.
        self._max_chars = None if max_chars is None else dict(max_chars)
        self.posts: list[RecordedPost] = []
        self._lock = threading.Lock()
        if path is not None and path.exists():
            self.posts.extend(_read(path))

    def send(self, action: Action) -> SendResult:
        digest = hashlib.sha256(action.idempotency_key.encode()).hexdigest()[:16]
        post = RecordedPost(
            action_id=action.id,
            idempotency_key=action.idempotency_key,
            platform=action.platform.value if action.platform else "",
            case_ref=action.case_ref,
            in_reply_to=action.target_external_id,
            text=self._text(action),
            external_id=f"rec-{digest}",
        )
        with self._lock:
            self.posts.append(post)
            if self.path is not None:
                self._append(post)
        return SendResult(post.external_id)

    def find_own_reply(self, action: Action) -> str | None:
        text = self._text(action)  # as recorded: a notification cut to its channel
        with self._lock:
            # The file is the "platform": another worker (perhaps one that died right
            # after posting) may have recorded the post, so look there, not in memory.
            posts = _read(self.path) if self.path is not None and self.path.exists() else self.posts
            for post in reversed(posts):
                if post.in_reply_to == action.target_external_id and post.text == text:
                    return post.external_id
        return None

    def _text(self, action: Action) -> str:
        """What the platform or channel gets: a notification fits its channel."""
        if self._max_chars is None or action.channel is None:
            return action.text
        return fit(action.text, self._max_chars.get(action.channel, NOTIFY_CHARS))

    def _append(self, post: RecordedPost) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"recorded_at": datetime.now(UTC).isoformat(), **asdict(post)}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read(path: Path) -> list[RecordedPost]:
    posts = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                obj = json.loads(line)
                obj.pop("recorded_at", None)
                posts.append(RecordedPost(**obj))
            except (json.JSONDecodeError, TypeError):
                continue  # a torn last line after a crash: the action is re-checked anyway
    return posts
