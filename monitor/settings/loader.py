"""Reading the config file: where it is, its ${VAR}s, its validation as one problem
list at file:line:col, and the warnings check-config prints."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from monitor.settings.errors import validation_problems
from monitor.settings.model import Settings, bare_handle
from monitor.sources.x_settings import split_account_warning
from monitor.yamlpos import ConfigError, Loc, Problem, load_documents, not_utf8, substitute_env

DEFAULT_CONFIG = Path("config/inchannel.yaml")


CONFIG_ENV = "INCHANNEL_CONFIG"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG


def load_settings(path: Path, environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the config file; raise ConfigError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(str(path), 1, 1, "", not_utf8(exc))]) from None
    documents = load_documents(path, text)
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        line = documents[0].start_line if documents else 1
        message = "expected one YAML mapping (brand:, sources:, ...)"
        raise ConfigError([Problem(str(path), line, 1, "", message)])
    doc = documents[0]
    # A password in ${DB_PASSWORD} may hold @ : / #: encoded, it stays a password.
    problems = substitute_env(doc, environ, url_encoded={("database", "url")})
    if problems:
        raise ConfigError(problems)
    data = dict(doc.data)
    data["base_dir"] = path.parent.resolve()
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc, Settings)) from None

    def find_warnings() -> tuple[Problem, ...]:
        found = _brand_words_scored(settings)
        if "negative_alert" in settings.scoring.model_fields_set:
            found.append((("scoring", "negative_alert"), _NEGATIVE_ALERT_UNUSED))
        split = None if settings.x is None else split_account_warning(settings.x)
        if split is not None:
            found.append((("x", "access_token"), split))
        return tuple(doc.problem(loc, message, warning=True) for loc, message in found)

    settings._find_warnings = find_warnings
    return settings


_NEGATIVE_ALERT_UNUSED = (
    "has no effect (deprecated): no rule, stored score or command reads it; to act on very"
    ' negative mentions, match `compound: "-1 .. -0.6"` in a rule (docs/rules.md) and'
    " remove this key"
)


def _brand_words_scored(settings: Settings) -> list[tuple[Loc, str]]:
    """The brand's name and handles are read as words by the scorer, which never
    learns they are a name: "Best Buy ruined my order" scored positive ("best" is
    +3.2). A word the config's own lexicon names was decided on."""
    # Imported here: monitor.scoring imports this module.
    from monitor.scoring.lexicon import configured_analyzer, scored_words

    scoring = settings.scoring
    vader = configured_analyzer(scoring.lexicon, use_default=scoring.default_lexicon)
    names: list[tuple[Loc, str]] = [(("brand", "name"), settings.brand.name)]
    for platform, handles in settings.brand.accounts.items():
        names += [
            (("brand", "accounts", platform, i), bare_handle(h)) for i, h in enumerate(handles)
        ]
    warned: set[str] = set()
    found: list[tuple[Loc, str]] = []
    for loc, name in names:
        for word, valence in scored_words(name, vader):
            if word in scoring.lexicon or word in warned:
                continue
            warned.add(word)
            reads = "more positive" if valence > 0 else "more negative"
            found.append((loc, (
                f"{word!r} is a VADER lexicon word ({valence:+.1f}), so a mention naming"
                f" the brand reads {reads} than it is; if here it is only the name, set"
                f" scoring.lexicon: {{{word}: 0}} (docs/scoring.md)"
            )))  # fmt: skip
    return found
