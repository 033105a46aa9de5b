"""What an operation is: the least role it needs, its fields, and how a submitted value
(a form's string or a JSON value) is checked against them before the operation runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.casework import CaseworkError
from monitor.runtime import Runtime
from monitor.web.params import ascii_digits, require_storable
from monitor.web.users import User

Params = dict[str, Any]
# As the ids in the address (params.Id): no row id has over 19 digits, so 100 leave room
# for leading zeros; a longer number is refused before int(), which raises on one of over
# 4,300 digits (a 500 for a form field or a JSON string).
MAX_ID_DIGITS = 100


@dataclass(frozen=True, slots=True)
class Field:
    kind: str = "string"  # "string" | "integer" (an id) | "count" (0 and up)
    required: bool = False
    max_length: int = 200
    choices: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        if self.kind in ("integer", "count"):
            return {"type": "integer", "minimum": 1 if self.kind == "integer" else 0}
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.choices:
            out["enum"] = list(self.choices)
        return out


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    role: str
    summary: str
    # The page's "Done: ..." after the redirect, which carries no result: what happened,
    # where the summary names the form.
    done: str
    run: Callable[[Runtime, str, User, Params], str]
    fields: Mapping[str, Field] = field(default_factory=dict)

    def parse(self, raw: Mapping[str, Any]) -> Params:
        """Validate submitted values (form strings or JSON) against the fields."""
        params: Params = {}
        for name, spec in self.fields.items():
            value = raw.get(name)
            if value is None or value == "":
                if spec.required:
                    raise CaseworkError(f"{name} is required")
                continue
            params[name] = _coerce(name, spec, value)
        return params


def _coerce(name: str, spec: Field, value: Any) -> Any:
    if spec.kind in ("integer", "count"):
        return _whole_number(name, value)
    if not isinstance(value, str):
        raise CaseworkError(f"{name} must be text")
    if len(value) > spec.max_length:
        raise CaseworkError(f"{name} is longer than {spec.max_length} characters")
    if spec.choices and value not in spec.choices:
        raise CaseworkError(f"{name} must be one of {', '.join(spec.choices)}")
    return require_storable(name, value)


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not ascii_digits(str(value)):
        raise CaseworkError(f"{name} must be a positive whole number")
    # A JSON number was parsed already; only a string can be too long for int().
    if isinstance(value, str) and len(value) > MAX_ID_DIGITS:
        raise CaseworkError(
            f"{name} must be a positive whole number of at most {MAX_ID_DIGITS} digits"
        )
    return int(value)
