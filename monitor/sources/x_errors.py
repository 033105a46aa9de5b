"""What an X API failure means for a source: wait, back off, or stop until fixed."""

from __future__ import annotations

from monitor.sources.base import SourceError
from monitor.sources.x import XApiError

NOT_ENROLLED = (
    "client-not-enrolled: the keys belong to an X developer App that is not attached to a "
    "Project with v2 access; create the App inside a Project in the developer portal and "
    "use that App's keys"
)


def source_error(exc: XApiError) -> SourceError:
    error = _source_error(exc)
    error.kind = exc.kind  # the metrics count failures by X's own kind
    return error


def _source_error(exc: XApiError) -> SourceError:
    """Rate limits wait for the reset; auth and request errors stop the source (an
    operator must act); server errors, timeouts and garbled answers back off."""
    if exc.kind == "rate_limited":
        reset = exc.rate.reset_at
        until = f"until {reset:%Y-%m-%d %H:%M:%S} UTC" if reset else "(no reset time sent)"
        return SourceError(f"x rate limited {until}: {exc}", retry_at=reset)
    if exc.kind == "auth":
        return SourceError(
            f"x rejected the credentials ({exc}); check x.bearer_token", permanent=True
        )
    if exc.kind == "forbidden":
        why = NOT_ENROLLED if "client-not-enrolled" in str(exc) else "check the App's access level"
        return SourceError(f"x refused access ({exc}); {why}", permanent=True)
    if exc.kind in ("not_found", "bad_request"):
        return SourceError(
            f"x refused the request ({exc}); check x.user_id and the source's query",
            permanent=True,
        )
    return SourceError(f"x temporarily failed: {exc}")
