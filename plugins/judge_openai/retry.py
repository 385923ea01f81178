"""When and how long to wait before trying a failed request again."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date), if any."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter, so many clients do not retry in lockstep."""
    return random.uniform(0, min(cap, base * 2**attempt))
