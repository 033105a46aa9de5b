"""Fakes at the responder boundary: a responder whose behaviour the test scripts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from monitor.domain import Action
from responders.base import ResponderError, SendResult


class CrashAfterPost(BaseException):
    """The process 'dies' after the platform accepted the post but before we recorded it.

    A BaseException, like the KeyboardInterrupt or SystemExit that kill a worker, so
    the dispatcher's error handling does not catch it and the row stays in `sending`.
    """


@dataclass
class ScriptedResponder:
    """Sends succeed unless the script says otherwise; posts are kept like a platform would."""

    script: deque[Exception] = field(default_factory=deque)
    posts: list[tuple[str, str, str]] = field(default_factory=list)  # (id, in_reply_to, text)
    crash_after_post: bool = False
    lookups: int = 0

    def fail_next(self, *errors: Exception) -> None:
        self.script.extend(errors)

    def send(self, action: Action) -> SendResult:
        if self.script:
            raise self.script.popleft()
        post_id = f"p{len(self.posts) + 1}"
        self.posts.append((post_id, action.target_external_id, action.text))
        if self.crash_after_post:
            raise CrashAfterPost(post_id)
        return SendResult(post_id)

    def find_own_reply(self, action: Action) -> str | None:
        self.lookups += 1
        for post_id, target, text in self.posts:
            if target == action.target_external_id and text == action.text:
                return post_id
        return None


def temporary(message: str = "503 Service Unavailable", **kw: object) -> ResponderError:
    return ResponderError(message, **kw)  # type: ignore[arg-type]


def permanent(message: str = "403 reply not allowed") -> ResponderError:
    return ResponderError(message, permanent=True)
