"""When and how long to wait before trying a failed request again."""

from __future__ import annotations

import email.utils
import random
import time

import httpx

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter, so many clients do not retry in lockstep."""
    return random.uniform(0, min(cap, base * 2**attempt))
