"""pydantic's validation errors as the config's problems: at file:line:col, named by
the file's keys, with values from ${VAR} or URLs never shown (they may hold secrets)."""

from __future__ import annotations

import typing
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from monitor.yamlpos import Document, Loc, Problem, described, did_you_mean, shown_date

ModelT = TypeVar("ModelT", bound=BaseModel)


def validate_document(
    doc: Document, model: type[ModelT], who: str, problems: list[Problem]
) -> ModelT | None:
    """``doc.data`` as ``model``, or None with each problem (labelled ``who``, e.g.
    "rule 'x'") added to ``problems`` at its file:line:col."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        for p in validation_problems(doc, exc, model):
            message = f"{p.key}: {p.message}" if p.key else p.message
            problems.append(Problem(p.file, p.line, p.col, who, message))
        return None


def validation_problems(
    doc: Document, exc: ValidationError, model: type[BaseModel]
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = _data_loc(doc.data, tuple(error["loc"]))
        message = _without_env_values(_message(error, model, secret=loc in doc.from_env), doc, loc)
        message += doc.env_origin(loc)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "type")
        problems.append(doc.problem(loc, message))
    return sorted(problems, key=lambda p: (p.line, p.col))


NOT_SHOWN = "text (not shown, it may hold a secret)"
# Shorter than this, a cut value (a check shows a long one cut) is not looked for: a
# few characters in quotes may be anything the message says.
_SHORTEST_CUT = 16


def _without_env_values(message: str, doc: Document, loc: Loc) -> str:
    """``message`` with each value from ${VAR} at or under ``loc`` not shown. The checks
    repeat a bad value in quotes (an unknown time zone, language or subreddit): a secret
    in the wrong variable went to check-config's output, the journal or a CI log."""
    for env_loc in doc.from_env:
        value = _value_at(doc.data, env_loc) if env_loc[: len(loc)] == loc else None
        if not isinstance(value, str) or not value:
            continue
        # Whole, or cut as a check cuts a long value (a subreddit at 40 characters).
        for end in range(min(len(value), len(message)), 0, -1):
            if end < min(len(value), _SHORTEST_CUT):
                break
            message = message.replace(repr(value[:end]), NOT_SHOWN)
    return message


def _value_at(data: Any, loc: Loc) -> Any:
    for part in loc:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _data_loc(data: Any, loc: Loc) -> Loc:
    """Drop the discriminator tags pydantic inserts into union locations."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]" or (isinstance(part, str) and isinstance(node, list | str | int)):
            # pydantic's names for a mapping's key and for union members (bool,
            # list[str]) are no keys of the file.
            continue
        if isinstance(node, dict) and isinstance(part, str) and part not in node:
            if node.get("type") == part:
                continue
            out.append(part)
            node = None
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _shown(value: Any, *, secret: bool = False) -> str:
    """A YAML value as the person who wrote it would name it. Text from ${VAR} or a URL
    is not shown: it may be a token, and check-config's output goes to the journal."""
    if isinstance(value, str) and (secret or "://" in value):
        return NOT_SHOWN
    return described(value)


def not_text(value: object) -> str | None:
    """What is wrong with an unquoted YAML scalar given where text belongs, or None."""
    if isinstance(value, bool):
        # YAML 1.1: `languages: [en, no]` holds false, not Norwegian.
        return (
            f"expected text, not {_shown(value)}: YAML reads an unquoted yes, no,"
            " on or off as true or false; put it in quotes"
        )
    if isinstance(value, int | float):
        # Not shown: an unquoted number may be a password.
        return "expected text, not a number; put it in quotes"
    if isinstance(value, date):
        return (
            f"expected text, not {shown_date(value)}: YAML reads an unquoted date as a date;"
            " put it in quotes"
        )
    return None


def _message(error: Any, model: type[BaseModel], *, secret: bool = False) -> str:
    if error["type"] == "extra_forbidden":
        raw_loc = tuple(error["loc"])
        known = _known_keys(model, raw_loc[:-1])
        return f"unknown key{did_you_mean(str(raw_loc[-1]), known)}"
    if error["type"] == "model_type":
        # pydantic's own text names our class ("instance of EscalateSpec").
        return f"expected a mapping (key: value), not {_shown(error['input'], secret=secret)}"
    if error["type"] == "string_type" and (found := not_text(error["input"])):
        return found
    if error["type"] == "union_tag_not_found" and (tags := _tags_at(model, error["loc"])):
        # pydantic's "Unable to extract tag using discriminator 'type'" named no fix.
        return f"missing; expected one of {', '.join(map(repr, tags))}"
    if error["type"] == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    return str(error["msg"]).removeprefix("Value error, ")


def _known_keys(model: type[BaseModel], raw_loc: Loc) -> list[str]:
    """Field names of the model found at pydantic's own error location."""
    names = [name for m in _models_in(_candidates(model, raw_loc)) for name in m.model_fields]
    return [n for n in names if n != "base_dir"]


def _candidates(model: type[BaseModel], raw_loc: Loc) -> list[Any]:
    """The annotations that may hold the value at pydantic's error location."""
    candidates: list[Any] = [model]
    for part in raw_loc:
        # A mapping's key (`responders: {x: ...}`) leads to its value type; taken for a
        # field or a union tag, `x` named the x responder's keys instead.
        nxt: list[Any] = [typing.get_args(c)[1] for c in candidates if _is_dict(c)]
        if nxt:
            candidates = nxt
            continue
        for current in _models_in(candidates):
            if isinstance(part, str) and part in current.model_fields:
                nxt.append(current.model_fields[part].annotation)
            elif isinstance(part, str) and _tag(current) == part:
                nxt.append(current)
        if isinstance(part, int) or not nxt:
            nxt = [arg for c in candidates for arg in typing.get_args(c)] or candidates
        candidates = nxt
    return candidates


def _tags_at(model: type[BaseModel], raw_loc: Any) -> list[str]:
    """The ``type`` values the union at pydantic's error location accepts."""
    models = _models_in(_candidates(model, tuple(raw_loc)))
    return sorted({tag for m in models if (tag := _tag(m)) is not None})


def _is_dict(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict and len(typing.get_args(annotation)) == 2


def _models_in(annotations: list[Any]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    stack = list(annotations)
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found.append(item)
        else:
            stack.extend(typing.get_args(item))
    return found


def _tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    args = typing.get_args(field.annotation) if field else ()
    return str(args[0]) if len(args) == 1 else None
