"""One way to write and read times: RFC 3339 UTC out; dates and RFC 3339 times in."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from conftest import PROJECT
from modelreg.core import timefmt
from modelreg.core.errors import UsageError

MAY_1 = 1777593600          # 2026-05-01T00:00:00Z


def test_rfc3339_of_unix_seconds_and_datetimes():
    assert timefmt.rfc3339(MAY_1) == "2026-05-01T00:00:00Z"
    assert timefmt.rfc3339(dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.timezone(
        dt.timedelta(hours=2)))) == "2026-05-01T00:00:00Z"
    assert timefmt.rfc3339(dt.datetime(2026, 5, 1)) == "2026-05-01T00:00:00Z"   # naive = UTC
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", timefmt.rfc3339())
    assert timefmt.day(MAY_1 + 3600) == "2026-05-01"


@pytest.mark.parametrize("value, expected", [
    ("2026-05-01", MAY_1 + 86399), (dt.date(2026, 5, 1), MAY_1 + 86399),
    ("2026-05-01T00:00:00Z", MAY_1), ("2026-05-01T02:00:00+02:00", MAY_1),
    ("2026-05-01T00:00:00", MAY_1), (MAY_1, MAY_1),
    (dt.datetime(2026, 5, 1, tzinfo=dt.UTC), MAY_1),
])
def test_parse_when(value, expected):
    assert timefmt.parse_when(value) == expected


@pytest.mark.parametrize("value", ["", "yesterday", "01/05/2026", "2026-13-01", True, None])
def test_parse_when_refuses(value):
    with pytest.raises(UsageError, match="invalid date"):
        timefmt.parse_when(value)


def test_stamp_keeps_a_given_time_and_checks_it():
    assert timefmt.stamp("2026-11-27T12:00:00Z") == "2026-11-27T12:00:00Z"
    assert timefmt.stamp(dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)) == "2026-11-27T12:00:00Z"
    with pytest.raises(UsageError, match="invalid time"):
        timefmt.stamp("noon")


def test_times_are_formatted_and_parsed_in_one_place():
    home = PROJECT / "tools/modelreg/core/timefmt.py"
    pattern = re.compile(r"strftime|strptime|fromisoformat|fromtimestamp|%Y-%m-%d")
    elsewhere = [f"{p.relative_to(PROJECT)}:{n}"
                 for p in sorted((PROJECT / "tools/modelreg").rglob("*.py")) if p != home
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert elsewhere == [], "use modelreg.core.timefmt"
