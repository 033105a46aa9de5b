"""The whole config file's model: the brand, the source and responder unions, and the
checks across sections (channels named, platform sections present, claims outlasting a
send)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from monitor.alerts_settings import AlertsConfig, check_channels, refuse_unknown_channels
from monitor.database_settings import Database, anchor_sqlite_path
from monitor.domain import NAME_CHARS
from monitor.settings.base import Strict
from monitor.settings.pipeline import (
    AnswersConfig,
    Dispatch,
    Processing,
    RecordingResponderConfig,
    ReplaySourceConfig,
    RulesConfig,
    Workers,
)
from monitor.settings.scoring import ScoringConfig
from monitor.settings.teams import Channel, Team
from monitor.settings.web import Logging, MetricsConfig, Web
from monitor.sources.reddit_settings import (
    USERNAME as REDDIT_USERNAME,
)
from monitor.sources.reddit_settings import (
    RedditInboxSourceConfig,
    RedditResponderConfig,
    RedditSearchSourceConfig,
    RedditSettings,
    RedditSubredditSourceConfig,
)
from monitor.sources.x_parse import USERNAME as X_USERNAME
from monitor.sources.x_settings import (
    XMentionsSourceConfig,
    XResponderConfig,
    XSearchSourceConfig,
    XSettings,
)
from monitor.yamlpos import Problem

# Platform requests one reply's send can make, each up to the responder's timeout. On
# Reddit the thread check under a comment is two reads (/api/info finds its thread),
# each tried three times by prawcore, then the post: 4 let a claim go stale mid-send.
SENDS_PER_REPLY = {"x": 4, "reddit": 7}


def _named(name: str) -> str:
    """An empty key (``"":``) passed: its notifications went out, and the outbox and the
    failing-channel report of `inchannel status` named their channel ''."""
    if not name:
        raise ValueError("a channel's name must not be empty: teams and alerts list it by name")
    return name


ChannelName = Annotated[str, Field(max_length=NAME_CHARS), AfterValidator(_named)]


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

    @model_validator(mode="after")
    def _handles(self) -> Brand:
        """Each handle as the platforms give an author's: "Acme Help", a profile's URL
        or an empty ${VAR} matched no author, and the brand's own posts were taken for
        customers' (a case opened, the bot answering itself), with nothing said."""
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "handle",
                    "{written} is no {what}",
                    # A URL is never shown: check-config's output goes to CI logs.
                    {"written": "a URL" if "://" in h else repr(h), "what": _HANDLES[platform][1]},
                ),
                loc=("accounts", platform, i),
                input=h,
            )
            for platform, handles in self.accounts.items()
            for i, h in enumerate(handles)
            if not _HANDLES[platform][0].fullmatch(bare_handle(h))
        ]
        if errors:
            raise ValidationError.from_exception_data("Brand", errors)
        return self

    def own_handles(self, platform: str) -> frozenset[str]:
        accounts: list[str] = self.accounts.get(platform, [])  # type: ignore[call-overload]
        return frozenset(bare_handle(h) for h in accounts)


# How an author's handle is given (X: as monitor.sources.x_parse reads it), and the
# handles a brand account may be written as.
_HANDLES = {
    "x": (X_USERNAME, "X handle (up to 50 letters, digits and _, written with or without @)"),
    "reddit": (
        REDDIT_USERNAME,
        "Reddit username (3-20 letters, digits, _ and -, written with or without u/)",
    ),
}


def bare_handle(written: str) -> str:
    """A handle as the platforms give an author's. People copy "@AcmeHelp", "u/acme" and
    "/u/acme" from the page: kept as written, the brand's own posts were not its own
    (and answered) on Reddit."""
    return written.strip().lower().removeprefix("/").removeprefix("u/").lstrip("@")


SourceConfig = Annotated[
    ReplaySourceConfig
    | XMentionsSourceConfig
    | XSearchSourceConfig
    | RedditInboxSourceConfig
    | RedditSubredditSourceConfig
    | RedditSearchSourceConfig,
    Field(discriminator="type"),
]


ResponderConfig = Annotated[
    RecordingResponderConfig | XResponderConfig | RedditResponderConfig,
    Field(discriminator="type"),
]


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
    channels: dict[ChannelName, Channel] = Field(default_factory=dict)
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
        if self.posts_to("x"):
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
        if self.x is not None and self.posts_to("x"):
            sends.append((SENDS_PER_REPLY["x"], "x.timeout_seconds", self.x.timeout_seconds))
        if self.reddit is not None and self.posts_to("reddit"):
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

    def posts_to(self, platform: Literal["x", "reddit"]) -> bool:
        """Whether a responder posts on ``platform`` (a recording one posts nowhere)."""
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
