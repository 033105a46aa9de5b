"""The config file: pydantic models and a loader whose errors carry file:line:col.

Pydantic stays at this edge. The rest of the daemon reads these frozen models or the
frozen dataclasses built from them.
"""

from __future__ import annotations

import functools
import os
import re
import typing
import unicodedata
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from monitor.alerts_settings import AlertsConfig, check_channels, refuse_unknown_channels
from monitor.calendar import BusinessCalendar
from monitor.database_settings import Database, anchor_sqlite_path
from monitor.domain import (
    MAX_SLA_MINUTES,
    MAX_WAIT_HOURS,
    MAX_WAIT_MINUTES,
    MAX_WAIT_SECONDS,
    MIN_NOTIFY_CHARS,
    NAME_CHARS,
    NOTIFY_CHARS,
    ascii_digits,
)
from monitor.logs import redact_apprise_urls
from monitor.rules.hours import OpeningHours, parse_week, parse_zone
from monitor.sources.reddit_settings import (
    RedditInboxSourceConfig,
    RedditResponderConfig,
    RedditSearchSourceConfig,
    RedditSettings,
    RedditSubredditSourceConfig,
)
from monitor.sources.x_settings import (
    XMentionsSourceConfig,
    XResponderConfig,
    XSearchSourceConfig,
    XSettings,
    split_account_warning,
)
from monitor.yamlpos import (
    ConfigError,
    Document,
    Loc,
    Problem,
    described,
    did_you_mean,
    load_documents,
    not_utf8,
    shown_date,
    substitute_env,
)

DEFAULT_CONFIG = Path("config/inchannel.yaml")
# Platform requests one reply's send can make, each up to the responder's timeout. On
# Reddit the thread check under a comment is two reads (/api/info finds its thread),
# each tried three times by prawcore, then the post: 4 let a claim go stale mid-send.
SENDS_PER_REPLY = {"x": 4, "reddit": 7}
CONFIG_ENV = "INCHANNEL_CONFIG"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Brand(Strict):
    name: str = Field(min_length=1)
    # The brand's own accounts per platform; their posts are stored but never acted on.
    accounts: dict[Literal["x", "reddit"], list[str]] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, name: str) -> str:
        # Reddit's default search looked for '"   "' and the rules' {brand} was spaces.
        if not name.strip():
            raise ValueError("must not be blank (is its environment variable empty?)")
        return name

    def own_handles(self, platform: str) -> frozenset[str]:
        accounts: list[str] = self.accounts.get(platform, [])  # type: ignore[call-overload]
        return frozenset(bare_handle(h) for h in accounts)


def bare_handle(written: str) -> str:
    """A handle as the platforms give an author's. People copy "@AcmeHelp", "u/acme" and
    "/u/acme" from the page: kept as written, the brand's own posts were not its own
    (and answered) on Reddit."""
    return written.strip().lower().removeprefix("/").removeprefix("u/").lstrip("@")


def _not_blank_path(value: Any) -> Any:
    """An empty path is Path("."), the config file's own folder: an empty ${VAR} as
    rules.path read inchannel.yaml as a rule file, and check-config printed a screenful
    of errors about keys no rule has instead of this one."""
    if isinstance(value, str) and not value.strip():
        raise ValueError(
            "must not be empty or blank (is its environment variable empty?): an empty"
            " path is the config file's own folder"
        )
    return value


ConfigPath = Annotated[Path, BeforeValidator(_not_blank_path)]


class ReplaySourceConfig(Strict):
    type: Literal["replay"]
    name: str = Field(min_length=1, max_length=NAME_CHARS, pattern=r"^[A-Za-z0-9_.-]+$")
    path: ConfigPath
    interval_seconds: float = Field(default=30, gt=0, le=MAX_WAIT_SECONDS)
    page_size: int = Field(default=20, ge=1, le=1000)
    # Move every mention's times so the file's newest lands when the daemon first reads
    # it, keeping the gaps (the demo: its fixed sample dates otherwise age). Off by
    # default: a replayed real history keeps its real dates.
    shift_to_now: bool = False
    enabled: bool = True


SourceConfig = Annotated[
    ReplaySourceConfig
    | XMentionsSourceConfig
    | XSearchSourceConfig
    | RedditInboxSourceConfig
    | RedditSubredditSourceConfig
    | RedditSearchSourceConfig,
    Field(discriminator="type"),
]


class RecordingResponderConfig(Strict):
    type: Literal["recording"] = "recording"
    # Where would-be posts are appended as JSON lines (None: memory only).
    path: ConfigPath | None = Path("var/recorded-posts.jsonl")


ResponderConfig = Annotated[
    RecordingResponderConfig | XResponderConfig | RedditResponderConfig,
    Field(discriminator="type"),
]


class Dispatch(Strict):
    interval_seconds: float = Field(default=5, gt=0, le=MAX_WAIT_SECONDS)
    batch_size: int = Field(default=50, ge=1, le=1000)
    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_base_seconds: float = Field(default=30, gt=0, le=MAX_WAIT_SECONDS)
    backoff_cap_seconds: float = Field(default=3600, gt=0, le=MAX_WAIT_SECONDS)
    # Notifications have nobody to take over when they fail: they are retried (backoff
    # up to backoff_cap_seconds) until they are this old, not max_attempts times.
    notify_retry_hours: float = Field(default=24, gt=0, le=24 * 14)


class Workers(Strict):
    """How workers sharing one database hand work over when one of them dies."""

    # A source's lease lasts this long (at least 3 poll intervals, and an X source's at
    # least its longest poll: ingest.source_lease_seconds) and is renewed as each poll
    # starts; a worker killed without clean-up blocks its sources this long.
    lease_seconds: float = Field(default=120, ge=5, le=MAX_WAIT_SECONDS)
    # A reply claimed for sending this long ago belongs to a dead worker: another
    # worker checks the platform for it (never re-sends blindly) and finishes it.
    stale_claim_seconds: float = Field(default=600, ge=5, le=MAX_WAIT_SECONDS)


class Processing(Strict):
    interval_seconds: float = Field(default=5, gt=0, le=MAX_WAIT_SECONDS)
    batch_size: int = Field(default=200, ge=1, le=10_000)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _written_date(value: object) -> object:
    """pydantic reads a number, or digits in quotes, as a Unix timestamp (1767225600 as
    2026-01-01): a holiday nobody wrote."""
    expected = "expected a date written YYYY-MM-DD (2026-12-25)"
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{expected}, not a number")
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError(f"{expected}, not {value!r}")
    return value


class Team(Strict):
    name: str = Field(min_length=1, max_length=NAME_CHARS)
    first_response_minutes: int = Field(default=60, ge=1, le=MAX_SLA_MINUTES)
    # Business minutes (the team's calendar) before the deadline at which check_sla warns.
    # Bounded as the deadline is: check_sla walks this far ahead in the calendar each run.
    sla_warning_minutes: int = Field(default=15, ge=0, le=MAX_SLA_MINUTES)
    channels: list[str] = Field(default_factory=list)
    # Business hours and holidays, in the team's own time zone: rules match on them and
    # the SLA clock stops outside them. No table: open around the clock.
    timezone: str = "UTC"
    business_hours: dict[str, str] = Field(default_factory=dict)  # {"mon-fri": "09:00-17:00"}
    holidays: list[Annotated[date, BeforeValidator(_written_date)]] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _trimmed(cls, name: str) -> str:
        """Rules, dashboard users and stored cases name a team exactly: ' care' was a
        second team that `team: care` in a rule never reached, shown as 'care'."""
        if name != name.strip():
            raise ValueError(
                "must not start or end with white space: rules and the dashboard name a"
                " team exactly"
            )
        return name

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        parse_zone(name)
        return name

    @field_validator("business_hours")
    @classmethod
    def _readable_hours(cls, table: dict[str, str]) -> dict[str, str]:
        week = parse_week(table)
        if week is not None and not any(week):
            # Else every deadline of the team failed at escalation, not at check-config.
            raise ValueError(
                "the team is closed every day, so its SLA clock never runs; give it"
                " hours, or leave business_hours out for around the clock"
            )
        return table

    def opening_hours(self) -> OpeningHours:
        # Every escalation starts an SLA clock from these: parsed once per team, not per case.
        table = tuple(self.business_hours.items())
        return _opening_hours(self.timezone, table, frozenset(self.holidays))

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.opening_hours())


@functools.lru_cache(maxsize=64)
def _opening_hours(
    zone: str, table: tuple[tuple[str, str], ...], holidays: frozenset[date]
) -> OpeningHours:
    return OpeningHours(parse_zone(zone), parse_week(dict(table)), holidays)


class Channel(Strict):
    """A notification target: an apprise URL (Slack, Teams, Discord, mailto, json://...)."""

    url: str = Field(min_length=3)
    # The most this channel takes, title and body together (an SMS or pager gateway:
    # 160); a longer notification is cut there, the customer's words first.
    max_chars: int = Field(default=NOTIFY_CHARS, ge=MIN_NOTIFY_CHARS, le=NOTIFY_CHARS)

    @field_validator("url")
    @classmethod
    def _apprise_can_send(cls, url: str) -> str:
        # Checked here, or a typo ("slak://") would fail every escalation at run time.
        import apprise

        redact_apprise_urls()
        # Read as the notifier reads it (responders.notify): apprise takes a string
        # holding several URLs (", " or " " between them) as that many targets.
        target = apprise.Apprise()
        if not target.add(url):
            raise ValueError(
                "apprise cannot send to this URL (its scheme or form is wrong; see "
                "https://github.com/caronc/apprise/wiki); the URL is not shown, it may "
                "hold a secret"
            )
        if len(target) > 1:
            # A notification is one outbox action per channel, retried whole: with one
            # of its URLs down, the others got the alert again at every retry, for all
            # of notify_retry_hours.
            raise ValueError(
                f"holds {len(target)} apprise URLs; a channel is one URL, sent to and "
                "retried on its own: give each URL a channel name of its own and list "
                "those names (the URLs are not shown, they may hold secrets)"
            )
        return url


class RulesConfig(Strict):
    path: ConfigPath = Path("rules")
    max_replies_per_thread: int = Field(default=2, ge=0)
    author_cooldown_minutes: float = Field(default=30, ge=0, le=MAX_WAIT_MINUTES)
    # The bot does not reply to mentions older than this (0: no limit); people still can.
    max_age_hours: float = Field(default=24, ge=0, le=MAX_WAIT_HOURS)


def _searchable(word: str) -> str:
    if not any(c.isalnum() for c in word):
        raise ValueError(f"{word!r} has no searchable word")
    return word


class AnswersConfig(Strict):
    """The knowledge base (docs/answers.md): a folder of entries and two thresholds on
    the match confidence (0..1), chosen on bench/answers.py's evaluation set."""

    path: ConfigPath = Path("answers")
    # At or above: the `answer` action posts the entry in the thread.
    answer_at: float = Field(default=0.35, gt=0, le=1)
    # At or above (and below answer_at): a draft with the entry for a person to approve.
    # From 0.15 up to answer_at the proposed entry is right 66% of the time on the 754
    # labelled tuning mentions, 78% on the blind ones (bench/answers.py).
    draft_at: float = Field(default=0.15, gt=0, le=1)
    # The brand's products ("kettle", "air fryer"): a question naming one is still a
    # question for an entry that holds for every product (returns, warranty, payment).
    # An entry about particular products says so with its own `products:`.
    products: list[Annotated[str, AfterValidator(_searchable)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> AnswersConfig:
        if self.draft_at > self.answer_at:
            raise ValueError("draft_at must not be above answer_at")
        return self


# Candidate languages for detection. A closed set is both faster and more accurate on
# short texts than all 97 of py3langid's languages (measured in bench/langid.py).
_LANGUAGE_CODES = (
    "en es de fr pt it nl sv da no fi pl cs ro hu tr el ru uk ar he fa hi id vi th ja ko zh"
)
DEFAULT_LANGUAGES = tuple(_LANGUAGE_CODES.split())
# Every code py3langid's model can detect (its nb_classes; test_scoring.py compares).
# Loading the model to ask takes 0.3 s, too slow for every config load; an unknown code
# passed check-config and then made every scorer build fail.
_LANGID_CODES = """ace af am an ar ary arz as az ba bcl be bg bn br bs ca crh cs cy da de dz
    el en eo es et eu ext fa fi fo fr fuv fy ga gcf gcr gd gl gom grc gu gug guw ha hbo he hi
    hr ht hu hy id ig is it ja jv ka kab kik kk km kn ko ku ky la lb lg lij ln lo lt ltg lv mg
    mk ml mn mr ms mt my ne nl nn no nso oc om or pa pcm pl ps pt qu ro ru rw sa sdh se si sk
    sl sn so sq sr st sv sw ta te tg th tk tl tr tt ug uk ur uz uzs vec vi vo wa wuu xh yo yue
    zh zu zxx"""
LANGID_CODES = frozenset(_LANGID_CODES.split())


def _known_language(code: str) -> str:
    if code not in LANGID_CODES:
        raise ValueError(
            f"unknown language {code!r}; expected a lower-case code py3langid"
            " detects (ISO 639-1 where there is one: en, de, ja, ...)"
        )
    return code


def _readable_lexicon_word(word: str) -> str:
    """A lexicon word as the scorer can meet it: emoji and symbols are replaced by words
    and NFKC folds styled letters before VADER reads the text, so such a key would
    silently do nothing."""
    if any(_replaced(c) for c in word):
        raise ValueError(
            f"lexicon word {word!r} holds an emoji or symbol, which the scorer replaces"
            " by words before VADER reads the text; give those words a valence instead"
            " (docs/scoring.md, emoji table)"
        )
    # Imported here: monitor.scoring imports this module.
    from monitor.scoring.text import TYPOGRAPHIC

    folded = unicodedata.normalize("NFKC", word).translate(TYPOGRAPHIC)
    if folded != word:
        raise ValueError(f"lexicon word {word!r} is read as {folded!r}; write that instead")
    return word


def _reachable_lexicon_word(word: str) -> str:
    """A lexicon word VADER can still meet after the scorer's cleanup and its own
    punctuation stripping; any other key was accepted and silently did nothing."""
    # Imported here: monitor.scoring imports this module.
    from vaderSentiment.vaderSentiment import SentiText

    from monitor.scoring.emoji import FILLER
    from monitor.scoring.text import clean

    if word == FILLER:
        raise ValueError(
            f"lexicon word {word!r} is the filler the scorer puts before each emoji's"
            " words; it would give every emoji that valence"
        )
    # Known to the scorer as itself: a run is kept when that makes a known word.
    cleaned = clean(word, {word}, None).strip()
    if not cleaned:
        raise ValueError(
            f"lexicon word {word!r} is a handle or URL, which the scorer removes before"
            " VADER reads the text"
        )
    if cleaned != word:
        raise ValueError(
            f"lexicon word {word!r} holds a run of repeated characters, which the"
            " scorer shortens before VADER reads the text (docs/scoring.md, step 3)"
        )
    read = str(SentiText._strip_punc_if_word(word))
    if read != word:
        raise ValueError(
            f"lexicon word {word!r} is read as {read!r}: VADER strips the punctuation"
            " around a word; write that instead"
        )
    return word


def _replaced(char: str) -> bool:
    category = unicodedata.category(char)
    symbol = not char.isascii() and category[0] == "S"
    return symbol or category == "Cf" or "\ufe00" <= char <= "\ufe0f"


class ScoringConfig(Strict):
    # Label thresholds on VADER's compound score (the paper's ±0.05).
    positive_threshold: float = Field(default=0.05, ge=-1, le=1)
    negative_threshold: float = Field(default=-0.05, ge=-1, le=1)
    # Deprecated: sets Score.alert, which no rule key, stored score or command reads
    # (rules match `compound`). Accepted so old configs load; check-config warns.
    negative_alert: float = Field(default=-0.5, ge=-1, le=1)
    # Support-domain overlay {word: valence on VADER's -4..4 scale}, merged over the
    # shipped default (monitor/scoring/lexicon.py) unless default_lexicon is false.
    lexicon: dict[str, float] = Field(default_factory=dict)
    default_lexicon: bool = True
    # Language detection for mentions whose platform gave no language.
    detect_language: bool = True
    languages: list[Annotated[str, AfterValidator(_known_language)]] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES)
    )
    # A text is declared non-English only when the detector is at least this sure.
    language_confidence: float = Field(default=0.5, gt=0, le=1)

    @field_validator("lexicon")
    @classmethod
    def _lexicon_words(cls, lexicon: dict[str, float]) -> dict[str, float]:
        for word, valence in lexicon.items():
            if not word or word != word.strip().lower() or any(c.isspace() for c in word):
                raise ValueError(f"lexicon word {word!r} must be one lower-case token")
            if not -4 <= valence <= 4:
                raise ValueError(f"lexicon valence for {word!r} must be within -4..4")
            _readable_lexicon_word(word)
            _reachable_lexicon_word(word)
        return lexicon

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, languages: list[str]) -> list[str]:
        if "en" not in languages:
            raise ValueError("languages must include 'en'")
        return languages

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> ScoringConfig:
        # negative_alert is not ordered with them: it changes nothing, and its default
        # refused `negative_threshold: -0.6` written alone.
        if not self.negative_threshold < self.positive_threshold:
            raise ValueError("need negative_threshold < positive_threshold")
        return self


def _listen_host(host: str) -> str:
    """An empty host is every interface to a socket: an empty ${VAR} put the dashboard
    (and, where the C library reads "" so, the unauthenticated metrics listener) on every
    network the machine is on, with nothing said."""
    if not host.strip():
        raise ValueError(
            "must not be empty or blank (is its environment variable empty?); to listen"
            " on every interface on purpose, write 0.0.0.0 (or ::)"
        )
    return host


ListenHost = Annotated[str, AfterValidator(_listen_host)]


class Web(Strict):
    enabled: bool = True
    host: ListenHost = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # How people reach the dashboard; used for links in notifications. Default: the
    # address the dashboard listens on (http://127.0.0.1:8000 with the defaults).
    public_url: str = "http://127.0.0.1:8000"
    # Bearer token a Prometheus scraper sends to /metrics; unset: loopback clients only.
    metrics_token: SecretStr | None = None
    # The IANA zone whose days the reports count (volume per day, the CSV, the API):
    # in UTC a New York team's evening was counted under the next day.
    report_timezone: str = "UTC"

    @model_validator(mode="before")
    @classmethod
    def _public_url_from_address(cls, data: Any) -> Any:
        """Without ``public_url``, links (notifications, the demo's first-start line)
        point at ``host`` and ``port`` as configured, not at the default port."""
        if not isinstance(data, dict) or data.get("public_url") is not None:
            return data
        host, port = data.get("host", "127.0.0.1"), data.get("port", 8000)
        # A ValueError here would be reported for the whole web: section instead of the
        # field check's message for web.port.
        # pydantic reads web.port past white space ("9090\n" from an env file): read
        # otherwise, the links kept port 8000 while the dashboard listened on 9090.
        if isinstance(port, str) and ascii_digits(port.strip()):
            port = int(port)
        if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int):
            return data  # the field checks report it
        if not 0 <= port <= 65535:
            # Built from it, the default public_url was refused too, before web.port's
            # own message, about a key the file does not have.
            return data
        return {**data, "public_url": local_url(host, port)}

    @field_validator("public_url")
    @classmethod
    def _browser_url(cls, url: str) -> str:
        """Notification links start with it and the dashboard's same-origin check
        compares browsers' Origin with it: "care.acme.com" made links no chat client
        opens, and an origin no browser sends."""
        # As accepted: HSTS, Secure cookies and notification links read it as written,
        # and "HTTPS://" or a value with the env file's trailing newline lost all three.
        url = url.strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 -- raises on a port that is no number or out of range
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http:// or https:// URL with a host, such as https://care.acme.com"
            )
        return parts.scheme.lower() + url[len(parts.scheme) :]

    @field_validator("report_timezone")
    @classmethod
    def _known_report_zone(cls, name: str) -> str:
        parse_zone(name)
        return name

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 16`)")
        return token


def local_url(host: str, port: int) -> str:
    """The dashboard's address as a browser on this machine reaches it."""
    # Every interface (0.0.0.0, ::): this machine's loopback is one of them.
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 -- a link, not a bind address
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


class MetricsConfig(Strict):
    """A plain /metrics listener for workers that run without the dashboard (no auth)."""

    port: int | None = Field(default=None, ge=1, le=65535)
    host: ListenHost = "127.0.0.1"


class Logging(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        # `info` is how Python's own logging config and most daemons spell it.
        return value.strip().upper() if isinstance(value, str) else value


class Settings(Strict):
    brand: Brand
    database: Database = Database()
    sources: list[SourceConfig] = Field(default_factory=list)
    responders: dict[Literal["x", "reddit"], ResponderConfig] = Field(default_factory=dict)
    processing: Processing = Processing()
    dispatch: Dispatch = Dispatch()
    workers: Workers = Workers()
    # At least one: the first team takes what no rule routes (and dead replies).
    teams: list[Team] = Field(default_factory=lambda: [Team(name="care")], min_length=1)
    channels: dict[Annotated[str, Field(max_length=NAME_CHARS)], Channel] = Field(
        default_factory=dict
    )
    rules: RulesConfig = RulesConfig()
    answers: AnswersConfig = AnswersConfig()
    scoring: ScoringConfig = ScoringConfig()
    web: Web = Web()
    logging: Logging = Logging()
    metrics: MetricsConfig = MetricsConfig()
    x: XSettings | None = None
    reddit: RedditSettings | None = None
    alerts: AlertsConfig = AlertsConfig()
    # Set by the loader: the directory relative paths in the file are resolved against.
    base_dir: Path = Field(default=Path("."), exclude=True)
    # Set by the loader: what check-config prints and `run` logs, but accepts. Found
    # when asked: the brand-word check loads VADER's lexicon (0.16 s), which every other
    # command (`cases list`) would have waited for.
    _find_warnings: Callable[[], tuple[Problem, ...]] = PrivateAttr(default=tuple)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return self._find_warnings()

    @model_validator(mode="before")
    @classmethod
    def _anchor_database(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        database = data.get("database", {})
        if isinstance(database, dict) and "url" not in database:
            # The default URL is relative too: `database: {echo: true}` alone opened
            # (or created) a database under whatever directory the command ran in.
            database = {**database, "url": Database().url}
        base = Path(data.get("base_dir", "."))
        return {**data, "database": anchor_sqlite_path(database, base)}

    @field_validator("teams")
    @classmethod
    def _unique_team_names(cls, teams: list[Team]) -> list[Team]:
        _refuse_duplicates("team", [team.name for team in teams])
        return teams

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        _refuse_duplicates("source", [source.name for source in sources])
        return sources

    @model_validator(mode="after")
    def _team_channels_exist(self) -> Settings:
        for i, team in enumerate(self.teams):
            named = [(("teams", i, "channels", j), name) for j, name in enumerate(team.channels)]
            refuse_unknown_channels("Settings", named, self.channels, f"team {team.name!r}: ")
        return self

    @field_validator("alerts", mode="wrap")
    @classmethod
    def _alert_channels_exist(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> AlertsConfig:
        alerts: AlertsConfig = handler(value)
        # Not when channels: itself has errors (reported there): the names it holds are
        # unknown then, and each name here was "unknown channel ... (channels: none
        # configured)", the configured ones too.
        if "channels" in info.data:
            check_channels(alerts, info.data["channels"])
        return alerts

    @model_validator(mode="after")
    def _budget_channels_exist(self) -> Settings:
        notify = self.x.budget.notify if self.x else []
        named = [(("x", "budget", "notify", i), name) for i, name in enumerate(notify)]
        refuse_unknown_channels("Settings", named, self.channels)
        return self

    @model_validator(mode="after")
    def _x_section_when_used(self) -> Settings:
        uses_x = [s.name for s in self.sources if s.type in ("x_mentions", "x_search")]
        responder = self.responders.get("x")
        if responder is not None and responder.type == "x":
            uses_x.append("responders.x")
        if uses_x and self.x is None:
            raise ValueError(
                f"an x: section (user_id, credentials) is needed by {', '.join(uses_x)}"
            )
        if self.x is not None:
            reads = any(name != "responders.x" for name in uses_x)
            empty = self.x.empty_credentials(reads=reads, writes="responders.x" in uses_x)
            if empty:
                raise ValueError(f"x: {', '.join(empty)} must be set for the X parts in use")
        return self

    @model_validator(mode="after")
    def _claims_outlast_a_send(self) -> Settings:
        """A dispatch batch starts sends until half the stale-claim time, and one send
        can take SENDS_PER_REPLY timeouts (Reddit: prawcore's three tries at each of the
        thread check's two reads, then the post). Still under way when its claim goes
        stale, another worker takes it for a dead worker's, finds no reply in the thread
        yet and posts again."""
        sends: list[tuple[int, str, float]] = []
        if self.x is not None and self._posts_to("x"):
            sends.append((SENDS_PER_REPLY["x"], "x.timeout_seconds", self.x.timeout_seconds))
        if self.reddit is not None and self._posts_to("reddit"):
            timeout = self.reddit.timeout_seconds
            sends.append((SENDS_PER_REPLY["reddit"], "reddit.timeout_seconds", timeout))
        if not sends:
            return self
        requests, key, timeout = max(sends, key=lambda send: send[0] * send[2])
        needed = 2 * requests * timeout
        if self.workers.stale_claim_seconds <= needed:
            raise ValueError(
                f"workers.stale_claim_seconds ({self.workers.stale_claim_seconds:g}) must be "
                f"more than {needed:g}: {2 * requests} x {key} ({timeout:g} s), or a "
                "reply still being posted can be taken for a dead worker's and posted twice"
            )
        return self

    def _posts_to(self, platform: Literal["x", "reddit"]) -> bool:
        responder = self.responders.get(platform)
        return responder is not None and responder.type == platform

    @model_validator(mode="after")
    def _reddit_section_present(self) -> Settings:
        uses_reddit = any(s.type.startswith("reddit_") for s in self.sources) or any(
            r.type == "reddit" for r in self.responders.values()
        )
        if uses_reddit and self.reddit is None:
            raise ValueError("reddit sources and responders need a 'reddit:' section")
        return self

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    @property
    def is_demo(self) -> bool:
        """True when nothing talks to a real platform: no credentials are needed."""
        return all(s.type == "replay" for s in self.sources) and all(
            r.type == "recording" for r in self.responders.values()
        )


def _refuse_duplicates(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} name {name!r}")
        seen.add(name)


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
