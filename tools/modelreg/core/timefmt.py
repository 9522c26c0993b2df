"""Times, written and read one way.

Out: RFC 3339 in UTC with a ``Z`` and whole seconds (``2026-11-30T12:00:00Z``), the form
tags, records, reports and the policy input's ``now`` use. In: what a user types for "as of"
(``--at``, ``state(at=...)``): a date, meaning the end of that day in UTC, or an RFC 3339
time, taken exactly.
"""
from __future__ import annotations

import datetime as dt

from modelreg.core.errors import UsageError

#: What "as of" accepts: unix seconds, a ``datetime`` or ``date``, or their text forms.
When = int | float | str | dt.datetime | dt.date

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _utc(moment: dt.datetime) -> dt.datetime:
    """A naive datetime is taken as UTC (a registry has no local time zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def rfc3339(moment: int | float | dt.datetime | None = None) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of unix seconds or a datetime; the current time for None."""
    if moment is None:
        moment = dt.datetime.now(dt.UTC)
    elif not isinstance(moment, dt.datetime):
        moment = dt.datetime.fromtimestamp(moment, dt.UTC)
    return _utc(moment).strftime(_FORMAT)


def day(moment: int | float | dt.datetime) -> str:
    """``YYYY-MM-DD`` (UTC) of unix seconds or a datetime."""
    return rfc3339(moment)[:10]


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 (or ISO 8601) time; without a zone it is UTC. Raises :class:`UsageError`."""
    try:
        return _utc(dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except (ValueError, AttributeError):
        raise UsageError(f"invalid time {text!r}",
                         hint="use RFC 3339, e.g. 2026-11-27T12:00:00Z") from None


def unix(text: str) -> int:
    """Unix seconds of an RFC 3339 time."""
    return int(parse_time(text).timestamp())


def parse_when(value: When) -> int:
    """Unix seconds for "as of": a date (``2026-05-01`` or a ``date``) means the end of that
    day in UTC, so "at 2026-05-01" includes everything that happened on the first of May;
    times and unix seconds are exact. Raises :class:`UsageError` for anything else."""
    if isinstance(value, bool):
        raise UsageError(f"invalid date {value!r}", hint="use YYYY-MM-DD or an RFC 3339 time")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, dt.datetime):
        return int(_utc(value).timestamp())
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, 23, 59, 59,
                               tzinfo=dt.UTC).timestamp())
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return parse_when(dt.date.fromisoformat(text))
            return unix(text)
        except (ValueError, UsageError):
            pass
    raise UsageError(f"invalid date {value!r}", hint="use YYYY-MM-DD or an RFC 3339 time")


def stamp(now: dt.datetime | str | None = None) -> str:
    """The ``now`` of a run as RFC 3339: the current time for None; a given text is checked
    and kept as written (so a report says exactly the time it was asked for)."""
    if isinstance(now, str):
        parse_time(now)
        return now
    return rfc3339(now)


def days_between(start: str, end: str) -> int:
    """Whole days from the date ``start`` to the date ``end`` (YYYY-MM-DD, or an RFC 3339
    time whose date counts). Raises ValueError for anything else."""
    return (dt.date.fromisoformat(end[:10]) - dt.date.fromisoformat(start[:10])).days


def add_days(date: str, n: int) -> str:
    """The date ``n`` days after ``date`` (YYYY-MM-DD). Raises ValueError for anything else."""
    return (dt.date.fromisoformat(date[:10]) + dt.timedelta(days=n)).isoformat()


__all__ = ["When", "rfc3339", "day", "parse_time", "unix", "parse_when", "stamp",
           "days_between", "add_days"]
