"""Which account an ``x.oauth2_user_token`` posts as, checked once when the daemon starts.

An OAuth 1.0a access token starts with its account's id (x_settings.poster_id reads it
there); an OAuth 2 user token names none, so it is taken to be x.user_id's. A token of
another account (@acmehelp's where x.user_id is @acme's) posted as that account while
everything else believed it x.user_id's: the bot's own replies, read back, were
customers' posts to decide; X refused replies to posts not naming that account; and
the look in the thread before re-sending after a crash searched from:<x.user_id>,
never found the reply, and posted it again. One GET /2/users/me at start tells.
"""

from __future__ import annotations

from typing import Any

from monitor.sources.x_parse import ID, USERNAME
from monitor.sources.x_settings import XSettings


def me_account(answer: Any) -> tuple[str, str | None]:
    """(id, handle) from GET /2/users/me's answer; ValueError when it names no account
    (hostile input: a handle that is no handle is left out, not shown)."""
    data = answer.get("data") if isinstance(answer, dict) else None
    account_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(account_id, str) or not ID.match(account_id):
        raise ValueError("the answer names no account id")
    assert isinstance(data, dict)
    handle = data.get("username")
    return account_id, handle if isinstance(handle, str) and USERNAME.match(handle) else None


def other_account_problem(x: XSettings, account_id: str, handle: str | None) -> str | None:
    """Why the daemon must not start when the token is another account's, else None."""
    if account_id == x.user_id:
        return None
    named = f"@{handle} (account {account_id})" if handle else f"account {account_id}"
    return (
        f"x.oauth2_user_token belongs to {named}, not to x.user_id {x.user_id}: an OAuth 2 "
        f"user token is taken to be x.user_id's, so the bot's replies, posted as "
        f"{named}, would be read back as customers' posts, X would refuse replies to "
        f"posts that do not mention it, and the check before re-sending a reply after a "
        f"crash would look for {x.user_id}'s post and send it again; use a token of "
        f"account {x.user_id}, or answer from {named} with its OAuth 1.0a keys (their "
        f"access_token names the account, docs/x.md)"
    )
