"""How often a schedule runs, in runs per day: a cron entry's five fields, a systemd timer's
``OnCalendar=`` and its ``OnUnitActiveSec=``-style spans.

Pure reading of text (`schedule` finds the entries): what ``doctor --all`` needs to tell
whether ``certbot renew`` runs at least twice a day for a short-lived certificate. Each
reader returns None for text it cannot read, which the caller reports as not judged, never
as a guess.
"""

from __future__ import annotations

import re

#: days per month, for a day-of-month restriction (a yearly average is close enough here)
MONTH_DAYS = 365.25 / 12

_MONTHS = {name: i for i, name in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_WEEKDAYS = {name: i for i, name in enumerate("sun mon tue wed thu fri sat".split())}
_CRON_NICKNAMES = {"@yearly": 1 / 365.25, "@annually": 1 / 365.25, "@monthly": 1 / MONTH_DAYS,
                   "@weekly": 1 / 7, "@daily": 1.0, "@midnight": 1.0, "@hourly": 24.0,
                   "@reboot": 0.0}
_CALENDAR_NICKNAMES = {"minutely": 1440.0, "hourly": 24.0, "daily": 1.0, "weekly": 1 / 7,
                       "monthly": 1 / MONTH_DAYS, "quarterly": 4 / 365.25,
                       "semiannually": 2 / 365.25, "yearly": 1 / 365.25,
                       "annually": 1 / 365.25}
_SPAN_UNITS = {"us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1,
               "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60,
               "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
               "days": 86400, "w": 604800, "week": 604800, "weeks": 604800,
               "M": 86400 * MONTH_DAYS, "month": 86400 * MONTH_DAYS,
               "months": 86400 * MONTH_DAYS, "y": 86400 * 365.25, "year": 86400 * 365.25,
               "years": 86400 * 365.25}


def _number(text: str, names: dict[str, int]) -> int:
    return names[text] if text in names else int(text)


def _cron_field(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The values a cron field selects (``*``, ``a-b``, ``*/n``, ``a-b/n``, ``a/n``, lists,
    month and weekday names); ValueError for anything else."""
    values: set[int] = set()
    for part in field.lower().split(","):
        body, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if body == "*":
            first, last = low, high
        elif "-" in body:
            start, end = body.split("-", 1)
            first, last = _number(start, names), _number(end, names)
        else:
            first = _number(body, names)
            last = high if slash else first
        if step < 1 or not low <= first <= last <= high:
            raise ValueError(part)
        values.update(range(first, last + 1, step))
    return values


def _day_share(days_of_month: int | None, weekdays: int | None, months: int) -> float:
    """The share of days a schedule runs on (None: that field is ``*``). With both day
    fields restricted cron runs on either, as Vixie cron and cronie do."""
    share = 1.0
    if days_of_month is not None and weekdays is not None:
        share = min(1.0, days_of_month / MONTH_DAYS + weekdays / 7)
    elif days_of_month is not None:
        share = days_of_month / MONTH_DAYS
    elif weekdays is not None:
        share = weekdays / 7
    return share * months / 12


def cron_runs_per_day(schedule: str) -> float | None:
    """A crontab schedule (five fields, or ``@daily`` and its kin) as runs per day."""
    fields = schedule.split()
    if len(fields) == 1 and fields[0].startswith("@"):
        return _CRON_NICKNAMES.get(fields[0].lower())
    if len(fields) != 5:
        return None
    minute, hour, dom, month, dow = fields
    try:
        minutes = _cron_field(minute, 0, 59, {})
        hours = _cron_field(hour, 0, 23, {})
        days = None if dom == "*" else len(_cron_field(dom, 1, 31, {}))
        months = _cron_field(month, 1, 12, _MONTHS)
        weekdays = None if dow == "*" else len(
            {d % 7 for d in _cron_field(dow, 0, 7, _WEEKDAYS)})
    except (ValueError, KeyError):
        return None
    return len(minutes) * len(hours) * _day_share(days, weekdays, len(months))


def _calendar_part(part: str, low: int, high: int) -> set[int]:
    """One component of an OnCalendar date or time: ``*``, ``a``, ``a..b``, ``a/n``,
    ``*/n``, lists; ValueError for anything else (``~`` and the like)."""
    values: set[int] = set()
    for item in part.split(","):
        body, slash, step_text = item.partition("/")
        step = int(float(step_text)) if slash else 1
        if body == "*":
            first, last = low, high
        elif ".." in body:
            start, end = body.split("..", 1)
            first, last = int(start), int(end)
        else:
            first = int(float(body))  # seconds may carry a fraction: 00:00:00.5
            last = high if slash else first
        if step < 1 or not low <= first <= last <= high:
            raise ValueError(item)
        values.update(range(first, last + 1, step))
    return values


def _weekdays(token: str) -> int:
    days: set[int] = set()
    for item in token.lower().split(","):
        start, _, end = item.partition("..")
        first, last = _WEEKDAYS[start[:3]], _WEEKDAYS[(end or start)[:3]]
        days.update(range(first, last + 1) if first <= last else
                    [*range(first, 7), *range(0, last + 1)])
    return len(days)


def calendar_runs_per_day(spec: str) -> float | None:
    """A systemd ``OnCalendar=`` value (``daily``, ``*-*-* 00,12:00:00``, ``Mon *-*-* 4:00``,
    a time zone at the end) as runs per day."""
    text = spec.strip()
    if text.lower() in _CALENDAR_NICKNAMES:
        return _CALENDAR_NICKNAMES[text.lower()]
    weekdays, date, time = None, "*-*-*", "00:00:00"
    try:
        for token in text.split():
            if ":" in token:
                time = token
            elif re.fullmatch(r"[\d*,./~-]+", token) and "-" in token:
                date = token
            elif re.fullmatch(r"[A-Za-z]+(\.\.[A-Za-z]+)?(,[A-Za-z]+(\.\.[A-Za-z]+)?)*", token) \
                    and token[:3].lower() in _WEEKDAYS:
                weekdays = _weekdays(token)
            # anything else is a time zone (UTC, Europe/Berlin): it moves runs, not their count
        parts = date.split("-")
        year, month, day = (["*", *parts] if len(parts) == 2 else parts)
        if year != "*" and "/" not in year and ".." not in year and "," not in year:
            return 0.0  # one given year: no repeating schedule
        months = len(_calendar_part(month, 1, 12))
        days = None if day == "*" else len(_calendar_part(day, 1, 31))
        clock = time.split(":")
        if len(clock) == 2:
            clock.append("00")
        if len(clock) != 3:
            return None
        hours, minutes, seconds = (_calendar_part(clock[0], 0, 23),
                                   _calendar_part(clock[1], 0, 59),
                                   _calendar_part(clock[2], 0, 59))
    except (ValueError, KeyError):
        return None
    return len(hours) * len(minutes) * len(seconds) * _day_share(days, weekdays, months)


def span_seconds(text: str) -> float | None:
    """A systemd time span (``12h``, ``1d 6h``, ``30min``, a bare number of seconds)."""
    total, rest = 0.0, text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", rest):
        return float(rest)
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)", rest):
        if unit not in _SPAN_UNITS and unit.lower() not in _SPAN_UNITS:
            return None
        total += float(number) * _SPAN_UNITS.get(unit, _SPAN_UNITS.get(unit.lower(), 0))
    consumed = re.sub(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)", "", rest).strip()
    return total if total > 0 and not consumed else None


def interval_runs_per_day(span: str) -> float | None:
    """``OnUnitActiveSec=`` / ``OnUnitInactiveSec=``: runs again every span."""
    seconds = span_seconds(span)
    return None if not seconds else 86400 / seconds
