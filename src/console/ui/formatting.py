"""How the UI writes times and durations."""

from __future__ import annotations

import time
from datetime import datetime


def format_timestamp(value: float | None, *, empty: str = "—") -> str:
    """Local date and time to the minute, or `empty` for a missing value."""
    if value is None:
        return empty
    return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")


def format_time_ms(value: float | None, *, empty: str = "—") -> str:
    """Local date and time to the millisecond (log entries are close together)."""
    if value is None:
        return empty
    moment = datetime.fromtimestamp(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def format_relative(value: float | None, now: float | None = None, *, empty: str = "—") -> str:
    """ "in 3 days", "5 min ago": for tooltips and expiry hints."""
    if value is None:
        return empty
    delta = value - (time.time() if now is None else now)
    span = abs(delta)
    for unit, seconds in (("day", 86400), ("h", 3600), ("min", 60)):
        if span >= seconds:
            count = int(span // seconds)
            label = f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
            break
    else:
        label = "moments"
        return "in moments" if delta > 0 else "moments ago"
    return f"in {label}" if delta > 0 else f"{label} ago"


def format_duration(seconds: float) -> str:
    """A short countdown such as 4:59 or 1:02:03."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
