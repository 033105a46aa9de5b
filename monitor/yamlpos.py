"""YAML loading that remembers where every value came from.

Config and rule errors must point at ``file:line:col`` (DESIGN rule 7), so we compose
the YAML node tree ourselves and record each node's position under its key path.
Only plain data comes out (dict, list, str, int, float, bool, None): the safe loader
never builds objects, and values are never evaluated.
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from pydantic import ValidationInfo

Loc = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# `$${` is a literal `${` (docker compose's escape), matched in the same left-to-right
# pass as the references so the `${` it leaves is never read as one.
_ENV_TOKEN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MALFORMED_REF = (
    "'${' that is not an environment variable reference: write ${NAME}, NAME of letters,"
    " digits and _ (or $${ for a literal ${)"
)
TAB_MESSAGE = (
    "invalid YAML: a tab; YAML indents (and separates values) with spaces, not tabs:"
    " replace it with spaces"
)
# No config or rule file needs more than a handful of levels; a limit far below
# Python's recursion limit keeps the composer and every later walk of the data
# (environment substitution, rule building) from overflowing the stack.
MAX_DEPTH = 64
# Values one file may expand to. An alias (*name) repeats all its anchor holds, so a few
# lines of aliases of aliases ("billion laughs") expand to billions of values; a real
# config or rule file holds a few thousand.
MAX_VALUES = 100_000
# How errors name the value a standard tag wants (an unquoted 2027-02-29 is a timestamp).
_STANDARD_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = f"{_STANDARD_TAG}merge"
_TAG_NAMES = {
    f"{_STANDARD_TAG}int": "a whole number",
    f"{_STANDARD_TAG}float": "a number",
    f"{_STANDARD_TAG}bool": "true or false",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file, printed as ``file:line:col: key: message``."""

    file: str
    line: int
    col: int
    key: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        prefix = f"{self.file}:{self.line}:{self.col}"
        kind = "warning: " if self.warning else ""
        key = f"{self.key}: " if self.key else ""
        return readable(f"{prefix}: {kind}{key}{self.message}")


def readable(text: str) -> str:
    """``text`` with what no UTF-8 page, log line or JSON can hold shown as U+FFFD: a
    file name that is not UTF-8 (``café.yaml`` from a Latin-1 system) is its bytes as
    lone surrogates, and quoted in the dashboard's notice it failed every page with a
    500 (in a log record, pytest-xdist could not send the test's report)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate no file name gives
        return text.encode("utf-8", "replace").decode("utf-8")


class ConfigError(Exception):
    """Raised with every problem found; the CLI prints them and exits 2."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: its plain data and the position of every key path."""

    file: str
    data: Any
    positions: dict[Loc, tuple[int, int]]
    start_line: int = 1
    # Where a ${VAR} was substituted: such values may be secrets and are never echoed.
    from_env: frozenset[Loc] = frozenset()
    # At each of those: the variables' names, and whether one of them is the whole value.
    env_names: dict[Loc, tuple[tuple[str, ...], bool]] = field(default_factory=dict)

    def env_origin(self, loc: Loc) -> str:
        """ "; the value came from ${PORT}" for a value substituted from the environment,
        else "": an error about it sent the operator to a file that only says ${PORT}.
        The value itself is never shown (it may be a secret)."""
        names, whole = self.env_names.get(loc, ((), False))
        if not names:
            return ""
        refs = ", ".join(f"${{{name}}}" for name in names)
        return f"; the value came from {refs}" if whole else f"; the value holds {refs}"

    def where(self, loc: Loc) -> tuple[int, int]:
        """Position of the deepest known prefix of ``loc`` (1-based line and column)."""
        for end in range(len(loc), -1, -1):
            found = self.positions.get(loc[:end])
            if found is not None:
                return found
        return (self.start_line, 1)

    def problem(self, loc: Loc, message: str, *, warning: bool = False) -> Problem:
        line, col = self.where(loc)
        return Problem(self.file, line, col, format_loc(loc), message, warning)

    def named(self, key: str, order: int, shape: str, problems: list[Problem]) -> str | None:
        """The name a rule or answer goes by in its problems: its ``key``, else its place
        among the entries (``order``, 0-based, shown "#1"); one function, so rules and
        answers are named alike. None, with a problem saying ``shape``, for no mapping."""
        if not isinstance(self.data, dict):
            problems.append(Problem(self.file, self.start_line, 1, "", shape))
            return None
        raw = self.data.get(key)
        return raw if isinstance(raw, str) and raw else f"#{order + 1}"


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _DuplicateKey(Exception):
    def __init__(self, line: int, col: int, key: str) -> None:
        super().__init__(key)
        self.line, self.col, self.key = line, col, key


class _TooDeep(Exception):
    def __init__(self, line: int, col: int) -> None:
        super().__init__(line, col)
        self.line, self.col = line, col


class _TooMany(Exception):
    def __init__(self, loc: Loc) -> None:
        super().__init__(loc)
        self.loc = loc


class _BadScalar(Exception):
    def __init__(self, line: int, col: int, message: str, key: str = "") -> None:
        super().__init__(message)
        self.line, self.col, self.message, self.key = line, col, message, key


def _too_deep(path: Path, line: int = 1, col: int = 1) -> ConfigError:
    message = f"YAML nested too deeply (more than {MAX_DEPTH} levels of lists and mappings)"
    return ConfigError([Problem(str(path), line, col, "", message)])


def _construct(
    node: yaml.Node,
    loc: Loc,
    positions: dict[Loc, tuple[int, int]],
    scalars: yaml.SafeLoader,
    budget: list[int],
) -> Any:
    positions.setdefault(loc, _mark(node))
    if len(loc) > MAX_DEPTH:
        raise _TooDeep(*_mark(node))
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooMany(loc)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, (*loc, "<key>"), {}, scalars, budget)
            if isinstance(key, bool):
                # `on:` (GitHub Actions' habit), `yes:`, `no:`: YAML 1.1 reads them as
                # true/false, and pydantic then said "[1]: Keys should be strings" at
                # the mapping, naming neither the key nor the fix.
                written = _source_text(key_node)
                message = (
                    f"YAML reads the unquoted key {written} as {str(key).lower()}, and a key"
                    f' must be text; put it in quotes: "{written}":'
                )
                raise _BadScalar(*_mark(key_node), message, format_loc((*loc, written)))
            key = str(key) if not isinstance(key, str | int) else key
            if key in out:
                raise _DuplicateKey(*_mark(key_node), str(key))
            positions[(*loc, key)] = _mark(key_node)
            out[key] = _construct(value_node, (*loc, key), positions, scalars, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(child, (*loc, i), positions, scalars, budget)
            for i, child in enumerate(node.value)
        ]
    # Scalars: let the safe constructor resolve the tag (int, bool, null, ...).
    try:
        return scalars.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, KeyError, AttributeError) as exc:
        # An impossible date (2027-02-29), a tag the safe loader does not know (`!!!`,
        # `!foo`) or a tag that cannot read its value (`!!int abc`): PyYAML raises
        # these from deep inside its constructor, not as syntax errors.
        raise _BadScalar(*_mark(node), _scalar_problem(node, exc)) from None


def _scalar_problem(node: yaml.Node, exc: Exception) -> str:
    written = _source_text(node)
    if node.tag == _MERGE_TAG:
        # The safe loader's own tag for `<<`: "a tag is not allowed" spoke of a "!"
        # nobody wrote.
        return "YAML merge keys (<<) are not supported; write the keys out"
    if isinstance(exc, yaml.YAMLError):
        tag = node.tag.replace(_STANDARD_TAG, "!!")
        return (
            f"cannot read {written}: YAML tag {tag!r} is not allowed; "
            'quote text that starts with "!"'
        )
    if node.tag == f"{_STANDARD_TAG}timestamp":
        # datetime says what is wrong with an impossible date ("day is out of range").
        reason = f": {exc}" if isinstance(exc, ValueError) else ""
        return f"cannot read {written} as a date{reason}"
    kind = _TAG_NAMES.get(node.tag, "its type")
    return f"cannot read {written} as {kind}"


def _source_text(node: yaml.Node) -> str:
    """The value as written in the file (at most 40 characters)."""
    start, end = node.start_mark, node.end_mark
    buffer = getattr(start, "buffer", None)
    text = buffer[start.index : end.index] if isinstance(buffer, str) else str(node.value)
    return text.strip()[:40]


def load_documents(path: Path, text: str | None = None) -> list[Document]:
    """Parse every ``---`` document of a YAML file, keeping positions.

    Raises ConfigError with the parser's own position on a syntax error.
    """
    source = path.read_text(encoding="utf-8") if text is None else text
    try:
        nodes = list(yaml.compose_all(source, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        if "character '\\t'" in str(exc.problem):
            # PyYAML's "found character '\t' that cannot start any token" named no fix;
            # editors that indent with tabs make this the commonest syntax error.
            message = TAB_MESSAGE
        elif mark and _env_ref_at(source, mark.index):
            # `{url: slack://${T}}`: the `{` of ${ is a flow indicator.
            message += '; in [...] or {...} put a value with ${...} in quotes: "${NAME}"'
        raise ConfigError([Problem(str(path), line, col, "", message)]) from None
    except yaml.reader.ReaderError as exc:
        # PyYAML gives the offset into the text, on a second line of its message: the
        # problem was reported at 1:1, away from the stray character (ESC pasted from a
        # terminal, a DEL), and broke the one-problem-a-line output.
        raise ConfigError([_unreadable_character(path, source, exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(path), 1, 1, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        # PyYAML's composer recurses once per level before we can count them.
        raise _too_deep(path) from None
    documents = []
    scalars = yaml.SafeLoader("")
    budget = [MAX_VALUES]  # for the whole file
    for node in nodes:
        if node is None:
            continue
        positions: dict[Loc, tuple[int, int]] = {}
        try:
            data = _construct(node, (), positions, scalars, budget)
        except _DuplicateKey as dup:
            message = f"duplicate key {dup.key!r} in one mapping; YAML would silently keep the last"
            raise ConfigError([Problem(str(path), dup.line, dup.col, "", message)]) from None
        except _TooDeep as deep:
            raise _too_deep(path, deep.line, deep.col) from None
        except _TooMany as many:
            raise _too_many(path, Document(str(path), None, positions), many.loc) from None
        except _BadScalar as bad:
            problem = Problem(str(path), bad.line, bad.col, bad.key, bad.message)
            raise ConfigError([problem]) from None
        documents.append(Document(str(path), data, positions, node.start_mark.line + 1))
    return documents


def _unreadable_character(path: Path, source: str, exc: yaml.reader.ReaderError) -> Problem:
    index = min(max(exc.position, 0), len(source))
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    code = exc.character  # the code point, for text PyYAML was given as str
    if isinstance(code, int) and 0 <= code <= sys.maxunicode:
        kind = "control character" if unicodedata.category(chr(code)) == "Cc" else "character"
        message = f"invalid YAML: {kind} U+{code:04X} is not allowed; delete it"
    else:
        message = f"invalid YAML: {exc.reason}"
    return Problem(str(path), line, col, "", message)


def _too_many(path: Path, doc: Document, loc: Loc) -> ConfigError:
    message = (
        f"YAML expands to more than {MAX_VALUES:,} values; an alias (*name) repeats"
        " everything its anchor (&name) holds"
    )
    return ConfigError([doc.problem(loc[:1], message)])


def _env_ref_at(source: str, index: int) -> bool:
    return index > 0 and source[index - 1 : index + 1] == "${"


def substitute_env(
    doc: Document,
    environ: dict[str, str] | None = None,
    *,
    url_encoded: frozenset[Loc] | set[Loc] = frozenset(),
) -> list[Problem]:
    """Replace ``${NAME}`` in string values in place, and ``$${`` with a literal ``${``;
    report variables that are not set.

    At the ``url_encoded`` locations a variable inside a longer value is percent-encoded
    (a password in a URL); one that is the whole value is taken as it is (a whole URL).
    """
    env = dict(os.environ) if environ is None else environ
    problems: list[Problem] = []
    substituted: set[Loc] = set()

    def value_of(name: str, loc: Loc, whole: bool) -> str:
        found = env.get(name, "")
        return quote(found, safe="") if loc in url_encoded and not whole else found

    def visit(value: Any, loc: Loc) -> Any:
        if isinstance(value, dict):
            return {k: visit(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v, (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            names = [m.group(1) for m in _ENV_TOKEN.finditer(value) if m.group(1)]
            for name in names:
                if name not in env:
                    problems.append(doc.problem(loc, f"environment variable {name} is not set"))
            if "${" in _ENV_TOKEN.sub("", value):  # ${DB-PASSWORD}: kept as text, unread
                problems.append(doc.problem(loc, MALFORMED_REF))
            whole = _ENV_REF.fullmatch(value) is not None
            if names:  # a value with only `$${` in it was written in the file, not a secret
                substituted.add(loc)
                doc.env_names[loc] = (tuple(dict.fromkeys(names)), whole)
            return _ENV_TOKEN.sub(
                lambda m: value_of(m.group(1), loc, whole) if m.group(1) else "${", value
            )
        return value

    object.__setattr__(doc, "data", visit(doc.data, ()))
    object.__setattr__(doc, "from_env", doc.from_env | substituted)
    return problems


def substitute_env_in_url(url: str, environ: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """``url``, a database URL given outside the config file (``db copy --to``), with
    ``${NAME}`` read as in ``database.url``; and what is wrong with its references."""
    doc = Document("", {"url": url}, {})
    problems = substitute_env(doc, environ, url_encoded={("url",)})
    return str(doc.data["url"]), [p.message for p in problems]


# UTF-32's little-endian mark starts with UTF-16's: looked for first.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def other_unicode(data: bytes) -> str | None:
    """ "UTF-16" or "UTF-32" for bytes that start with that encoding's byte order mark
    (Notepad's "Unicode", Excel's "Unicode Text", PowerShell 5's `>`), else None."""
    return next((name for bom, name in _BYTE_ORDER_MARKS if data.startswith(bom)), None)


def not_utf8(exc: UnicodeDecodeError) -> str:
    """Why a file that failed to decode as UTF-8 is no UTF-8 text, with the fix when it
    is UTF-16 or UTF-32: the decoder's "invalid start byte" said nothing of either."""
    name = other_unicode(bytes(exc.object))
    if name is None:
        return f"not UTF-8 text: {exc.reason}"
    return (
        f"not UTF-8 text: the file is {name} (it starts with {name}'s byte order mark);"
        " save it as UTF-8"
    )


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'name'?`` for the choice closest to ``word``; "" when none is."""
    guess = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {guess[0]!r}?" if guess else ""


def shown_date(value: date) -> str:
    """An unquoted 2026-12-01, which YAML reads as a date, named as it was written: its
    repr, datetime.date(2026, 12, 1), is nothing the person wrote."""
    return f"a date ({value.isoformat()})"


def described(value: object) -> str:
    """A YAML value named for an error message as the person wrote it (true, not True)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return shown_date(value) if isinstance(value, date) else repr(value)[:60]


def one_or_many(value: object, info: ValidationInfo) -> object:
    """A pydantic ``mode="before"`` validator for list fields of rule and answer files:
    one text is a list of one, anything else but a list is refused naming what to
    write (pydantic's "Input should be a valid list" did not)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    name = info.field_name
    raise ValueError(f"expected a list ({name}: [..., ...]) or one text, not {described(value)}")
