"""What an X API failure means for a source: wait, back off, or stop until fixed."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.sources.base import SourceError
from monitor.sources.x import XApiError

# X's problem type for a spent post cap (429 UsageCapExceeded, "Monthly product cap").
USAGE_CAPPED = "usage-capped"
# How often a capped source, or a reply, asks again: X does not say when the cap resets.
USAGE_CAP_RETRY = timedelta(hours=1)

NOT_ENROLLED = (
    "client-not-enrolled: the keys belong to an X developer App that is not attached to a "
    "Project with v2 access; create the App inside a Project in the developer portal and "
    "use that App's keys"
)

# A 3xx: X's API never answers one, so the request never reached it (x.sources.x).
REDIRECTED = (
    "x.api_base_url answers with a redirect (X's API never redirects): a wrong "
    "x.api_base_url, or a proxy in front of X that redirects; fix that setting"
)


def usage_capped(exc: XApiError) -> bool:
    """X's 429 for a spent post cap, told apart from a rate limit by its problem type
    (the source's polls and the responder's replies alike)."""
    return exc.kind == "rate_limited" and exc.problem == USAGE_CAPPED


def source_error(exc: XApiError, now: datetime) -> SourceError:
    if usage_capped(exc):
        return _usage_capped(exc, now)
    error = _source_error(exc, now)
    error.kind = exc.kind  # the metrics count failures by X's own kind
    return error


def _usage_capped(exc: XApiError, now: datetime) -> SourceError:
    """The project's post cap (monthly) is spent: X answers 429 until it resets on the
    plan's billing day, which it does not send. Its x-rate-limit-reset is only the
    15-minute window's, so waiting for it would report a 15-minute rate limit."""
    retry = now + USAGE_CAP_RETRY
    return SourceError(
        f"x usage cap reached ({exc}): X serves no posts to this App's project until the "
        f"cap resets or the plan changes; polling tries again at {retry:%Y-%m-%d %H:%M} UTC",
        retry_at=retry,
        kind="usage_capped",
    )


def _source_error(exc: XApiError, now: datetime) -> SourceError:
    """Rate limits wait for the reset; auth and request errors stop the source (an
    operator must act); server errors, timeouts and garbled answers back off."""
    if exc.kind == "rate_limited":
        reset = exc.rate.reset_by(now)
        until = f"until {reset:%Y-%m-%d %H:%M:%S} UTC" if reset else "(no reset time sent)"
        return SourceError(f"x rate limited {until}: {exc}", retry_at=reset)
    if exc.kind == "auth":
        return SourceError(
            f"x rejected the credentials ({exc}); check x.bearer_token", permanent=True
        )
    if exc.kind == "forbidden":
        why = NOT_ENROLLED if "client-not-enrolled" in str(exc) else "check the App's access level"
        return SourceError(f"x refused access ({exc}); {why}", permanent=True)
    if exc.kind == "redirect":
        return SourceError(f"{REDIRECTED} ({exc})", permanent=True)
    if exc.kind in ("not_found", "bad_request"):
        return SourceError(
            f"x refused the request ({exc}); check x.user_id and the source's query",
            permanent=True,
        )
    return SourceError(f"x temporarily failed: {exc}")
