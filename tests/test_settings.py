"""Config loading: the shipped config is valid; every bad file fails with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from monitor.cli import main
from monitor.database_settings import Database
from monitor.settings import Settings, config_path, load_settings
from monitor.yamlpos import ConfigError, substitute_env_in_url
from tests.conftest import REPO

BAD = Path(__file__).parent / "data" / "bad_config"
SHIPPED_RULES = (
    f"rules: {{path: '{REPO}/config/rules'}}\nanswers: {{path: '{REPO}/config/answers'}}\n"
)

# file -> the exact lines check-config must print (paths relative to the corpus folder).
EXPECTED = {
    "yaml_syntax.yaml": ["4:3: invalid YAML: expected the node content, but found '-'"],
    "wrong_type.yaml": [
        "6:3: web.port: Input should be a valid integer, unable to parse string as an integer"
    ],
    "unknown_key.yaml": ["4:3: web.hots: unknown key; did you mean 'host'?"],
    "missing_env.yaml": [
        "4:3: database.url: environment variable INCHANNEL_TEST_UNSET_SECRET is not set"
    ],
    "unknown_source_key.yaml": [
        "4:5: sources[0].path: Field required",
        "6:5: sources[0].pathh: unknown key; did you mean 'path'?",
    ],
    "unknown_source_type.yaml": [
        "5:5: sources[0].type: unknown type 'carrier-pigeon'; expected one of 'replay', "
        "'x_mentions', 'x_search', 'reddit_inbox', 'reddit_subreddit', 'reddit_search'"
    ],
    "empty.yaml": ["1:1: expected one YAML mapping (brand:, sources:, ...)"],
    "not_mapping.yaml": ["1:1: expected one YAML mapping (brand:, sources:, ...)"],
    "missing_brand.yaml": ["1:1: brand: Field required"],
    "duplicate_source.yaml": ["3:1: sources: duplicate source name 'a'"],
    "metrics.yaml": [
        "4:3: web.metrics_token: must be at least 16 characters (e.g. `openssl rand -hex 16`)",
        "6:3: metrics.port: Input should be less than or equal to 65535",
    ],
    "sla_too_long.yaml": [
        "5:5: teams[0].first_response_minutes: Input should be less than or equal to 43200"
    ],
    "workers_claim_too_short.yaml": [
        "1:1: workers.stale_claim_seconds (120) must be more than 240: 8 x x.timeout_seconds "
        "(30 s), or a reply still being posted can be taken for a dead worker's and posted twice"
    ],
    # Reddit's thread check under a comment is two reads (its thread found through
    # /api/info), each tried three times by prawcore, then the post: 7 requests of 16 s.
    "workers_claim_too_short_reddit.yaml": [
        "1:1: workers.stale_claim_seconds (200) must be more than 224: 14 x "
        "reddit.timeout_seconds (16 s), or a reply still being posted can be taken for a "
        "dead worker's and posted twice"
    ],
    "workers.yaml": [
        "4:3: workers.lease_seconds: Input should be greater than or equal to 5",
        "5:3: workers.stale_claim_seconds: Input should be a valid number, unable to parse"
        " string as a number",
        "6:3: workers.run_once_every_minutes: Input should be greater than or equal to 0",
    ],
    "answers_products.yaml": ["4:22: answers.products[1]: '!!' has no searchable word"],
    "database_postgres_scheme.yaml": [
        "4:3: database.url: unsupported database 'postgres' (postgresql://, not postgres://);"
        " expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME"
    ],
    "database_not_url.yaml": [
        "4:3: database.url: not a database URL; expected sqlite:///PATH or"
        " postgresql://USER:PASSWORD@HOST/NAME"
    ],
    # Two slashes, not three: "var" was taken for a host, check-config said ok, and every
    # command that opened the database ended in SQLAlchemy's ArgumentError traceback.
    "database_sqlite_host.yaml": [
        "4:3: database.url: a SQLite URL names a file, not a host: write sqlite:///PATH"
        " (three slashes before a relative path, four before an absolute one)"
    ],
    # An empty ${VAR} after sqlite:/// is a database in memory: check-config said ok,
    # `run` kept everything in memory and lost it at exit, and every other command
    # read its own empty database.
    "database_sqlite_no_path.yaml": [
        "4:3: database.url: names no file after sqlite:/// (is its environment variable"
        " empty?), and SQLite would keep the database in memory, lost when each command"
        " ends; write sqlite:///PATH"
    ],
    # A port past 65535 (or 0) passed check-config: every command failed at connect.
    "database_port_out_of_range.yaml": [
        "4:3: database.url: the port must be 1-65535 (the URL is not shown, it may hold a password)"
    ],
    "duplicate_key.yaml": [
        "7:1: duplicate key 'database' in one mapping; YAML would silently keep the last"
    ],
    "no_teams.yaml": ["3:1: teams: List should have at least 1 item after validation, not 0"],
    "duplicate_team.yaml": ["3:1: teams: duplicate team name 'care'"],
    # Stored in 64-character columns: PostgreSQL refused every write of a longer one.
    "long_names.yaml": [
        "4:5: teams[0].name: String should have at most 64 characters",
        f"6:3: channels.{'c' * 65}: String should have at most 64 characters",
        "10:5: sources[0].name: String should have at most 64 characters",
    ],
    "not_utf8.yaml": ["1:1: not UTF-8 text: invalid continuation byte"],
    # An SMS or pager channel's bound must still hold a headline and the case's link.
    # An empty key passed: its notifications went out, and the outbox and the failing-
    # channel report of `inchannel status` named their channel ''.
    "channel_empty_name.yaml": [
        "4:3: channels.: a channel's name must not be empty: teams and alerts list it by name"
    ],
    "channel_max_chars_too_small.yaml": [
        "4:43: channels.pager.max_chars: Input should be greater than or equal to 60"
    ],
    "channel_bad_url.yaml": [
        "4:16: channels.care-slack.url: apprise cannot send to this URL (its scheme or form is"
        " wrong; see https://github.com/caronc/apprise/wiki); the URL is not shown, it may hold"
        " a secret"
    ],
    # apprise sends to each URL a string holds: a notification is retried whole, so a
    # second URL down had the first get the alert again at every retry (for a day).
    "channel_two_urls.yaml": [
        "4:10: channels.care.url: holds 2 apprise URLs; a channel is one URL, sent to and"
        " retried on its own: give each URL a channel name of its own and list those names"
        " (the URLs are not shown, they may hold secrets)"
    ],
    "alerts_unknown_channel.yaml": [
        "6:19: alerts.channels[1]: unknown channel 'pager' (channels: ops)"
    ],
    # The channels: section failed, so no channel was known: "ops" and "pager" were also
    # "unknown channel ... (channels: none configured)", which both are.
    "alerts_channels_section_broken.yaml": [
        "5:11: channels.pager.url: apprise cannot send to this URL (its scheme or form is"
        " wrong; see https://github.com/caronc/apprise/wiki); the URL is not shown, it may hold"
        " a secret"
    ],
    "deep_nesting.yaml": [
        "1:1: YAML nested too deeply (more than 64 levels of lists and mappings)"
    ],
    "scoring_unknown_language.yaml": [
        "4:23: scoring.languages[2]: unknown language 'klingon'; expected a lower-case code"
        " py3langid detects (ISO 639-1 where there is one: en, de, ja, ...)"
    ],
    "scoring_emoji_lexicon.yaml": [
        "4:3: scoring.lexicon: lexicon word '🙃' holds an emoji or symbol, which the scorer"
        " replaces by words before VADER reads the text; give those words a valence instead"
        " (docs/scoring.md, emoji table)"
    ],
    # PyYAML reads an unquoted date itself: an impossible one was a traceback (exit 1).
    "impossible_holiday.yaml": [
        "5:28: cannot read 2027-02-29 as a date: day is out of range for month"
    ],
    # A number is no date: pydantic read it (quoted too) as a Unix timestamp, 1767225600
    # as 2026-01-01, and the team was closed on a day nobody wrote.
    "holiday_number.yaml": [
        "5:28: teams[0].holidays[1]: expected a date written YYYY-MM-DD (2026-12-25), not a number",
        "5:40: teams[0].holidays[2]: expected a date written YYYY-MM-DD (2026-12-25), not"
        " '1767225600'",
    ],
    # No open minute in the week: check-config passed it, then every escalation to the
    # team failed to set its deadline ("no business hours within two years").
    "team_never_open.yaml": [
        "5:5: teams[0].business_hours: the team is closed every day, so its SLA clock"
        " never runs; give it hours, or leave business_hours out for around the clock"
    ],
    # A warning as long as the deadline came with the escalation itself, together with
    # the breach alert a minute-long deadline later: no warning at all.
    "sla_warning_at_deadline.yaml": [
        "7:5: teams[1].sla_warning_minutes: team 'tech' warns 10 business minutes before"
        " a deadline of 10 (first_response_minutes), so at the escalation itself: set it"
        " below 10 (0: no warning), or leave it out for half the deadline"
    ],
    # Days listed twice are open during either: the closed Sunday was open all day, its
    # SLA clock running and the rules' business_hours matching, with nothing said.
    "team_closed_day_opened.yaml": [
        "5:5: teams[0].business_hours: sun is closed by 'sun' but opened by 'mon-sun',"
        " and a day listed twice is open during either: leave sun out of 'mon-sun'"
    ],
    # The wider entry is the one to narrow: leaving mon out of 'mon-fri', as the message
    # said, closed the Monday the team meant open, and then Tuesday's error said the same.
    "team_week_closed_weekdays_opened.yaml": [
        "5:5: teams[0].business_hours: mon is closed by 'mon-sun' but opened by 'mon-fri',"
        " and a day listed twice is open during either: leave mon out of 'mon-sun'"
    ],
    # An overnight shift split at midnight, as asked: the message asked to split it again
    # and the docs never said a day ends at 24:00 (23:59 lost a minute a night).
    "team_overnight_to_midnight.yaml": [
        "5:5: teams[0].business_hours: mon-fri: '22:00-00:00' is not a span within one day;"
        " split an overnight shift at midnight, written 24:00 (22:00-24:00 on one day,"
        " 00:00-06:00 on the next)"
    ],
    # A region of the zone database, not a zone: ZoneInfo raised IsADirectoryError, a
    # traceback (exit 1) from check-config and from every command reading the config.
    "team_zone_folder.yaml": [
        "5:5: teams[0].timezone: unknown time zone 'Europe'; use an IANA name such as Europe/Berlin"
    ],
    # The value is an apprise URL with its token: echoed, it went to the journal.
    "channel_not_a_mapping.yaml": [
        "4:3: channels.care-slack: expected a mapping (key: value), not text (not shown,"
        " it may hold a secret)"
    ],
    # PyYAML's own merge tag: the message spoke of a "!" nobody wrote.
    "merge_key.yaml": ["6:5: YAML merge keys (<<) are not supported; write the keys out"],
    # Unquoted no (Norwegian) is false in YAML 1.1.
    "yaml_boolean_word.yaml": [
        "4:23: scoring.languages[2]: expected text, not false: YAML reads an unquoted"
        " yes, no, on or off as true or false; put it in quotes"
    ],
    # As a key too (`on:`, GitHub Actions' habit): "scoring.lexicon[1]: Keys should be
    # strings" named neither the key nor the fix.
    "yaml_boolean_key.yaml": [
        "5:5: scoring.lexicon.yes: YAML reads the unquoted key yes as true, and a key must be"
        ' text; put it in quotes: "yes":'
    ],
    "number_for_text.yaml": ["6:3: x.user_id: expected text, not a number; put it in quotes"],
    # pydantic's union member names (bool, list[str]) are no keys of the file.
    "union_member.yaml": [
        "5:5: alerts.spike.tags: Input should be a valid boolean, unable to interpret input",
        "5:5: alerts.spike.tags: Input should be a valid list",
    ],
    "unknown_platform.yaml": ["4:3: responders.mastodon: Input should be 'x' or 'reddit'"],
    # `{` after `$` ends a flow mapping in YAML: the docs' own advice, now in the error.
    "env_in_flow.yaml": [
        "4:23: invalid YAML: expected ',' or '}', but got '{'; in [...] or {...} put a"
        ' value with ${...} in quotes: "${NAME}"'
    ],
    # Notification links came out as "care.acme.com/cases/C-1", and no browser Origin
    # equals it, so behind a proxy the dashboard's forms could be refused.
    "public_url_no_scheme.yaml": [
        "4:3: web.public_url: must be an http:// or https:// URL with a host, such as"
        " https://care.acme.com"
    ],
    # pydantic's "Unable to extract tag using discriminator 'type'" named no fix.
    "source_without_type.yaml": [
        "4:5: sources[0].type: missing; expected one of 'reddit_inbox', 'reddit_search',"
        " 'reddit_subreddit', 'replay', 'x_mentions', 'x_search'",
        "7:3: responders.reddit.type: missing; expected one of 'recording', 'reddit', 'x'",
    ],
    # The platform key `x` was taken for the x responder's tag: no "did you mean".
    "responder_unknown_key.yaml": ["4:24: responders.x.pth: unknown key; did you mean 'path'?"],
    # Checked across sections, these were all reported at 1:1.
    "team_unknown_channel.yaml": [
        "9:21: teams[1].channels[1]: team 'billing': unknown channel 'bililng-slack'; did you"
        " mean 'billing-slack'? (channels: billing-slack, ops)"
    ],
    "budget_unknown_channel.yaml": [
        "8:21: x.budget.notify[0]: unknown channel 'ops' (channels: none configured)"
    ],
    # Aliases of aliases ("billion laughs"): nine levels of nine took check-config, and
    # every command reading the config, hours and all the memory there is.
    # Waits past a year (or .inf) passed check-config, then overflowed the date
    # arithmetic: check-config itself crashed on the rules' guards, and every poll,
    # dispatch or health check failed with "OverflowError: date value out of range".
    "durations_too_long.yaml": [
        "4:3: rules.author_cooldown_minutes: Input should be a finite number",
        "5:3: rules.max_age_hours: Input should be less than or equal to 8760",
        "7:3: workers.lease_seconds: Input should be less than or equal to 31536000",
        "9:3: dispatch.backoff_cap_seconds: Input should be a finite number",
        "11:3: alerts.realert_minutes: Input should be less than or equal to 525600",
        "16:5: sources[0].interval_seconds: Input should be less than or equal to 31536000",
    ],
    # PyYAML's reader refuses control characters with the offset into the text, on two
    # lines: it was reported at 1:1 ("in "<unicode string>", position 46").
    "control_character.yaml": [
        "3:27: invalid YAML: control character U+001B is not allowed; delete it"
    ],
    # The default public_url was built from the bad port, and refused first, at 3:1,
    # though the file has no public_url.
    "web_port_out_of_range.yaml": ["4:3: web.port: Input should be less than or equal to 65535"],
    "alias_bomb.yaml": [
        "7:1: l5: YAML expands to more than 100,000 values; an alias (*name) repeats"
        " everything its anchor (&name) holds"
    ],
    # An empty ${VAR} made the dashboard listen on every interface (the socket's "" is
    # INADDR_ANY) and the metrics listener fail at start; check-config passed both.
    "blank_host.yaml": [
        "4:3: web.host: must not be empty or blank (is its environment variable empty?);"
        " to listen on every interface on purpose, write 0.0.0.0 (or ::)",
        "7:3: metrics.host: must not be empty or blank (is its environment variable empty?);"
        " to listen on every interface on purpose, write 0.0.0.0 (or ::)",
    ],
    # A blank brand was searched for on Reddit as '"   "'; rules name teams exactly, so
    # ' care' was a second team no rule could route to, shown as 'care' on the dashboard.
    "blank_names.yaml": [
        "2:3: brand.name: must not be blank (is its environment variable empty?)",
        "5:5: teams[1].name: must not start or end with white space: rules and the"
        " dashboard name a team exactly",
        "6:5: teams[2].name: must not start or end with white space: rules and the"
        " dashboard name a team exactly",
    ],
    # Notepad's "Unicode" and Excel's "Unicode Text" are UTF-16: "invalid start byte"
    # said nothing of what to do.
    "utf16.yaml": [
        "1:1: not UTF-8 text: the file is UTF-16 (it starts with UTF-16's byte order mark);"
        " save it as UTF-8"
    ],
    # PyYAML's "found character '\\t' that cannot start any token" named no fix.
    "tab_indent.yaml": [
        "4:1: invalid YAML: a tab; YAML indents (and separates values) with spaces, not"
        " tabs: replace it with spaces"
    ],
    # An empty ${VAR} is Path("."), the config's own folder: as rules.path, inchannel.yaml
    # was read as a rule file and check-config printed a screenful of unrelated errors.
    "blank_paths.yaml": [
        "4:3: rules.path: must not be empty or blank (is its environment variable empt"
        "y?): an empty path is the config file's own folder",
        "6:3: answers.path: must not be empty or blank (is its environment variable empt"
        "y?): an empty path is the config file's own folder",
        "10:5: sources[0].path: must not be empty or blank (is its environment variable empt"
        "y?): an empty path is the config file's own folder",
        "14:5: responders.x.path: must not be empty or blank (is its environment variable empt"
        "y?): an empty path is the config file's own folder",
    ],
    # Compared with each post's author, a handle no platform gives ("Acme Help", a
    # profile's URL, an empty ${VAR}) matched nobody: the brand's own posts were taken
    # for customers', cases were opened for them and the bot could answer itself.
    "brand_account_not_a_handle.yaml": [
        "4:19: brand.accounts.x[1]: '@Acme Help' is no X handle (up to 50 letters, digits"
        " and _, written with or without @)",
        "4:33: brand.accounts.x[2]: a URL is no X handle (up to 50 letters, digits and _,"
        " written with or without @)",
        "7:9: brand.accounts.reddit[1]: '' is no Reddit username (3-20 letters, digits, _"
        " and -, written with or without u/)",
    ],
    # Each at its entry: all were reported at the trusted_proxies: key's line, by value.
    "web_trusted_proxy_not_an_address.yaml": [
        "6:7: web.trusted_proxies[1]: '10.0.0.0/33' is no IP address or network (such as"
        " 127.0.0.1 or 10.0.0.0/8)",
        "7:7: web.trusted_proxies[2]: 'proxy.internal' is no IP address or network (such as"
        " 127.0.0.1 or 10.0.0.0/8)",
    ],
    # Limits of the newer sections, each refused at its key.
    "limits_out_of_range.yaml": [
        "3:14: brand.accounts.mastodon: Input should be 'x' or 'reddit'",
        "5:3: database.busy_timeout_ms: Input should be greater than or equal to 0",
        "7:3: processing.batch_size: Input should be greater than or equal to 1",
        "9:3: dispatch.max_attempts: Input should be greater than or equal to 1",
        "11:3: rules.max_replies_per_thread: Input should be greater than or equal to 0",
        "13:3: alerts.x_budget_percent: Input should be less than or equal to 100",
        "14:3: alerts.outbox_backlog: Input should be greater than or equal to 0",
        "16:5: alerts.spike.factor: Input should be greater than or equal to 1",
        "17:5: alerts.spike.min_count: Input should be greater than or equal to 1",
    ],
    "alerts_spike_window_over_baseline.yaml": [
        "4:3: alerts.spike: baseline_hours must cover at least one window_minutes"
    ],
    # Any interval above 0 passed: a typo of 1 s spent Reddit's 100 queries a minute per
    # client id on one source, and the replies on that client id waited for the reset.
    "reddit_interval_too_short.yaml": [
        "6:5: sources[0].interval_seconds: Input should be greater than or equal to 15",
        "9:5: sources[1].interval_seconds: Input should be greater than or equal to 15",
    ],
    # .inf passed as a spike factor or a silence's expected count and switched the alert
    # off without a word (with a zero baseline inf * 0 is NaN, so min_count no longer
    # decided); .nan was refused as out of range ("less than or equal to 1"), which it
    # is not.
    "not_finite.yaml": [
        "4:3: alerts.silence_min_expected: Input should be a finite number",
        "5:3: alerts.silence_hours: Input should be a finite number",
        "7:5: alerts.spike.factor: Input should be a finite number",
        "9:3: scoring.negative_alert: Input should be a finite number",
        "11:3: rules.author_cooldown_minutes: Input should be a finite number",
        "16:5: sources[0].interval_seconds: Input should be a finite number",
        "20:3: reddit.timeout_seconds: Input should be a finite number",
        "23:3: x.timeout_seconds: Input should be a finite number",
    ],
}


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_exact_messages(name: str) -> None:
    path = BAD / name
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert [str(p) for p in caught.value.problems] == [f"{path}:{line}" for line in EXPECTED[name]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_config_prints_problems_and_exits_2(name: str) -> None:
    result = CliRunner().invoke(main, ["check-config", "--config", str(BAD / name)])
    assert result.exit_code == 2
    assert f"{BAD / name}:{EXPECTED[name][0]}" in result.output


def test_shipped_config_is_valid() -> None:
    result = CliRunner().invoke(
        main, ["check-config", "--config", str(REPO / "config/inchannel.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_env_substitution_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("brand:\n  name: ${BRAND}\nrules:\n  path: myrules\n", encoding="utf-8")
    settings = load_settings(path, environ={"BRAND": "Acme {case} $x"})
    assert settings.brand.name == "Acme {case} $x"
    assert settings.resolve(settings.rules.path) == tmp_path / "myrules"
    assert settings.is_demo


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check-config", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml:1:1: cannot read: No such file or directory" in result.output


def test_run_with_bad_config_exits_2_before_touching_the_database(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    db = tmp_path / "never.db"
    path.write_text(f"brand:\n  name: Acme\ndatabase:\n  url: sqlite:///{db}\n  ech: true\n")
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(path)])
    assert result.exit_code == 2
    assert "database.ech: unknown key; did you mean 'echo'?" in result.output
    assert not db.exists()


def test_run_refuses_a_warning_at_or_past_the_deadline(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    corpus = (BAD / "sla_warning_at_deadline.yaml").read_text(encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(f"{corpus}database:\n  url: sqlite:///{db}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(path)])
    assert result.exit_code == 2
    assert "teams[1].sla_warning_minutes: team 'tech' warns 10 business minutes" in result.output
    assert not db.exists()


@pytest.mark.parametrize(
    ("deadline", "written", "warning"),
    [
        (60, None, 15),
        (16, None, 15),  # 15 minutes still come after the escalation
        (15, None, 7),  # half, rounded down
        (10, None, 5),
        (2, None, 1),
        (1, None, 0),  # no minute to warn in: no warning
        (10, 9, 9),  # written, it is kept below the deadline
        (10, 0, 0),
        (60, 15, 15),
    ],
)
def test_the_warning_left_at_its_default_fits_a_short_deadline(
    tmp_path: Path, deadline: int, written: int | None, warning: int
) -> None:
    # The default 15 before a deadline of 15 minutes or less warned as the case was
    # escalated, or with the breach itself; refusing it broke configs that never set it.
    path = tmp_path / "c.yaml"
    team = f"{{name: care, first_response_minutes: {deadline}"
    team += "}" if written is None else f", sla_warning_minutes: {written}}}"
    path.write_text(f"brand: {{name: Acme}}\nteams:\n  - {team}\n", encoding="utf-8")
    (care,) = load_settings(path, environ={}).teams
    assert care.warning_minutes == warning


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCHANNEL_CONFIG", "/etc/inchannel.yaml")
    assert config_path("given.yaml") == Path("given.yaml")
    assert config_path(None) == Path("/etc/inchannel.yaml")
    monkeypatch.delenv("INCHANNEL_CONFIG")
    assert config_path(None) == Path("config/inchannel.yaml")


def test_settings_are_frozen() -> None:
    settings = Settings.model_validate({"brand": {"name": "Acme"}})
    with pytest.raises(ValueError, match="frozen"):
        settings.brand.name = "Other"  # type: ignore[misc]


def test_a_relative_sqlite_path_is_the_config_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command finds the one database, wherever it is run from."""
    folder = tmp_path / "etc"
    folder.mkdir()
    config = folder / "inchannel.yaml"
    config.write_text("brand: {name: Acme}\ndatabase: {url: 'sqlite:///../var/x.db'}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_settings(config, environ={}).database.url == f"sqlite:///{tmp_path}/var/x.db"
    config.write_text("brand: {name: Acme}\n")  # the default too
    assert load_settings(config, environ={}).database.url == f"sqlite:///{folder}/var/inchannel.db"
    for kept in ("sqlite:////abs/x.db", "sqlite://", "sqlite:///:memory:"):
        config.write_text(f"brand: {{name: Acme}}\ndatabase: {{url: '{kept}'}}\n")
        assert load_settings(config, environ={}).database.url == kept


def test_a_database_section_without_url_keeps_the_config_folders_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting only busy_timeout_ms or echo must not move the database to the cwd."""
    folder = tmp_path / "etc"
    folder.mkdir()
    config = folder / "inchannel.yaml"
    config.write_text("brand: {name: Acme}\ndatabase: {busy_timeout_ms: 9000}\n")
    monkeypatch.chdir(tmp_path)
    database = load_settings(config, environ={}).database
    assert database.url == f"sqlite:///{folder}/var/inchannel.db"
    assert database.busy_timeout_ms == 9000


def test_an_empty_database_file_variable_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "inchannel.yaml"
    config.write_text("brand: {name: Acme}\ndatabase: {url: 'sqlite:///${DB_FILE}'}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={"DB_FILE": ""})
    assert [str(p) for p in caught.value.problems] == [
        f"{config}:2:12: database.url: names no file after sqlite:/// (is its environment"
        " variable empty?), and SQLite would keep the database in memory, lost when each"
        " command ends; write sqlite:///PATH; the value holds ${DB_FILE}"
    ]


def test_a_password_from_the_environment_is_url_encoded(tmp_path: Path) -> None:
    config = tmp_path / "inchannel.yaml"
    url = "postgresql://care:${DB_PASSWORD}@db.internal/inchannel"
    config.write_text(f"brand: {{name: Acme}}\ndatabase: {{url: '{url}'}}\n")
    settings = load_settings(config, environ={"DB_PASSWORD": "Tr0ub@dor&3/#:"})
    assert (
        settings.database.url == "postgresql://care:Tr0ub%40dor%263%2F%23%3A@db.internal/inchannel"
    )
    from sqlalchemy.engine import make_url

    parsed = make_url(settings.database.url)
    assert (parsed.password, parsed.host) == ("Tr0ub@dor&3/#:", "db.internal")
    # A whole URL from the environment is the operator's to encode.
    config.write_text("brand: {name: Acme}\ndatabase: {url: '${DATABASE_URL}'}\n")
    whole = "postgresql://care:p%40ss@db/inchannel"
    assert load_settings(config, environ={"DATABASE_URL": whole}).database.url == whole


def _one_rule(folder: Path) -> None:
    (folder / "rules").mkdir()
    (folder / "rules" / "tag.yaml").write_text("name: tag\nmatch: {}\nthen: {tag: [seen]}\n")


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    _one_rule(tmp_path)
    config = tmp_path / "inchannel.yaml"
    # Port 9 on localhost: nothing listens, the connection is refused at once.
    url = "postgresql://care:s3cret-pw@127.0.0.1:9/inchannel?connect_timeout=2"
    config.write_text(f"brand: {{name: Acme}}\ndatabase: {{url: '{url}'}}\n")
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith("error: the database cannot be used: connection failed")
    assert len(result.output.strip().splitlines()) == 1
    assert "s3cret" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_db_copy_refuses_a_target_that_is_no_database_url(tmp_path: Path) -> None:
    _one_rule(tmp_path)
    config = tmp_path / "inchannel.yaml"
    database = f"database: {{url: 'sqlite:///{tmp_path}/a.db'}}\n"
    config.write_text(f"brand: {{name: Acme}}\n{database}")
    for target, message in (
        (
            "postgres://u:pw@h/db",
            "unsupported database 'postgres' (postgresql://, not postgres://)",
        ),
        ("nonsense", "not a database URL"),
        ("sqlite://var/copy.db", "a SQLite URL names a file, not a host"),
        # An @ in the password ended it there: the connection error named the rest of
        # the password as the host (`failed to resolve host 't-pw@127.0.0.1'`).
        (
            "postgresql://u:s3cr@t-pw@127.0.0.1:9/db",
            "the host holds '@': write an @ in the user or password as %40",
        ),
    ):
        result = CliRunner().invoke(main, ["db", "copy", "--config", str(config), "--to", target])
        assert result.exit_code == 2
        assert result.output.startswith(f"error: --to: {message}"), result.output
        assert "pw" not in result.output


def test_db_copy_reads_environment_references_in_the_target(tmp_path: Path) -> None:
    # `--to postgresql://care:secret@...` showed the password in `ps` and the shell's
    # history; `--to` now reads ${NAME} as database.url does (quote it from the shell).
    _one_rule(tmp_path)
    config = tmp_path / "inchannel.yaml"
    config.write_text(f"brand: {{name: Acme}}\ndatabase: {{url: 'sqlite:///{tmp_path}/a.db'}}\n")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(config)]).exit_code == 0
    target = ["db", "copy", "--config", str(config), "--to", "sqlite:///${COPY_DIR}/b.db"]
    folder = tmp_path / "copy @#"
    folder.mkdir()
    result = runner.invoke(main, target, env={"COPY_DIR": str(folder)})
    assert result.exit_code == 0, result.output
    assert (folder / "b.db").is_file()
    unset = runner.invoke(main, [*target[:-1], "postgresql://care:${PG_PW}@db/inchannel"])
    assert (unset.exit_code, unset.output) == (
        2,
        "error: --to: environment variable PG_PW is not set\n",
    )
    malformed = runner.invoke(main, [*target[:-1], "postgresql://care:${PG-PW}@db/inchannel"])
    assert malformed.exit_code == 2
    assert malformed.output.startswith("error: --to: '${' that is not an environment variable")


def test_apprise_never_logs_a_channel_url(caplog: pytest.LogCaptureFixture) -> None:
    """apprise logs the URL it cannot parse; webhook URLs carry their secret."""
    import apprise

    from monitor.logs import redact_apprise_urls

    redact_apprise_urls()
    with caplog.at_level("DEBUG", logger="apprise"):
        assert apprise.Apprise().add("slak://T000/B000/XXXXsecret") is False
    assert caplog.records
    assert "XXXXsecret" not in caplog.text
    assert "<url>" in caplog.text


@pytest.mark.parametrize(
    ("web", "environ", "expected"),
    [
        ("", {}, "http://127.0.0.1:8000"),
        ("web: {port: 8765}", {}, "http://127.0.0.1:8765"),
        ("web: {port: '${PORT}'}", {"PORT": "9090"}, "http://127.0.0.1:9090"),
        # An env file's trailing newline: web.port reads 9090, the links said 8000.
        ("web: {port: '${PORT}'}", {"PORT": "9090\n"}, "http://127.0.0.1:9090"),
        ("web: {port: ' 9090'}", {}, "http://127.0.0.1:9090"),
        ("web: {host: 0.0.0.0, port: 8080}", {}, "http://127.0.0.1:8080"),
        ("web: {host: care.internal}", {}, "http://care.internal:8000"),
        ("web: {host: '::1', port: 8080}", {}, "http://[::1]:8080"),
        (
            "web: {port: 8765, public_url: 'https://care.example.com'}",
            {},
            "https://care.example.com",
        ),
    ],
)
def test_public_url_defaults_to_the_dashboards_own_address(
    tmp_path: Path, web: str, environ: dict[str, str], expected: str
) -> None:
    # It used to be http://127.0.0.1:8000 whatever web.port said: the demo's first-start
    # line and every notification's case link pointed at the wrong port.
    path = tmp_path / "c.yaml"
    path.write_text(f"brand: {{name: Acme}}\n{web}\n", encoding="utf-8")
    assert load_settings(path, environ=environ).web.public_url == expected


def test_a_port_of_non_ascii_digits_is_reported_on_web_port(tmp_path: Path) -> None:
    # "²" passes str.isdigit() but not int(): the public_url default crashed on it and the
    # error named the whole web: section with int()'s words.
    path = tmp_path / "c.yaml"
    path.write_text("brand: {name: Acme}\nweb: {port: '²'}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2:7: web.port: Input should be a valid integer, unable to parse string as an "
        "integer"
    ]


def test_a_secret_from_the_environment_is_never_echoed(tmp_path: Path) -> None:
    # x: written where its bearer_token was meant: the value is a token, not a section.
    path = tmp_path / "c.yaml"
    path.write_text("brand: {name: Acme}\nx: ${X_BEARER_TOKEN}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={"X_BEARER_TOKEN": "AAAAtokenvalue"})
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2:1: x: expected a mapping (key: value), not text (not shown, it may hold"
        " a secret); the value came from ${X_BEARER_TOKEN}"
    ]


def test_a_bad_value_from_the_environment_names_its_variable(tmp_path: Path) -> None:
    # "web.port: Input should be a valid integer" sent the operator to a file that says
    # ${PORT}: the error names the variable, never its value (it may be a secret).
    path = tmp_path / "c.yaml"
    path.write_text(
        "brand: {name: Acme}\n"
        "web: {port: '${PORT}', public_url: 'https://${HOST}:${HTTPS_PORT}'}\n",
        encoding="utf-8",
    )
    environ = {"PORT": "abc-secret", "HOST": "care.acme.com", "HTTPS_PORT": "x-secret"}
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2:7: web.port: Input should be a valid integer, unable to parse string as an"
        " integer; the value came from ${PORT}",
        f"{path}:2:24: web.public_url: must be an http:// or https:// URL with a host, such as"
        " https://care.acme.com; the value holds ${HOST}, ${HTTPS_PORT}",
    ]
    assert "secret" not in "".join(str(p) for p in caught.value.problems)


def test_values_from_the_environment_are_not_echoed_by_any_check(tmp_path: Path) -> None:
    # The checks of a time zone, a language, a holiday and a subreddit name repeated the
    # value, so a secret put in the wrong ${VAR} went to check-config's output (a CI log,
    # the journal); the same words written in the file are still shown.
    path = tmp_path / "c.yaml"
    path.write_text(
        "brand: {name: Acme}\n"
        "teams:\n"
        "  - {name: care, timezone: '${ZONE}', holidays: ['${HOLIDAY}']}\n"
        "  - {name: sales, timezone: Mars/Olympus}\n"
        "scoring: {languages: [en, '${LANGUAGE}']}\n"
        "sources:\n"
        "  - name: subs\n"
        "    type: reddit_subreddit\n"
        "    subreddits: [acme, '${SUBREDDIT}']\n"
        "    keywords: ['${KEYWORD}']\n"
        "reddit: {client_id: abc, refresh_token: tok, user_agent: {by: acme_bot}}\n",
        encoding="utf-8",
    )
    secret = "SECRETtoken-0123456789abcdefghijklmnopqrstuvwxyz"
    names = ("ZONE", "HOLIDAY", "LANGUAGE", "SUBREDDIT")
    environ = dict.fromkeys(names, secret) | {"KEYWORD": secret * 3}
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    hidden = "text (not shown, it may hold a secret)"
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3:18: teams[0].timezone: unknown time zone {hidden}; use an IANA name such"
        " as Europe/Berlin; the value came from ${ZONE}",
        f"{path}:3:50: teams[0].holidays[0]: expected a date written YYYY-MM-DD (2026-12-25),"
        f" not {hidden}; the value came from ${{HOLIDAY}}",
        f"{path}:4:19: teams[1].timezone: unknown time zone 'Mars/Olympus'; use an IANA name"
        " such as Europe/Berlin",
        f"{path}:5:27: scoring.languages[1]: unknown language {hidden}; expected a lower-case"
        " code py3langid detects (ISO 639-1 where there is one: en, de, ja, ...); the value"
        " came from ${LANGUAGE}",
        f"{path}:9:5: sources[0].subreddits: not a subreddit name: {hidden}",
        f"{path}:10:5: sources[0].keywords: keyword longer than 100 characters: {hidden}...",
    ]
    assert "SECRET" not in "".join(str(p) for p in caught.value.problems)


@pytest.mark.parametrize("written", ["info", "Warning", " DEBUG "])
def test_a_log_level_may_be_written_in_any_case(tmp_path: Path, written: str) -> None:
    # Python's own logging config and most daemons take `info`; it was refused.
    path = tmp_path / "c.yaml"
    path.write_text(f"brand: {{name: Acme}}\nlogging: {{level: '{written}'}}\n", encoding="utf-8")
    assert load_settings(path, environ={}).logging.level == written.strip().upper()


def test_an_unknown_log_level_names_the_levels(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("brand: {name: Acme}\nlogging: {level: verbose}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    (problem,) = caught.value.problems
    assert str(problem).endswith(
        "logging.level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"
    )


HIDDEN = (
    "unknown channel (not shown: it looks like a URL, which may hold a secret; give it a"
    " name under channels: and list the name here) (channels: ops); the value came from"
    " ${WEBHOOK}"
)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('alerts:\n  channels: ["${WEBHOOK}"]\n', f"5:14: alerts.channels[0]: {HIDDEN}"),
        (
            'teams:\n  - {name: care, channels: ["${WEBHOOK}"]}\n',
            f"5:29: teams[0].channels[0]: team 'care': {HIDDEN}",
        ),
        (
            'x:\n  user_id: "1"\n  bearer_token: abc\n  budget: {notify: ["${WEBHOOK}"]}\n',
            f"7:21: x.budget.notify[0]: {HIDDEN}",
        ),
    ],
)
def test_a_webhook_url_given_as_a_channel_name_is_not_printed(
    tmp_path: Path, section: str, expected: str
) -> None:
    # `channels: ["${OPS_WEBHOOK}"]` (the URL where its name goes) printed the webhook's
    # secret in check-config's output, a CI log: "unknown channel 'slack://T0/B0/...'".
    path = tmp_path / "c.yaml"
    head = 'brand: {name: Acme}\nchannels:\n  ops: {url: "json://127.0.0.1:9/ops"}\n'
    path.write_text(head + section, encoding="utf-8")
    environ = {"WEBHOOK": "https://hooks.example.com/services/T0/B0/SECRET?token=QSECRET"}
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    problems = [str(p) for p in caught.value.problems]
    assert problems == [f"{path}:{expected}"]
    assert "SECRET" not in problems[0]


@pytest.mark.parametrize("reference", ["${DB-PASSWORD}", "${DB_PASSWORD", "${ DB_PASSWORD }"])
def test_a_malformed_environment_reference_is_a_config_error(
    tmp_path: Path, reference: str
) -> None:
    """A reference with a typo in its syntax was kept as literal text: the worker started
    with the password `${DB-PASSWORD}`, failed to connect (exit 1) and was restarted for
    ever, and a webhook URL or an X token failed only at the first post. The docs promise
    that a typo fails at start."""
    config = tmp_path / "inchannel.yaml"
    url = f"postgresql://care:{reference}@db.internal/inchannel"
    config.write_text(f"brand: {{name: Acme}}\ndatabase: {{url: '{url}'}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={"DB_PASSWORD": "secret", "DB": "secret"})
    assert [str(p) for p in caught.value.problems] == [
        f"{config}:2:12: database.url: '${{' that is not an environment variable reference:"
        " write ${NAME}, NAME of letters, digits and _ (or $${ for a literal ${)"
    ]


def test_a_missing_default_config_says_how_to_name_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first command run outside the checkout (no --config, no $INCHANNEL_CONFIG)
    named a file the operator never gave, and not where the default comes from."""
    monkeypatch.delenv("INCHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    for command in (["check-config"], ["status"], ["cases", "list"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        assert result.output == (
            "config/inchannel.yaml:1:1: cannot read: No such file or directory (the default "
            "config file, in the current directory: give --config FILE or set "
            "INCHANNEL_CONFIG)\n1 error(s) in the configuration\n"
        )


def test_a_missing_config_from_the_environment_says_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCHANNEL_CONFIG", str(tmp_path / "gone.yaml"))
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2
    assert result.output.startswith(
        f"{tmp_path / 'gone.yaml'}:1:1: cannot read: No such file or directory "
        "(from INCHANNEL_CONFIG)\n"
    )


def test_a_doubled_dollar_writes_a_literal_reference(tmp_path: Path) -> None:
    """A value that must hold ``${`` itself (a password, a brand name) could not be
    written: every ``${`` was a reference, unset or malformed. ``$${`` is a literal
    ``${``, as in docker compose, and what it gives is not read again."""
    config = tmp_path / "inchannel.yaml"
    config.write_text(
        "brand: {name: 'Acme $${BRAND} ${BRAND}'}\n"
        "database: {url: 'postgresql://care:pa$${ss@db.internal/inchannel'}\n"
        "web: {metrics_token: 'x$${TOKEN-0123456789'}\n",
        encoding="utf-8",
    )
    settings = load_settings(config, environ={"BRAND": "${TOKEN}"})
    assert settings.brand.name == "Acme ${BRAND} ${TOKEN}"
    assert settings.database.url == "postgresql://care:pa${ss@db.internal/inchannel"
    assert settings.web.metrics_token is not None
    assert settings.web.metrics_token.get_secret_value() == "x${TOKEN-0123456789"
    # An unset or malformed reference beside an escaped one is still an error.
    config.write_text("brand: {name: '$${A} ${UNSET} ${BAD-NAME}'}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert [p.message for p in caught.value.problems] == [
        "environment variable UNSET is not set",
        "'${' that is not an environment variable reference: write ${NAME}, NAME of letters,"
        " digits and _ (or $${ for a literal ${)",
    ]


def test_db_copy_target_takes_a_doubled_dollar_as_a_literal() -> None:
    url, problems = substitute_env_in_url("postgresql://u:p$${x@h/db", environ={})
    assert (url, problems) == ("postgresql://u:p${x@h/db", [])


@pytest.mark.parametrize("port", ["0", "65536"])
def test_a_database_port_outside_1_to_65535_is_refused(port: str) -> None:
    with pytest.raises(ValidationError, match="the port must be 1-65535"):
        Database(url=f"postgresql://care:secret@db.internal:{port}/inchannel")
    assert Database(url="postgresql://care:secret@db.internal:65535/inchannel")
