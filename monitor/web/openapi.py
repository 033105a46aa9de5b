"""The OpenAPI 3.1 description of /api/, generated from the operations table so the two
cannot drift apart."""

from __future__ import annotations

from functools import cache
from typing import Any

from monitor import __version__
from monitor.web.operations import OPERATIONS
from monitor.web.queue import MAX_PAGE
from monitor.web.reports import MAX_DAYS

ERROR = {"$ref": "#/components/schemas/Error"}
REF = {
    "name": "ref",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^C-[0-9]+$"},
}
FILTERS = ("team", "assignee", "platform", "state", "sentiment", "tag", "q")


def _responses(ok: dict[str, Any], *, body: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": ok}}}
    }
    errors = [
        ("400", "Refused"),
        ("401", "No valid token"),
        ("403", "Not allowed"),
        ("404", "No such case"),
    ]
    if body:  # over monitor.web.api's MAX_BODY, checked before the body is read as JSON
        errors.append(("413", "Body too large"))
    for code, text in errors:
        out[code] = {"description": text, "content": {"application/json": {"schema": ERROR}}}
    return out


def _operation_path(name: str) -> dict[str, Any]:
    op = OPERATIONS[name]
    body = {
        "type": "object",
        "properties": {field: spec.schema() for field, spec in op.fields.items()},
        "required": [field for field, spec in op.fields.items() if spec.required],
    }
    return {
        "post": {
            "operationId": f"case_{name}",
            "summary": op.summary,
            "description": f"Needs the {op.role} role and access to the case's team.",
            "parameters": [REF],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": _responses({"$ref": "#/components/schemas/Done"}, body=True),
        }
    }


def _get(
    op_id: str,
    summary: str,
    params: list[dict[str, Any]] | None = None,
    ok: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": op_id,
            "summary": summary,
            "parameters": params or [],
            "responses": _responses(ok or {"type": "object"}),
        }
    }


# What GET /api/cases/{ref} answers; the counts are the ones the operations take back.
SHOWN = "sent back as the operations' `{0}`: refused if the case has more {1} since"
CASE = {
    "type": "object",
    "properties": {
        **{name: {"type": "object"} for name in ("case", "customer", "history")},
        **{name: {"type": "array"} for name in ("thread", "actions", "events")},
        "replies": {
            "type": "integer",
            "minimum": 0,
            "description": "How many replies the case has ever had queued, counted so a "
            "withdrawn reply or a draft keeps its place and an approval counts once more "
            "(only ever grows), sent back as the operations' `replies`: refused if a reply "
            "was queued or approved since, or if it is more than the case's count now",
        },
        "messages": {
            "type": "integer",
            "minimum": 0,
            "description": "How many of the customer's messages the case has (a message "
            "never leaves its case: the count only grows), "
            + SHOWN.format("messages", "messages")
            + ", or if it is more than the case's count now",
        },
    },
    "required": [
        "case",
        "customer",
        "thread",
        "actions",
        "events",
        "history",
        "replies",
        "messages",
    ],
}


def _query(name: str, schema: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, **extra, "schema": schema}


def _queue_query() -> list[dict[str, Any]]:
    """GET /api/cases: the queue's filters and its two ways to the next page."""
    query = [_query(n, {"type": "string"}) for n in FILTERS]
    query.append(
        _query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1})
    )
    query.append(
        _query(
            "after",
            {"type": "string"},
            description="The next page: the `next` of the page before (not with `page`)",
        )
    )
    return query


def _days_query() -> list[dict[str, Any]]:
    # A larger number is taken as the maximum, not refused.
    return [_query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": 30})]


def _reads() -> dict[str, Any]:
    return {
        "/api/cases": _get(
            "list_cases", "The queue: open cases, most urgent first", _queue_query()
        ),
        "/api/cases/{ref}": _get(
            "get_case",
            "A case: thread, outbox, audit trail, history",
            [REF],
            {"$ref": "#/components/schemas/Case"},
        ),
        "/api/reports": _get(
            "reports", "Volume, response times, SLA attainment, tags", _days_query()
        ),
        "/api/health": _get("health", "Sources, today's usage, outbox"),
    }


CHECK_REPLY_BODY = {
    "type": "object",
    "properties": {
        "platform": {"type": "string", "enum": ["x", "reddit"]},
        "text": {"type": "string"},
        # True for a reply with an answer or an edited draft:
        # Reddit gets those as written, not escaped.
        "markdown": {"type": "boolean", "default": False},
        # The handle replied to: naming them is no redirect.
        "customer": {"type": "string", "default": ""},
    },
    "required": ["platform", "text"],
}


def _check_reply() -> dict[str, Any]:
    return {
        "post": {
            "operationId": "check_reply",
            "summary": "Problems with a reply text (length limit, deflection)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CHECK_REPLY_BODY}},
            },
            "responses": _responses({"type": "object"}, body=True),
        }
    }


def _retry_action() -> dict[str, Any]:
    return {
        "post": {
            "operationId": "retry_action",
            "summary": "Retry a dead outbox action (lead)",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "responses": _responses({"type": "object"}, body=True),
        }
    }


COMPONENTS = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        },
        "Case": CASE,
        "Done": {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}, "message": {"type": "string"}},
            "required": ["ok", "message"],
        },
    },
}


@cache
def openapi_schema() -> dict[str, Any]:
    paths = _reads()
    paths |= {f"/api/cases/{{ref}}/{name}": _operation_path(name) for name in OPERATIONS}
    paths["/api/check-reply"] = _check_reply()
    paths["/api/actions/{id}/retry"] = _retry_action()
    return {
        "openapi": "3.1.0",
        "info": {"title": "inchannel dashboard API", "version": __version__},
        "paths": paths,
        "security": [{"bearer": []}],
        "components": COMPONENTS,
    }
