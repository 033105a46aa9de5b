"""The JSON API under /api/: the dashboard's operations for scripts, with bearer tokens.

Tokens come from ``inchannel users token NAME``. No cookies are read here, so there is
no CSRF to defend against; the same roles and team limits apply as in the browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor import casework, triage
from monitor.casework import CaseworkError
from monitor.domain import Label
from monitor.textlength import REPLY_LIMITS
from monitor.web.access import CaseNotFound, Forbidden, check_access
from monitor.web.base import Endpoint, Web
from monitor.web.case_view import load_case
from monitor.web.health import load_health
from monitor.web.openapi import openapi_schema
from monitor.web.operations import perform
from monitor.web.params import require_storable, whole_number
from monitor.web.queue import QueueFilter, load_queue
from monitor.web.reports import MAX_DAYS, build_report, every_day_volume
from monitor.web.security import api_user
from monitor.web.since_shown import NothingChanged
from monitor.web.users import User

MAX_BODY = 64_000
Handler = Callable[[Request, User, dict[str, Any]], Any]


def routes(web: Web) -> list[Route]:
    post = ["POST"]
    return [
        Route("/api/openapi.json", lambda r: JSONResponse(openapi_schema())),
        Route("/api/cases", guard(web, lambda r, u, b: cases(web, r, u))),
        Route("/api/cases/{ref:str}", guard(web, lambda r, u, b: case(web, r, u))),
        Route(
            "/api/cases/{ref:str}/{op:str}",
            guard(web, lambda r, u, b: operate(web, r, u, b)),
            methods=post,
        ),
        Route("/api/check-reply", guard(web, lambda r, u, b: check(b)), methods=post),
        Route(
            "/api/actions/{id:id}/retry",
            guard(web, lambda r, u, b: retry(web, r, u)),
            methods=post,
        ),
        Route("/api/reports", guard(web, lambda r, u, b: reports(web, r))),
        Route("/api/health", guard(web, lambda r, u, b: asdict(load_health(web.rt, u)))),
    ]


def guard(web: Web, handler: Handler) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        # The token first: a stranger's body is never read.
        user = await run_in_threadpool(api_user, web.rt, request)
        if user is None:
            return _error(401, "a valid bearer token is required", {"www-authenticate": "Bearer"})
        body: dict[str, Any] = {}
        if request.method == "POST":
            raw = await request.body()
            if len(raw) > MAX_BODY:
                return _error(413, f"the body is over the limit of {MAX_BODY:,} bytes")
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError:
                return _error(400, "the body must be a JSON object")
            except RecursionError:  # "[[[[..." a thousand deep fits in a few kilobytes
                return _error(400, "the body nests too deeply: send a JSON object")
            if not isinstance(parsed, dict):
                return _error(400, "the body must be a JSON object")
            body = parsed
        return await run_in_threadpool(_answer, handler, request, user, body)

    return endpoint


def _answer(handler: Handler, request: Request, user: User, body: dict[str, Any]) -> Response:
    try:
        return JSONResponse(jsonable(handler(request, user, body)))
    except Forbidden as exc:
        return _error(403, str(exc))
    except CaseNotFound as exc:
        return _error(404, str(exc))
    except CaseworkError as exc:
        return _error(400, str(exc))


def _error(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": text}, status_code=status, headers=headers)


def jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and tuples as JSON; datetimes in ISO 8601 UTC."""
    if hasattr(value, "__dataclass_fields__"):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def cases(web: Web, request: Request, user: User) -> dict[str, Any]:
    page = load_queue(web.rt, user, QueueFilter.from_params(request.query_params))
    return {
        "cases": page.rows,
        "counts": page.counts,
        "has_more": page.has_more,
        "next": page.next,
    }


def case(web: Web, request: Request, user: User) -> dict[str, Any]:
    ref = request.path_params["ref"]
    check_access(web.rt, user, ref)
    data = load_case(web.rt, ref, user)
    return {
        "case": data["case"],
        "customer": {"handle": data["customer"].handle, "name": data["customer"].display_name},
        "thread": [_message(m, data["case_id"]) for m in data["thread"]],
        "actions": [_action(a) for a in data["actions"]],
        "events": [
            {"kind": e.kind, "actor": e.actor, "at": e.at, "detail": e.detail}
            for e in data["events"]
        ],
        "history": data["history"],
        # As the case page's hidden fields: sent back to reply, approve, resolve and spam,
        # they refuse the operation when the case has moved on since this read.
        "replies": data["replies"],
        "messages": data["messages_shown"],
    }


def _message(m: Any, case_id: int) -> dict[str, Any]:
    """A post of the thread. The bot's decision is shown for this case's messages only, as
    on the case page: another customer's post in the thread may belong to a case of a
    team the user may not open, and its decision tells how that case was escalated,
    tagged and answered."""
    keys = ("id", "platform", "external_id", "direction", "author_handle", "text", "url")
    more = ("conversation_id", "in_reply_to", "lang", "label", "compound", "created_at")
    return {
        **{k: getattr(m, k) for k in (*keys, *more)},
        # An unscored message's stored 0.0 is no reading, as the case page shows none.
        "compound": None if m.label == Label.UNSCORED else m.compound,
        "decision": m.decision if m.case_id == case_id else None,
    }


def _action(a: Any) -> dict[str, Any]:
    keys = ("id", "kind", "status", "text", "rule", "actor", "attempts", "last_error", "created_at")
    return {k: getattr(a, k) for k in keys}


def operate(web: Web, request: Request, user: User, body: dict[str, Any]) -> dict[str, Any]:
    ref, op = request.path_params["ref"], request.path_params["op"]
    try:
        return {"ok": True, "message": perform(web.rt, user, op, ref, body)}
    except (casework.AlreadyQueued, casework.AlreadyNoted, NothingChanged) as exc:
        # A script resending after a timeout, or a colleague was first: the case is as
        # asked, so this is no error.
        return {"ok": True, "message": str(exc)}


def check(body: dict[str, Any]) -> dict[str, Any]:
    platform, text = body.get("platform"), body.get("text")
    # A JSON list or object is unhashable: looked up in REPLY_LIMITS it raised a TypeError.
    if not isinstance(platform, str) or platform not in REPLY_LIMITS or not isinstance(text, str):
        raise CaseworkError("send {platform: x|reddit, text: string}")
    # Refused as the reply itself would be: "no problems" for a text the reply then
    # refuses told a script the text was fine.
    text = require_storable("text", text)
    # A reply with an "answer", or an edited draft, goes to Reddit as written; there is
    # no case here to look either up in, so the script says which it will send.
    markdown = body.get("markdown", False)
    if not isinstance(markdown, bool):
        raise CaseworkError("markdown must be true or false")
    # The handle replied to, as the reply checks with the case's customer: without it
    # "Sorry @jane_doe" was listed as sending the customer elsewhere, yet posted fine.
    customer = body.get("customer", "")
    if not isinstance(customer, str):
        raise CaseworkError("customer must be text: the handle replied to")
    customer = require_storable("customer", customer[:200])
    problems = casework.check_reply(str(platform), text, customer=customer, markdown=markdown)
    return {"problems": problems}


def retry(web: Web, request: Request, user: User) -> dict[str, Any]:
    if not user.at_least("lead"):
        raise Forbidden("retrying a dead action needs the lead role")
    try:
        case = triage.retry_action(web.rt, request.path_params["id"], user=user.name)
    except triage.AlreadyRetried as exc:
        # A script resending after a timeout: the action was retried, as asked.
        return {"ok": True, "case": exc.ref, "message": str(exc)}
    return {"ok": True, "case": case.ref if case is not None else None}  # None: operations


def reports(web: Web, request: Request) -> dict[str, Any]:
    days = whole_number(request.query_params.get("days", ""), 30, 1, MAX_DAYS)
    report = build_report(web.rt, days)
    out: dict[str, Any] = jsonable(report)
    # Every day of the window, as the chart and the CSV show it: 0 on a quiet day.
    out["volume"] = jsonable(every_day_volume(report))
    # The attainment percent is a property, which asdict() leaves out: added as the
    # page's "Attained" column shows it, so scripts need not compute it.
    for row, attainment in zip(out["sla"], report.sla, strict=True):
        row["percent"] = attainment.percent
    return out
