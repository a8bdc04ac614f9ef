"""What the Keys tab says about rotation and expiry, derived from the listed keys (no Qt).

A key is "in grace" while another key names it in `rotated_from` and it still works (not
revoked, not yet expired): both keys authenticate and the old one should be retired once
nothing uses it. A key "expires soon" when it works and ends within EXPIRING_WINDOW.
"""

from __future__ import annotations

from collections.abc import Iterable

from console.api.keys import ApiKey, KeyUse

EXPIRING_WINDOW = 7 * 24 * 3600


def successor_of(key: ApiKey, keys: Iterable[ApiKey]) -> ApiKey | None:
    """The newest key rotated from `key`, if any."""
    successors = [other for other in keys if other.rotated_from == key.id]
    return max(successors, key=lambda other: other.created_at, default=None)


def is_live(key: ApiKey, now: float) -> bool:
    """Whether the key still authenticates."""
    if key.is_revoked or key.status == "expired":
        return False
    return key.expires_at is None or key.expires_at > now


def grace_successor(key: ApiKey, keys: Iterable[ApiKey], now: float) -> ApiKey | None:
    """The key that replaced `key` while `key` is in its grace period, else None."""
    if not is_live(key, now) or key.expires_at is None:
        return None
    return successor_of(key, keys)


def expires_soon(key: ApiKey, now: float) -> bool:
    """A working key that ends within 7 days (the server's `expiring`, or by its date)."""
    if not is_live(key, now):
        return False
    if key.status == "expiring":
        return True
    return key.expires_at is not None and key.expires_at - now <= EXPIRING_WINDOW


def renewal_expiry(key: ApiKey, now: float) -> float | None:
    """The renewed key's expiry: the old key's lifetime counted from now (None: never)."""
    if key.expires_at is None:
        return None
    return round(now + max(0.0, key.expires_at - key.created_at), 3)


def minutes_text(seconds: float) -> str:
    """ "43 min", "2 h 5 min", "3 days": a short span for the grace left or a use's age."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def grace_text(key: ApiKey, now: float) -> str:
    """ "in grace, 43 min left" (the key's row and the panel)."""
    left = (key.expires_at or now) - now
    return f"in grace, {minutes_text(left)} left"


def usage_verdict(use: KeyUse | None, rotated_at: float, now: float) -> tuple[bool, str]:
    """(still used?, what to say) for an old key rotated at `rotated_at`."""
    if use is None or use.at < rotated_at:
        return False, "No use since rotation — safe to revoke"
    ago = "just now" if now - use.at < 60 else f"{minutes_text(now - use.at)} ago"
    if use.from_logs and use.client_ip:
        return True, f"Still used {ago} by {use.client_ip}"
    return True, f"Still used {ago}"
