"""A sliding-window rate limit shared by everything that posts with one bot. [IO: the clock]

Telegram allows a bot about 30 messages a second over all its chats (and
about 20 a minute to one group or channel, which the delivery loop's per-chat
``pace`` keeps). A token bucket would allow a burst of 30 and then 30 more a
second later, which Telegram's trailing one-second window counts as 60; this
limiter lets at most ``limit`` sends start within any ``window`` seconds, and
the default window carries a margin for requests that arrive later than they
left.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

__all__ = ["TELEGRAM_PER_SECOND", "RateLimiter"]

TELEGRAM_PER_SECOND = 30


class RateLimiter:
    """At most ``limit`` acquisitions in any ``window`` seconds, first come first served."""

    def __init__(
        self,
        limit: int = TELEGRAM_PER_SECOND,
        window: float = 1.1,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be at least 1 and window longer than zero")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"RateLimiter({self.limit} per {self.window:g}s)"

    async def acquire(self) -> None:
        """Wait until one more send may start, and count it."""
        async with self._lock:  # waiters are served in order
            while True:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                await asyncio.sleep(self.window - (now - self._starts[0]))
