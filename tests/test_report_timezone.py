"""Reports count days in web.report_timezone, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest

from monitor.pipeline import run_cycle
from monitor.runtime import Runtime
from monitor.settings import ConfigError, load_settings
from monitor.web.reports import build_report, every_day_volume, window_days
from monitor.web.users import create_user
from tests.conftest import RuntimeFactory, mention
from tests.webkit import PASSWORD, api_client, client_for

# The FakeClock stands at 2026-11-20 09:00 UTC: 30 days back is 2026-10-21 09:00 UTC.
# New York fell back from EDT (-4) to EST (-5) at 06:00 UTC on 2026-11-01.


def _runtime(make_runtime: RuntimeFactory, zone: str, *created: str) -> Runtime:
    rows = [mention(i, created_at=at) for i, at in enumerate(created, start=1)]
    rt = make_runtime(rows, web={"report_timezone": zone})
    run_cycle(rt)
    return rt


def _per_day(rt: Runtime, days: int = 30) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for day, _, _, n in build_report(rt, days).volume:
        counts[day] += n
    return dict(counts)


def test_a_late_evening_in_new_york_is_counted_on_new_yorks_day(
    make_runtime: RuntimeFactory,
) -> None:
    # 03:30 UTC on the 19th is 22:30 on the 18th in New York: the team's Monday evening
    # was counted under Tuesday, and its "today" column began at 7 pm.
    rt = _runtime(make_runtime, "America/New_York", "2026-11-19T03:30:00Z", "2026-11-18T23:30:00Z")
    assert _per_day(rt) == {"2026-11-18": 2}


def test_a_late_evening_utc_is_the_next_morning_in_sydney(make_runtime: RuntimeFactory) -> None:
    # 23:30 UTC on the 18th is 10:30 on the 19th in Sydney (AEDT, +11).
    rt = _runtime(make_runtime, "Australia/Sydney", "2026-11-18T23:30:00Z", "2026-11-18T12:30:00Z")
    assert _per_day(rt) == {"2026-11-18": 1, "2026-11-19": 1}


def test_the_25_hour_day_new_york_falls_back_on_is_one_day(make_runtime: RuntimeFactory) -> None:
    # 00:30 EDT and 23:30 EST on 1 November, 25 hours apart: one offset for the whole
    # window put one of them on another day.
    rt = _runtime(make_runtime, "America/New_York", "2026-11-01T04:30:00Z", "2026-11-02T04:30:00Z")
    assert _per_day(rt) == {"2026-11-01": 2}
    days = window_days(build_report(rt, 30))
    # 2026-10-21 05:00 EDT to 2026-11-20 04:00 EST: every local day once.
    assert (days[0], days[-1]) == ("2026-10-21", "2026-11-20")
    assert len(days) == len(set(days)) == 31


def test_the_23_hour_day_new_york_springs_forward_on_is_one_day(
    make_runtime: RuntimeFactory,
) -> None:
    # 2027-03-14: 00:30 EST (05:30 UTC) and 23:30 EDT (03:30 UTC the next day), 22
    # hours apart on a 23-hour day.
    rows = [
        mention(1, created_at="2027-03-14T05:30:00Z"),
        mention(2, created_at="2027-03-15T03:30:00Z"),
        mention(3, created_at="2027-03-15T04:30:00Z"),  # 00:30 EDT on the 15th
    ]
    rt = make_runtime(rows, web={"report_timezone": "America/New_York"})
    rt.clock.advance(days=120)  # type: ignore[attr-defined]  # 2027-03-20 09:00 UTC
    run_cycle(rt)
    assert _per_day(rt, 10) == {"2027-03-14": 2, "2027-03-15": 1}


def test_the_page_the_csv_and_the_api_count_and_name_the_zones_days(
    make_runtime: RuntimeFactory,
) -> None:
    rt = _runtime(make_runtime, "America/New_York", "2026-11-19T03:30:00Z")
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, _ = client_for(rt, "lena")
    page = client.get("/reports?days=7").text
    assert "Inbound messages per America/New_York day by sentiment" in page
    assert "one column per day in America/New_York (00:00–24:00 there)" in page
    rows = list(
        csv.reader(io.StringIO(client.get("/reports.csv?days=7").content.decode("utf-8-sig")))
    )
    assert ["window", "", "timezone", "America/New_York"] in rows
    volume = [r for r in rows if r[0] == "volume" and r[3] != "0"]
    assert volume == [["volume", "2026-11-18 x", "negative", "1"]]
    # Since 2026-11-13 04:00 EST to 2026-11-20 04:00 EST.
    days = sorted({r[1].split()[0] for r in rows if r[0] == "volume"})
    assert days == [f"2026-11-{d}" for d in range(13, 21)]
    answer = api_client(rt, "lena").get("/api/reports", params={"days": 7}).json()
    assert answer["timezone"] == "America/New_York"
    assert [r for r in answer["volume"] if r[3]] == [["2026-11-18", "x", "negative", 1]]
    report = build_report(rt, 7)
    assert sum(n for *_, n in every_day_volume(report)) == 1


def test_utc_stays_the_default(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, created_at="2026-11-19T03:30:00Z")])
    run_cycle(rt)
    assert rt.settings.web.report_timezone == "UTC"
    assert _per_day(rt) == {"2026-11-19": 1}


def test_an_unknown_report_timezone_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "inchannel.yaml"
    path.write_text("brand: {name: Acme}\nweb:\n  report_timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3:3: web.report_timezone: unknown time zone 'Mars/Olympus'; use an IANA"
        " name such as Europe/Berlin"
    ]
