"""A read-only view of cases, messages and the outbox.

Everything shown comes from strangers, so templates autoescape and the page sends a
strict Content-Security-Policy (no scripts at all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from monitor.runtime import Runtime
from monitor.store.context import thread_context
from monitor.store.models import ActionRow, Case, Customer, Message, case_ref

TEMPLATES = Path(__file__).parent / "templates"
CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'"
PAGE_SIZE = 100


def create_app(rt: Runtime) -> Starlette:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

    async def queue(request: Request) -> Response:
        return _html(env, "queue.html", _queue(rt))

    async def case_page(request: Request) -> Response:
        ref = request.path_params["ref"]
        data = _case(rt, ref)
        if data is None:
            return _html(env, "missing.html", {"ref": ref}, status=404)
        return _html(env, "case.html", data)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/", queue),
        Route("/cases/{ref:str}", case_page),
        Route("/healthz", health),
    ]
    return Starlette(routes=routes)


def _html(env: Environment, name: str, context: dict[str, Any], status: int = 200) -> Response:
    body = env.get_template(name).render(**context)
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(body, status_code=status, headers=headers)


def _queue(rt: Runtime) -> dict[str, Any]:
    with rt.sessions() as session:
        counts = dict(session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
        query = (
            select(Case, Customer)
            .join(Customer, Customer.id == Case.customer_id)
            .order_by(Case.updated_at.desc())
            .limit(PAGE_SIZE)
        )
        rows = []
        for case, customer in session.execute(query).all():
            first = session.scalars(
                select(Message.text).where(Message.case_id == case.id).order_by(Message.id).limit(1)
            ).first()
            rows.append({"case": case, "customer": customer, "first": (first or "")[:200]})
        outbox = dict(
            session.execute(select(ActionRow.status, func.count()).group_by(ActionRow.status)).all()
        )
    return {"rows": rows, "counts": counts, "outbox": outbox}


def _case(rt: Runtime, ref: str) -> dict[str, Any] | None:
    if not ref.startswith("C-") or not ref[2:].isdigit():
        return None
    case_id = int(ref[2:]) - 1000
    with rt.sessions() as session:
        case = session.get(Case, case_id)
        if case is None:
            return None
        customer = session.get(Customer, case.customer_id)
        messages = list(
            session.scalars(
                select(Message).where(Message.case_id == case_id).order_by(Message.created_at)
            )
        )
        actions = list(session.scalars(select(ActionRow).where(ActionRow.case_id == case_id)))
        context = thread_context(session, case.platform, case.conversation_id)  # issue 8
    return {
        "context": context,
        "case": case,
        "ref": case_ref(case.id),
        "customer": customer,
        "messages": messages,
        "actions": actions,
    }
